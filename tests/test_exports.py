"""Open data: the listings in force, in the import format's columns,
as CSV with a BOM, JSON and XLSX; formula cells neutralised; streamed."""

from __future__ import annotations

import csv
import io
import itertools
import json

import pytest
from openpyxl import load_workbook

from registry import exports
from registry.services import listings

HEADERS = [
    "经营者名称",
    "统一社会信用代码",
    "许可证编号",
    "名单类型",
    "列入事由",
    "处理日期",
    "列入单位",
    "处罚决定书文号",
    "违法事实",
    "省份",
    "专项行动",
    "列入日期",
    "有效期至",
]


@pytest.fixture
def data(session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    shown = make.published_listing(clerk, reviewer, facts='=HYPERLINK("http://evil")')
    plain = make.published_listing(clerk, reviewer, "D2", facts="逾期未缴纳罚款")
    removed = make.published_listing(clerk, reviewer)
    listings.remove_listing(session, reviewer, removed, "已纠正")
    make.listing(clerk)  # a draft
    return {"shown": shown, "plain": plain, "removed": removed}


def test_csv_has_bom_chinese_headers_and_one_row_per_listing_in_force(client, data):
    response = client.get("/data/listings.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == HEADERS
    by_uscc = {row[1]: dict(zip(HEADERS, row, strict=True)) for row in table[1:]}
    assert set(by_uscc) == {data["shown"].enterprise.uscc, data["plain"].enterprise.uscc}
    plain = by_uscc[data["plain"].enterprise.uscc]
    assert plain["名单类型"] == "失信名单"
    assert plain["列入事由"] == "D2"
    assert plain["列入单位"] == "广东省通信管理局"
    assert plain["处理日期"] == data["plain"].decided_on.isoformat()
    assert plain["违法事实"] == "逾期未缴纳罚款"


def test_csv_neutralises_formula_cells(client, data):
    text = client.get("/data/listings.csv").get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    facts = {row[8] for row in rows[1:]}
    assert '\'=HYPERLINK("http://evil")' in facts
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+8613800000000", "'+8613800000000"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("广东省通信管理局", "广东省通信管理局"),
        ("2026-01-05", "2026-01-05"),
    ],
)
def test_neutralise(value, expected):
    assert exports.neutralise(value) == expected


def test_json_export(client, data, today):
    response = client.get("/data/listings.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = json.loads(response.get_data(as_text=True))
    assert body["as_of"] == today.isoformat()
    assert list(body["columns"]) == list(exports.KEYS)
    assert {row["uscc"] for row in body["listings"]} == {
        data["shown"].enterprise.uscc,
        data["plain"].enterprise.uscc,
    }
    row = next(r for r in body["listings"] if r["uscc"] == data["plain"].enterprise.uscc)
    assert set(row) == set(exports.KEYS)
    assert row["list"] == "dishonest" and row["expires_on"] == data["plain"].expires_on.isoformat()


def test_json_export_when_nothing_is_in_force(client):
    body = json.loads(client.get("/data/listings.json").get_data(as_text=True))
    assert body["listings"] == []


def test_xlsx_export(client, data):
    response = client.get("/data/listings.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == HEADERS
    assert len(rows) == 3
    facts = {row[8] for row in rows[1:]}
    assert '\'=HYPERLINK("http://evil")' in facts
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_export_streams_rows_lazily():
    """The CSV writer yields its first chunk before the source is exhausted."""
    endless = ({key: "x" for key in exports.KEYS} | {"list": "bad"} for _ in itertools.count())
    chunks = exports.iter_csv(endless, chunk_rows=100)
    first = next(chunks)
    assert first.startswith("\ufeff经营者名称")
    assert first.count("\r\n") == 101
    json_chunks = exports.iter_json(
        ({key: None for key in exports.KEYS} for _ in itertools.count()), on=_day()
    )
    assert next(json_chunks).startswith("{")


def _day():
    from registry import rules

    return rules.today()


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_registry_export_command(app, data, tmp_path, fmt):
    target = tmp_path / f"out.{fmt}"
    result = app.test_cli_runner().invoke(
        args=["export", "--format", fmt, "-o", str(target)], env={"LANGUAGE": "en"}
    )
    assert result.exit_code == 0, result.output
    assert "2 listing(s)" in result.output
    if fmt == "csv":
        assert target.read_bytes().startswith(b"\xef\xbb\xbf")
        assert len(target.read_text("utf-8-sig").strip().splitlines()) == 3
    elif fmt == "json":
        assert len(json.loads(target.read_text("utf-8"))["listings"]) == 2
    else:
        assert load_workbook(target).active.max_row == 3


def test_registry_export_rejects_unknown_format(app, tmp_path):
    result = app.test_cli_runner().invoke(
        args=["export", "--format", "pdf", "-o", str(tmp_path / "x")]
    )
    assert result.exit_code == 2


def test_data_page(client, data):
    response = client.get("/data")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "listings.csv" in html and "统一社会信用代码" in html
    assert "不良名单 1 条" in html and "失信名单 1 条" in html
