"""The bitmap layer of the search (registry/search/bitmaps.py): totals and facet counts
equal a brute-force check of the database, and the bitmaps follow publication, removal
and expiry without a restart, so broad queries
stay fast without ever going stale."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest
from pyroaring import BitMap
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from registry import rules, text
from registry.models import Enterprise, Listing
from registry.search import SearchFilters, SearchIndex
from registry.search.bitmaps import Bitmaps
from registry.search.engine import (
    _changed_since,
    _changes_log,
    _count_per_firm,
    _count_provinces,
    _count_values,
)
from tests.corpus import demo_corpus


@pytest.fixture(scope="module")
def corpus(engine, tmp_path_factory):
    with demo_corpus(engine, tmp_path_factory.mktemp("bitmaps")) as found:
        yield found


def _firms(session) -> list[tuple[Enterprise, list[str], list[Listing]]]:
    listings: dict[int, list[Listing]] = {}
    for li in session.scalars(select(Listing).options(selectinload(Listing.ground))):
        listings.setdefault(li.enterprise_id, []).append(li)
    return [
        (
            firm,
            [text.normalize(firm.name)] + [text.normalize(f.name) for f in firm.former_names],
            listings.get(firm.id, []),
        )
        for firm in session.scalars(
            select(Enterprise).options(selectinload(Enterprise.former_names))
        )
    ]


def _truth(firms, query: str, filters: SearchFilters, on) -> tuple[set[int], dict]:
    """Firms and facet counts by brute force over the database rows."""
    q = text.normalize(query)
    found: set[int] = set()
    counts: dict[str, Counter] = {
        name: Counter() for name in ("list", "province", "ground", "year")
    }
    for firm, names, listings in firms:
        if q and not any(q in name for name in names):
            continue
        if filters.province is not None and firm.province_code != filters.province:
            continue
        in_force = [
            li
            for li in listings
            if rules.in_force(li, on)
            and (filters.list_code is None or li.list_code == filters.list_code)
            and (filters.ground is None or li.ground.code == filters.ground)
            and (filters.year is None or li.decided_on.year == filters.year)
        ]
        if not in_force:
            continue
        found.add(firm.id)
        if firm.province_code:
            counts["province"][firm.province_code] += 1
        for name, values in (
            ("list", {li.list_code for li in in_force}),
            ("ground", {li.ground.code for li in in_force}),
            ("year", {str(li.decided_on.year) for li in in_force}),
        ):
            for value in values:
                counts[name][value] += 1
    return found, {name: dict(counter) for name, counter in counts.items()}


def _all_ids(index: SearchIndex, query: str, filters: SearchFilters, on) -> set[int]:
    found: list[int] = []
    page = 1
    while True:
        result = index.search(query, filters, page=page, per_page=100, on=on)
        page_ids = [hit.enterprise_id for hit in result.hits]
        found += page_ids
        # Without the stored fields (what the web pages ask for): the same firms, in order.
        ids_only = index.search(query, filters, page=page, per_page=100, on=on, fields=False)
        assert [hit.enterprise_id for hit in ids_only.hits] == page_ids
        if page >= result.pages:
            assert len(found) == len(set(found)) == result.total
            return set(found)
        page += 1


def test_totals_and_facets_equal_a_brute_force_check(corpus):
    """Counts come from bitmap intersections; they must equal counting the database."""
    session, index = corpus
    on = rules.today()
    rng = random.Random(9)
    names = [text.normalize(n) for n in session.scalars(select(Enterprise.name))]
    queries = ["", "有限公司", "科技", "网络"] + [
        name[i : i + n]
        for name in rng.sample(names, 12)
        for n in (2, 3, 4)
        if len(name) >= n
        for i in [rng.randrange(len(name) - n + 1)]
    ]
    filter_sets = [SearchFilters(), SearchFilters(list_code="bad"), SearchFilters(ground="B1")]
    firms = _firms(session)
    busy = index.search("有限公司", on=on).facets
    filter_sets.append(SearchFilters(province=busy["province"][0][0]))
    filter_sets.append(SearchFilters(list_code="bad", year=int(busy["year"][0][0])))
    for query in queries:
        for filters in filter_sets:
            expected, facets = _truth(firms, query, filters, on)
            result = index.search(query, filters, on=on)
            assert result.total == len(expected), (query, filters)
            assert {k: dict(v) for k, v in result.facets.items()} == facets, (query, filters)
            if len(expected) <= 300:
                assert _all_ids(index, query, filters, on) == expected, (query, filters)


def test_firm_ids_alone_match_the_full_hits_after_listings_expire(corpus):
    """Searched on a later day, firms whose listings expired meanwhile drop out; the ids
    a search without stored fields gives are those of the full search, page by page."""
    session, index = corpus
    expiries = sorted(
        d
        for d in session.scalars(select(Listing.expires_on))
        if d is not None and d > rules.today()
    )
    assert expiries, "the corpus has listings that expire"
    firms = _firms(session)
    for on in (expiries[0], expiries[len(expiries) // 2]):
        for filters in (SearchFilters(), SearchFilters(list_code="bad")):
            expected, _facets = _truth(firms, "有限公司", filters, on)
            assert _all_ids(index, "有限公司", filters, on) == expected, (on, filters)


def test_shorter_names_rank_first_and_pages_do_not_overlap(corpus):
    session, index = corpus
    result = index.search("有限公司", per_page=50)
    lengths = [len(text.normalize(hit.name)) for hit in result.hits]
    assert lengths == sorted(lengths)
    second = index.search("有限公司", page=2, per_page=50)
    assert not {h.enterprise_id for h in result.hits} & {h.enterprise_id for h in second.hits}


def test_the_change_log_covers_a_gap_or_asks_for_a_reload():
    log = _changes_log(None, 0, 5, {1, 2})
    log = _changes_log(log, 5, 9, {3})
    assert _changed_since(log, 9, 9) == set()
    assert _changed_since(log, 5, 9) == {3}
    assert _changed_since(log, 0, 9) == {1, 2, 3}
    assert _changed_since(log, 3, 9) == {1, 2, 3}  # re-reading more firms is harmless
    assert _changed_since(log, 9, 12) is None  # events the log does not hold
    assert _changed_since(None, 0, 9) is None  # an index written before the log
    huge = _changes_log(log, 9, 10, set(range(50_000)))
    assert _changed_since(huge, 9, 10) is None


def test_bitmap_memory_is_reported(corpus):
    _, index = corpus
    memory = index.bitmaps().memory()
    assert 0 < memory["bitmaps"] < 1_000_000 and memory["names"] > 0


def test_queries_are_cut_into_the_fewest_words_of_the_vocabulary():
    """The ranking's query side uses the index's own words (no jieba in web workers)."""
    from registry.search.bitmaps import Bitmaps

    state = Bitmaps()
    for word in ("长城", "通信", "通", "信", "技术", "长城通信"):
        state.words[word] = BitMap()
    assert state.segment("通信") == ["通信"]
    assert state.segment("长城通信") == ["长城通信"]
    assert state.segment("通信技术") == ["通信", "技术"]
    assert state.segment("城通") == []  # 城 is no word of any name
    assert state.segment("") == []


def test_firm_facts_follow_changes_and_compaction():
    """Registered name and codes kept beside the names: loaded (in any order), replaced,
    removed, added, and unchanged when the overlay is folded into the base."""
    from registry.search.bitmaps import Bitmaps, FirmFacts

    def doc(eid: int, name: str, uscc: str = "", province: str = "", licences: str = ""):
        return {
            "eid": str(eid),
            "names_norm": text.normalize(name),
            "name": name,
            "uscc": uscc,
            "province": province,
            "licences": licences,
            "listings": [],
        }

    state = Bitmaps.load(  # in the index's order, not by firm id
        [doc(2, "乙公司"), doc(1, "深圳市華信网络科技有限公司", "91440300X", "440000", "A-1 B-2")]
    )
    assert state.facts(1) == FirmFacts(
        "深圳市華信网络科技有限公司", "91440300X", "440000", "A-1 B-2"
    )
    assert state.facts(2) == FirmFacts("乙公司", "", "", "")
    assert state.facts(3) is None
    state.apply({1: doc(1, "深圳市华信数据有限公司", "91440300X", "440000"), 2: None})
    state.apply({3: doc(3, "丙公司", "91110000Y", "110000", "C-3")})
    expected = {
        1: FirmFacts("深圳市华信数据有限公司", "91440300X", "440000", ""),
        2: None,
        3: FirmFacts("丙公司", "91110000Y", "110000", "C-3"),
    }
    assert {eid: state.facts(eid) for eid in expected} == expected
    state._compact()
    assert {eid: state.facts(eid) for eid in expected} == expected
    assert state.names(1) == "深圳市华信数据有限公司"


def test_facets_counted_after_an_answer_without_them_are_the_same(corpus):
    """A caller that shows no facets (the API) does not have them counted; the page that
    asks for the same answer next, from the index's cache, gets them counted then."""
    session, index = corpus
    on = rules.today()
    firms = _firms(session)
    for query in ("有限公司", "科技", "网络"):
        for filters in (SearchFilters(), SearchFilters(list_code="bad")):
            index._cache.clear()
            without = index.search(query, filters, on=on, facets=False)
            assert without.facets == {}
            later = index.search(query, filters, on=on)
            assert later.total == without.total
            expected, facets = _truth(firms, query, filters, on)
            assert {k: dict(v) for k, v in later.facets.items()} == facets
            assert index.search(query, filters, on=on, facets=False).facets == later.facets


def _by_bitmaps(state, allowed, clean, filters) -> dict:
    """The facet counts of `allowed` and `clean` by intersections with every value's bitmap
    (the way counts are made for many firms)."""
    counts = {name: defaultdict(int) for name in ("list", "province", "ground", "year")}
    _count_provinces(counts["province"], allowed, state.provinces_by_size())
    per_value = state.facet_bitmaps(filters.list_code, filters.ground, filters.year)
    for name, values in per_value.items():
        _count_values(counts[name], clean, values)
    return {name: dict(c) for name, c in counts.items()}


def _by_profiles(state, allowed, clean, filters) -> dict:
    counts = {name: defaultdict(int) for name in ("list", "province", "ground", "year")}
    _count_per_firm(state, counts, allowed, clean, filters)
    return {name: dict(c) for name, c in counts.items()}


def test_a_few_firms_are_counted_from_their_profiles_as_the_bitmaps_count_them(corpus):
    """A few firms' facets come from each firm's profile (province and listing
    combinations): the same counts as the intersections with every value's bitmap, for each
    firm alone and for small sets, under filters, and after firms change or go."""
    _session, index = corpus
    # A load of its own from the index's stored documents (the test changes it).
    documents = {
        int(doc["eid"]): doc
        for doc in index._reader().searcher.all_stored_fields()
        if str(doc.get("eid") or "").isdigit()
    }
    state = Bitmaps.load(documents.values())
    busy = index.search("有限公司").facets
    filter_sets = [
        SearchFilters(),
        SearchFilters(list_code="bad"),
        SearchFilters(ground=busy["ground"][0][0]),
        SearchFilters(list_code="dishonest", year=int(busy["year"][0][0])),
        SearchFilters(province=busy["province"][0][0], year=int(busy["year"][-1][0])),
    ]
    firms = sorted(state.alive)
    rng = random.Random(15)
    sets = [BitMap([eid]) for eid in firms] + [
        BitMap(rng.sample(firms, rng.randint(2, 8))) for _ in range(200)
    ]
    checked = 0
    for filters in filter_sets:
        allowed_all = state.allowed(filters.list_code, filters.ground, filters.year)
        for clean in sets:
            if filters.province is not None:
                clean = clean & state.province.get(filters.province, BitMap())
            allowed = clean & allowed_all
            expected = _by_bitmaps(state, allowed, clean, filters)
            assert _by_profiles(state, allowed, clean, filters) == expected, (clean, filters)
            checked += bool(any(expected.values()))
    assert checked > 100  # most sets have something to count

    # Firms changed (another province, their listings swapped) and removed: the profiles
    # follow the bitmaps.
    donors = rng.sample(firms, 6)
    changed = {
        donors[0]: {**documents[donors[0]], "province": documents[donors[1]]["province"]},
        donors[1]: {**documents[donors[1]], "listings": documents[donors[2]]["listings"]},
        donors[2]: None,
    }
    state.apply(changed)
    assert state.profile(donors[2]) == ("", ())
    alive = BitMap(donors) & state.alive
    for filters in filter_sets:
        allowed = alive & state.allowed(filters.list_code, filters.ground, filters.year)
        expected = _by_bitmaps(state, allowed, alive, filters)
        assert _by_profiles(state, allowed, alive, filters) == expected, filters
