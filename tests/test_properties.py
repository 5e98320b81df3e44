"""Hypothesis properties of the import parser and the search query path
(text.py has its own in tests/test_text.py).

Import: any bytes, and any CSV text in UTF-8, UTF-8 with BOM or GB18030 with any cell values
(control characters, NUL, formulas, odd dates, long cells), go through
`imports.parse.read_bytes` and `imports.validate.validate` raising nothing but
ImportFileError (a message for the clerk); rows written with the csv module come back with
the same cells, trimmed; the UTF-8 and GB18030 encodings of one text parse to the same rows.

Search: any unicode query to the index, `/search` and `/api/v1/search` never raises and
never answers 5xx; a substring (2+ characters) of an indexed firm's name finds that firm
(recall), and every firm found by name contains the normalised query (precision).
"""

from __future__ import annotations

import collections
import csv
import io
from datetime import date
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from registry import fakedata, text
from registry.demo import load_demo
from registry.imports.parse import ImportFileError, read_bytes
from registry.imports.validate import validate
from registry.rules import Actor
from registry.search import SearchIndex
from tests.test_search import HOSTILE, _ids, _in_force_names, _ministry_id

FIXTURES = [HealthCheck.function_scoped_fixture]  # read-only use; one transaction per test
TRIED: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _figures(pytestconfig):
    yield
    for name, count in TRIED.items():
        pytestconfig.security_figures[f"hypothesis: {name} inputs tried, 0 unexpected errors"] += (
            count
        )
    TRIED.clear()


# The import format's columns, English keys and Chinese headers, as registry.fakedata writes them.
FIELDS = list(fakedata.HEADERS)
HEADER = [fakedata.CHINESE_HEADERS[field] for field in FIELDS]

# Text a CSV file can hold in every encoding under test (no lone surrogates).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
plausible = st.sampled_from(
    [
        "深圳市某某网络科技有限公司",
        "91440300MA5XXX999M",
        "B2-20190001",
        "bad",
        "失信名单",
        "不良名单",
        "B3",
        "Z9",
        "2026-02-30",
        "2026/1/1",
        "45000",
        "0",
        "-1",
        "1900-01-01",
        "9999-12-31",
        "2026年1月5日",
        "广东省通信管理局",
        "440000",
        "粤通管罚〔2026〕1号",
        "=cmd|' /C calc'!A0",
        "+1+1",
        "@SUM(A1)",
        "-2+3",
        "\x00",
        "\t\r\n",
        "\ufeff",
        "<script>alert(1)</script>",
        "",
    ]
)
cell = st.one_of(plausible, any_text)
row = st.lists(cell, min_size=len(HEADER), max_size=len(HEADER))


def _csv_text(rows: list[list[str]], header: list[str] = HEADER) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _expected(rows: list[list[str]]) -> list[dict[str, str | None]]:
    """What the parser promises: cells trimmed, BOM characters dropped, empty → None; rows
    with no cell are blank lines, not rows."""
    out = []
    for values in rows:
        cells = {
            f: (v.strip().replace("\ufeff", "") or None)
            for f, v in zip(FIELDS, values, strict=True)
        }
        if any(value is not None for value in cells.values()):
            out.append(cells)
    return out


def _parsed(data: bytes):
    TRIED["import parser"] += 1
    try:
        return read_bytes(data, "upload.csv")
    except ImportFileError as exc:
        assert str(exc).strip()  # a message for the clerk
        return None


BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2_000).filter(lambda data: not data.startswith(BOMS)))
@example(b"PK\x03\x04" + b"\x00" * 40)
@example(b"\xd0\xcf\x11\xe0")
@example(b'"unterminated\n')
@example("名称,x\n".encode("gb18030") + b"\x81")
def test_any_bytes_raise_only_import_file_error(data):
    _parsed(data)


# A byte-order mark followed by bytes that are not valid in its encoding (a UTF-16 file of odd
# length, a UTF-8 BOM then GB18030 bytes) must give ImportFileError from parse.decode, not a
# UnicodeDecodeError, which would be a 500 on the web import page.
@pytest.mark.parametrize("data", [b"\xff\xfe\x00", b"\xef\xbb\xbf" + "名称".encode("gb18030")])
def test_a_bom_then_bytes_of_another_encoding_raise_only_import_file_error(data):
    _parsed(data)


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES)
@given(st.binary(max_size=600) | st.builds(lambda t: t.encode("utf-8"), any_text))
def test_any_bytes_after_a_header_validate_without_raising(session, data):
    parsed = _parsed(_csv_text([]).encode("utf-8") + data)
    if parsed is not None:
        plan = validate(session, parsed)
        assert plan.total == len(parsed.rows)


csv_row = st.lists(cell, min_size=11, max_size=11)


@settings(max_examples=100, deadline=None)
@given(st.lists(csv_row, max_size=6), st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_csv_rows_round_trip_in_every_encoding(rows, encoding):
    source = _csv_text(rows)
    TRIED["import parser"] += 1
    parsed = read_bytes(source.encode(encoding), "upload.csv")
    assert parsed.kind == "csv"
    assert [r.cells for r in parsed.rows] == _expected(rows)


# csv.Sniffer, given only a header line without quotes, answers doublequote=False; parse.read_csv
# must still read a quoted cell with an escaped quote ("a""b", as Excel and the csv module
# write a"b) as a"b, not as a"b" — silently altered data.
def test_a_cell_with_a_double_quote_round_trips():
    rows = [["深圳市某某网络科技有限公司", 'say "hi"'] + [""] * 9]
    assert [r.cells for r in read_bytes(_csv_text(rows).encode()).rows] == _expected(rows)


@settings(max_examples=60, deadline=None)
@given(st.lists(row, min_size=1, max_size=4))
def test_utf8_and_gb18030_encodings_parse_to_the_same_rows(rows):
    source = _csv_text(rows)
    utf8 = read_bytes(source.encode("utf-8"))
    gb = read_bytes(source.encode("gb18030"))
    assert [(r.number, r.cells) for r in utf8.rows] == [(r.number, r.cells) for r in gb.rows]
    assert utf8.headers == gb.headers


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES)
@given(st.lists(row, min_size=1, max_size=5), st.sampled_from(["utf-8-sig", "gb18030"]))
def test_validate_reports_problems_and_never_raises(session, rows, encoding):
    parsed = read_bytes(_csv_text(rows).encode(encoding), "upload.csv")
    TRIED["import validate"] += 1
    plan = validate(session, parsed, on=date(2026, 6, 1))
    assert plan.total == len(parsed.rows)
    for problem in plan.problems:
        assert str(problem).strip()


def test_huge_cells_and_many_columns_parse(session):
    big = "有" * 100_000
    rows = [['=HYPERLINK("http://x")', big, "\x00" * 1000] + [""] * 8]
    parsed = read_bytes(_csv_text(rows).encode("gb18030"))
    assert parsed.rows[0].cells["uscc"] == big
    plan = validate(session, parsed)
    assert plan.errors and plan.total == 1
    with pytest.raises(ImportFileError, match="field limit"):  # past csv's 128 KiB per cell
        read_bytes(_csv_text([["有" * 200_000] + [""] * 10]).encode("utf-8"))
    wide = _csv_text([["x"] * 5000], header=HEADER + [f"extra{i}" for i in range(4989)])
    assert read_bytes(wide.encode("utf-8")).ignored_headers[:1] == ["extra0"]


# --- search --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(engine, tmp_path_factory):
    """Demo firms loaded in a transaction rolled back after the module, indexed once."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        load_demo(session, Actor(None, "test", "system", _ministry_id(session), True), firms=80)
        session.flush()
        index = SearchIndex(tmp_path_factory.mktemp("properties") / "index")
        index.catch_up(session)
        names = _in_force_names(session)
        yield index, names
        session.close()
        outer.rollback()


queries = st.one_of(
    st.text(max_size=300),
    st.text(st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(HOSTILE),
)


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURES)
@given(queries, st.integers(-5, 10**6), st.integers(-5, 10**6))
def test_any_query_answers_a_consistent_page(corpus, query, page, per_page):
    """Any text and any paging: no exception, at most the firms in force, and the page
    holds exactly the hits the total leaves for it."""
    index, names = corpus
    TRIED["search query"] += 1
    result = index.search(query, page=page, per_page=per_page)
    assert len(result.query) <= 100
    assert 1 <= result.per_page <= 100 and result.page >= 1
    assert result.total <= len(names)
    before = (result.page - 1) * result.per_page
    assert len(result.hits) == max(0, min(result.per_page, result.total - before))
    assert len({hit.enterprise_id for hit in result.hits}) == len(result.hits)
    assert {hit.enterprise_id for hit in result.hits} <= set(names)


@settings(max_examples=120, deadline=None, suppress_health_check=FIXTURES)
@given(st.data())
def test_name_substrings_find_their_firm_and_only_firms_containing_them(corpus, data):
    index, names = corpus
    firm_id = data.draw(st.sampled_from(sorted(names)))
    name = names[firm_id][0]
    start = data.draw(st.integers(0, len(name) - 2))
    end = data.draw(st.integers(start + 2, min(len(name), start + 12)))
    query = name[start:end]
    TRIED["search recall/precision"] += 1
    result = index.search(query, per_page=100)
    q = result.query
    if len(q) < 2:  # the substring was mostly spaces: normalised away
        return
    found = _ids(index, query)
    if q in name:
        assert firm_id in found, (query, name)
    for hit_id in found:
        assert any(q in n for n in names.get(hit_id, [])), (q, hit_id)


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES)
@given(queries)
def test_search_routes_never_answer_5xx(client, query):
    # Lone surrogates go out as the bytes a careless client would send (invalid UTF-8: 400).
    raw = query.encode("utf-8", "surrogatepass")
    TRIED["search route"] += 3
    for path in ("/search", "/api/v1/search", "/feeds/search.atom"):
        for q in {raw, text.normalize(query).encode("utf-8", "surrogatepass")}:
            response = client.get(path, query_string="q=" + quote_from_bytes(q))
            assert response.status_code in (200, 400), (path, q, response.status_code)
