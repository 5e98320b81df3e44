"""/screen: a file of counterparties in, a report page or a CSV/XLSX out, nothing kept;
bad files are a 400 with the reason, bad rows a message with their row number."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook

from tests.factories import csrf_token
from tests.test_csrf import snapshot


@pytest.fixture
def listed(make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    firm = make.enterprise(clerk, name="深圳市华信网络科技有限公司")
    make.published_listing(clerk, reviewer, enterprise=firm)
    return firm


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _post(client, data: bytes, filename: str = "list.csv", **form):
    fields = {"file": (io.BytesIO(data), filename), "csrf_token": csrf_token(client)} | form
    return client.post("/screen", data=fields, content_type="multipart/form-data")


ROWS = [
    ["经营者名称", "统一社会信用代码", "省份"],
    ["華信（深圳）網絡科技有限公司", "", "广东"],
    ["某某无关贸易有限公司", "91440300MA5FXXXX0X", ""],
    ["", "", "广东"],
    ["北京云帆数据科技有限公司", "", "火星"],
]


def test_screen_form_is_served(client):
    page = client.get("/screen")
    assert page.status_code == 200
    assert 'type="file"' in page.get_data(as_text=True)


def test_report_page_flags_the_listed_firm_and_gives_row_messages(client, listed, session):
    before = snapshot(session)
    response = _post(client, _csv(ROWS))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert listed.name in page and "1 行匹配" in page
    assert "第3行" in page  # a USCC with a bad check character: screened by name only
    assert "第4行" in page  # nothing to screen
    assert "第5行" in page and "火星" in page  # an unknown province
    assert snapshot(session) == before  # nothing kept


def test_csv_and_xlsx_downloads_hold_one_line_per_row(client, listed):
    response = _post(client, _csv(ROWS), format="csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(lines) == len(ROWS)
    assert lines[1][3] == "yes" and lines[1][6] == listed.uscc and lines[1][7] == "bad"
    assert lines[2][3] == "no"
    workbook = Workbook()
    for row in ROWS:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = _post(client, buffer.getvalue(), "list.xlsx", format="xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))][6] == listed.uscc


@pytest.mark.parametrize(
    ("data", "filename", "form", "says"),
    [
        (b"", "a.csv", {}, "文件为空"),
        (b"foo,bar\n1,2\n", "a.csv", {}, "第1行"),
        (_csv([["经营者名称"]]), "a.csv", {}, "没有要筛查的行"),
        (b"PK\x03\x04 not really a workbook", "a.xlsx", {}, ""),
        (_csv([["经营者名称"]] + [["x"]] * 10_001), "a.csv", {}, "10000"),
        (_csv(ROWS), "a.csv", {"threshold": "2"}, ""),
        (_csv(ROWS), "a.csv", {"format": "pdf"}, ""),
    ],
)
def test_bad_files_and_fields_are_400_with_a_reason(client, listed, data, filename, form, says):
    response = _post(client, data, filename, **form)
    assert response.status_code == 400
    assert says in response.get_data(as_text=True)


def test_no_file_is_400(client):
    response = client.post("/screen", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 400


def test_screen_without_csrf_token_is_refused(client, listed):
    fields = {"file": (io.BytesIO(_csv(ROWS)), "a.csv")}
    assert (
        client.post("/screen", data=fields, content_type="multipart/form-data").status_code == 400
    )
