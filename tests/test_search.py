"""Search: recall and precision of name substrings, codes, traditional/full-width forms,
following the database through the change stream."""

from __future__ import annotations

import os
import random
import unicodedata

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from registry import rules, text
from registry.demo import load_demo
from registry.models import Enterprise, Listing
from registry.rules import Actor
from registry.search import SearchFilters, SearchIndex

HOSTILE = [
    '"',
    "'\"",
    "((",
    ")",
    "[a-z]*",
    "*",
    "?",
    "AND",
    "OR NOT",
    "name:x",
    "公司 AND",
    "\x00",
    "科技\x00有限",
    "a" * 10_000,
    "有" * 10_000,
    "\ud800",
    "%",
    "\\",
    "<script>alert(1)</script>",
    "~1^2",
    "  ",
    "",
]


@pytest.fixture(scope="module")
def corpus(engine, tmp_path_factory):
    """About 200 realistic firms loaded once through the services (demo loader) in a
    transaction rolled back after the module, and an index built from them."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        authority = Actor(None, "test", "system", _ministry_id(session), True)
        load_demo(session, authority, firms=200)
        session.flush()
        index = SearchIndex(tmp_path_factory.mktemp("corpus") / "index")
        index.catch_up(session)
        yield session, index
        session.close()
        outer.rollback()


@pytest.fixture
def firms(corpus):
    return corpus[0]


@pytest.fixture
def built(corpus):
    return corpus[1]


def _ministry_id(session) -> int:
    from registry.services.reference import authority_by_code

    return authority_by_code(session, "MIIT").id


def _in_force_names(session) -> dict[int, list[str]]:
    today = rules.today()
    result: dict[int, list[str]] = {}
    for firm in session.scalars(
        select(Enterprise).options(selectinload(Enterprise.former_names))
    ).all():
        listings = session.scalars(select(Listing).where(Listing.enterprise_id == firm.id)).all()
        if any(rules.in_force(li, today) for li in listings):
            result[firm.id] = [text.normalize(firm.name)] + [
                text.normalize(f.name) for f in firm.former_names
            ]
    return result


def _ids(index: SearchIndex, query: str, **filters) -> set[int]:
    found: set[int] = set()
    page = 1
    while True:
        result = index.search(query, SearchFilters(**filters), page=page, per_page=100)
        found |= {hit.enterprise_id for hit in result.hits}
        if page >= result.pages:
            return found
        page += 1


def _fullwidth(value: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in value)


def test_every_name_substring_finds_exactly_the_firms_containing_it(firms, built):
    """Recall and precision 100 % for sampled 2-, 3- and 4-character substrings."""
    index = built
    names = _in_force_names(firms)
    assert len(names) > 100
    rng = random.Random(4)
    queries: set[str] = set()
    for firm_names in names.values():
        name = firm_names[0]
        for length in (2, 3, 4):
            if len(name) >= length:
                start = rng.randrange(len(name) - length + 1)
                queries.add(name[start : start + length])
    for query in sorted(queries):
        if query.strip() != query or len(query.strip()) < 2:
            continue
        expected = {fid for fid, ns in names.items() if any(query in n for n in ns)}
        assert _ids(index, query) == expected, query


def test_traditional_and_full_width_queries_find_the_same_firms(firms, built):
    import opencc

    index = built
    to_traditional = opencc.OpenCC("s2t")
    names = _in_force_names(firms)
    for name in [ns[0] for ns in list(names.values())[:25]]:
        query = name[2:6]
        simplified = _ids(index, query)
        assert simplified
        assert _ids(index, to_traditional.convert(query)) == simplified
        assert _ids(index, _fullwidth(query)) == simplified
        assert _ids(index, query.upper()) == simplified


def test_uscc_in_lower_case_or_with_spaces_finds_its_firm_first(firms, built):
    index = built
    names = _in_force_names(firms)
    for firm_id in list(names)[:20]:
        firm = firms.get(Enterprise, firm_id)
        spaced = " ".join(firm.uscc[i : i + 4] for i in range(0, 18, 4)).lower()
        for query in (firm.uscc, firm.uscc.lower(), spaced, _fullwidth(firm.uscc)):
            result = index.search(query)
            assert result.hits[0].enterprise_id == firm_id
            assert result.hits[0].code_match


def test_licence_and_decision_numbers_match_exactly(firms, built):
    index = built
    names = _in_force_names(firms)
    checked = 0
    for firm_id in names:
        firm = firms.get(Enterprise, firm_id)
        if firm.licences:
            number = firm.licences[0].number
            hit = index.search(number.replace("-", " - ").lower()).hits[0]
            assert hit.enterprise_id == firm_id and hit.code_match
            checked += 1
    assert checked
    today = rules.today()
    listing = next(
        li
        for li in firms.scalars(select(Listing).where(Listing.sanction_id.is_not(None)))
        if rules.in_force(li, today)
    )
    number = listing.sanction.decision_no.replace("〔", "[").replace("〕", "]")
    assert index.search(number).hits[0].enterprise_id == listing.enterprise_id


def test_hostile_queries_answer_a_consistent_first_page(firms, built):
    """No exception; at most the firms in force, and the first page holds the hits the
    total promises."""
    index = built
    in_force = set(_in_force_names(firms))
    for query in HOSTILE:
        result = index.search(query)
        assert len(result.query) <= 100
        assert result.total <= len(in_force)
        assert len(result.hits) == min(result.total, result.per_page)
        assert {hit.enterprise_id for hit in result.hits} <= in_force


def test_facets_count_the_firms_in_the_result(firms, built):
    index = built
    result = index.search("有限公司", per_page=100)
    facets = dict(result.facets["list"])
    assert sum(facets.values()) >= result.total > 0
    bad = _ids(index, "有限公司", list_code="bad")
    assert len(bad) == facets["bad"]
    province, count = result.facets["province"][0]
    assert len(_ids(index, "有限公司", province=province)) == count
    year, count = result.facets["year"][0]
    assert len(_ids(index, "有限公司", year=int(year))) == count


def test_rebuild_swaps_in_a_complete_index(firms, tmp_path):
    index = SearchIndex(tmp_path / "index")
    index.catch_up(firms)
    everyone, before = _ids(index, ""), _ids(index, "有限公司")
    seen = []
    total = index.rebuild(firms, progress=lambda done, total: seen.append((done, total)))
    assert total == len(everyone)
    assert seen[-1] == (total, total)
    assert _ids(index, "有限公司") == before
    assert _ids(index, "") == everyone
    assert len(list((tmp_path / "index").glob("gen-*"))) == 2
    index.rebuild(firms)
    assert len(list((tmp_path / "index").glob("gen-*"))) == 2
    assert index.catch_up(firms) == 0


def _two_processes(monkeypatch) -> None:
    """A rebuild of the fixture's few firms forked as a large one is, a slice of 10 firms
    at a time; also where a test runner's own threads run beside the test (pytest-xdist),
    which keep a serving process's rebuild in one process."""
    from registry.search import build

    monkeypatch.setattr(build, "PARALLEL_MIN", 2)
    monkeypatch.setattr(build, "READ_SLICE", 10)
    monkeypatch.setattr(build, "_may_fork", lambda: True)


@pytest.mark.parametrize("split", ["halfway", "measured"])
def test_rebuild_in_two_processes_finds_what_one_process_finds(firms, tmp_path, monkeypatch, split):
    """A large rebuild feeds the first firms to a forked child (a segment of its own) and
    builds the rest itself: the index answers every search, code lookup and facet as the
    one-process rebuild does, and its stored documents stay in firm id order."""
    from registry.search import build

    serial = SearchIndex(tmp_path / "serial")
    total = serial.rebuild(firms)
    _two_processes(monkeypatch)
    if split == "halfway":  # the parent keeps the second half, whatever the timing
        monkeypatch.setattr(
            build, "keep_the_rest", lambda backlog, fed, remaining, *_: remaining <= total // 2
        )
    parallel = SearchIndex(tmp_path / "parallel")
    seen = []
    assert parallel.rebuild(firms, lambda done, all_: seen.append((done, all_))) == total
    assert seen[-1] == (total, total)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    view = parallel._reader(force=True)
    segments = view.ix._segments()
    assert len(segments) >= 2
    if split == "halfway":  # both processes built firms
        assert sum(1 for segment in segments if segment.doc_count() > 1) == 2
    with view.ix.searcher() as searcher:
        eids = [int(f["eid"]) for f in searcher.all_stored_fields() if f.get("kind") != "meta"]
    assert eids == sorted(eids)
    for query in ("", "有限公司", "通信", "科技"):
        assert _ids(parallel, query) == _ids(serial, query)
        assert parallel.search(query).facets == serial.search(query).facets
    firm = firms.scalars(select(Enterprise).where(Enterprise.uscc.is_not(None))).first()
    hits = parallel.search(firm.uscc).hits
    assert hits == serial.search(firm.uscc).hits
    assert parallel.catch_up(firms) == 0


def test_the_parent_keeps_the_rest_when_the_child_s_backlog_outlasts_it():
    """The split rule: feed the child while its queued firms would take it less time than
    reading and building the rest here; nothing to go on before it built anything."""
    from registry.search.build import FINISH_SHARE, keep_the_rest

    assert not keep_the_rest(1_000, 1_000, 50_000, 0.0, 25e-6)
    # 30,000 queued firms at 40 µs and 60,000 to finish: 1.2 s + 60,000 × 0.4 × 40 µs;
    # the rest here at 25 + 40 µs and its finishing
    child = 30_000 * 40e-6 + 60_000 * FINISH_SHARE * 40e-6
    here = 25e-6 + 40e-6 + FINISH_SHARE * 40e-6
    left = int(child / here)
    assert keep_the_rest(30_000, 60_000, left, 40e-6, 25e-6)
    assert not keep_the_rest(30_000, 60_000, left + 10, 40e-6, 25e-6)
    # a child faster than the reading keeps a slice of backlog: the parent takes the end
    assert not keep_the_rest(1_000, 50_000, 20_000, 10e-6, 25e-6)
    assert keep_the_rest(1_000, 50_000, 4_000, 10e-6, 25e-6)


def test_a_rebuild_whose_reading_fails_leaves_no_child_and_no_generation(
    firms, tmp_path, monkeypatch
):
    """The database read failing while the child is fed: the error reaches the caller, the
    child is stopped and the half-written generation removed; the current one serves on."""
    import multiprocessing

    from registry.search import documents

    index = SearchIndex(tmp_path / "index")
    total = index.rebuild(firms)
    before = _ids(index, "有限公司")
    _two_processes(monkeypatch)
    records = documents.records
    calls = []

    def failing(session, some, on):
        calls.append(len(some))
        if len(calls) == 3:
            raise OSError("disk I/O error")
        return records(session, some, on)

    monkeypatch.setattr(documents, "records", failing)
    with pytest.raises(OSError, match="disk I/O error"):
        index.rebuild(firms)
    assert multiprocessing.active_children() == []
    assert len(list((tmp_path / "index").glob("gen-*"))) == 1
    assert _ids(index, "有限公司") == before
    monkeypatch.setattr(documents, "records", records)
    assert index.rebuild(firms) == total


def test_a_rebuild_whose_child_fails_raises_and_keeps_the_current_generation(
    firms, tmp_path, monkeypatch
):
    """The child failing on a document: the parent raises the child's error instead of
    committing an index without the child's firms."""
    import multiprocessing

    from registry.search import documents

    index = SearchIndex(tmp_path / "index")
    index.rebuild(firms)
    before = _ids(index, "")
    _two_processes(monkeypatch)
    document = documents.document
    parent = os.getpid()

    def failing(firm):
        if os.getpid() != parent:
            raise ValueError("bad firm")
        return document(firm)

    monkeypatch.setattr(documents, "document", failing)
    with pytest.raises(RuntimeError, match="index builder process failed: ValueError: bad firm"):
        index.rebuild(firms)
    assert multiprocessing.active_children() == []
    assert len(list((tmp_path / "index").glob("gen-*"))) == 1
    assert _ids(index, "") == before


def test_catch_up_touching_most_of_the_index_builds_a_new_generation(
    firms, built, tmp_path, monkeypatch
):
    """A catch-up over more firms than half the index holds (an import into an empty
    registry) writes a fresh generation instead of updating firm by firm: same answers."""
    from registry.search import engine

    monkeypatch.setattr(engine, "_REBUILD_MIN", 1)
    index = SearchIndex(tmp_path / "index")
    first = index._reader().path
    assert index.catch_up(firms) >= len(_ids(built, ""))  # firms touched, listed or not
    assert index._reader().path != first
    for query in ("", "有限公司", "通信"):
        assert _ids(index, query) == _ids(built, query)
    assert index.last_applied() == built.last_applied(force=True)
    assert index.catch_up(firms) == 0


def test_a_caller_that_changed_enough_firms_has_a_new_generation_built_at_once(
    firms, built, tmp_path, monkeypatch
):
    """An import that says how many firms it created: enough of them for a new generation,
    the events are not read to count the firms; too few, they are. Same answers."""
    from registry.search import documents, engine

    read: list[int] = []
    touched_since = documents.touched_since
    monkeypatch.setattr(
        documents, "touched_since", lambda *args: read.append(1) or touched_since(*args)
    )
    threshold = engine._REBUILD_MIN
    few = SearchIndex(tmp_path / "few")
    first = few._reader().path
    assert few.catch_up(firms, touched_at_least=threshold - 1) is not None
    assert read and few._reader().path == first  # counted, firm by firm: too few for a rebuild
    read.clear()
    many = SearchIndex(tmp_path / "many")
    first = many._reader().path
    assert many.catch_up(firms, touched_at_least=threshold) == threshold
    assert not read and many._reader().path != first
    for query in ("", "有限公司", "通信"):
        assert _ids(many, query) == _ids(built, query) == _ids(few, query)
    assert many.last_applied() == built.last_applied(force=True)
    assert many.catch_up(firms) == 0


def test_normalisation_is_the_same_at_index_and_query_time():
    assert unicodedata.normalize("NFKC", "Ａ") == "A"
    from registry.search.analysis import normalise_query

    assert normalise_query("騰訊 ＡＢＣ") == text.normalize("腾讯 abc")
    assert normalise_query(None) == ""
