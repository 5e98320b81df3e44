"""/screen: a file of counterparties in, a report page or a CSV/XLSX out, nothing kept;
bad files are a 400 with the reason, bad rows a message with their row number."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from registry.models import Listing
from registry.services import listings
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


def _many(n: int, listed_name: str) -> bytes:
    lines = [["经营者名称"]] + [[f"无关{i:04d}商贸有限公司"] for i in range(n)]
    lines[n // 2] = [listed_name]
    return _csv(lines)


def test_a_large_file_is_streamed_step_by_step_then_the_report(client, listed, session):
    before = snapshot(session)
    fields = {"file": (io.BytesIO(_many(600, listed.name)), "a.csv")}
    response = client.post(
        "/screen",
        data=fields | {"csrf_token": csrf_token(client)},
        content_type="multipart/form-data",
        buffered=False,
    )
    assert response.status_code == 200
    assert response.headers["X-Accel-Buffering"] == "no"
    chunks = [c.decode() if isinstance(c, bytes) else c for c in response.response]
    response.close()
    steps = [
        (i, int(value))
        for i, chunk in enumerate(chunks)
        for value in re.findall(r'<progress max="600" value="(\d+)"', chunk)
    ]
    # Each step is sent on its own as it is reached; the last row's while the report is made.
    assert [value for _, value in steps] == [0, 250, 500, 600, 600]
    assert len({i for i, _ in steps}) == 5
    assert "已筛查 250 / 600 行" in chunks[steps[1][0]]
    assert "正在生成报告" in chunks[steps[3][0]] and "正在生成报告" not in chunks[steps[4][0]]
    page = "".join(chunks)
    assert page.index("</progress>", page.index('value="600"')) < page.index("report-title")
    assert "共 600 行，1 行匹配" in page and page.rstrip().endswith("</html>")
    assert all("report-title" not in chunk for chunk in chunks[: steps[-1][0] + 1])
    assert snapshot(session) == before


@pytest.mark.parametrize(
    ("header", "count", "says"),
    [
        (["经营者名称", "name"], 600, "第1行：列"),  # the same column twice
        (["经营者名称"], 10_001, "文件有 10001 行"),
    ],
)
def test_a_bad_large_file_is_a_400_before_anything_is_streamed(client, header, count, says):
    data = _csv([header] + [["某某商贸有限公司"] * len(header)] * count)
    response = _post(client, data)
    assert response.status_code == 400  # the streamed page is a 200 from its first byte
    assert says in response.get_data(as_text=True)
    assert "<progress" not in response.get_data(as_text=True)


def _signed_report(page: str) -> str:
    found = re.search(r'name="report" value="([^"]*)"', page)
    assert found
    return html.unescape(found.group(1))


def _download(client, report: str, output: str):
    fields = {"report": report, "format": output, "csrf_token": csrf_token(client)}
    return client.post("/screen/download", data=fields, content_type="multipart/form-data")


def test_the_report_downloads_as_shown_without_screening_again(client, listed, session, make):
    report = _signed_report(_post(client, _csv(ROWS)).get_data(as_text=True))
    direct = _post(client, _csv(ROWS), format="csv").get_data(as_text=True)
    # The lists change after the report was shown: its download still says what it showed.
    listing = session.scalars(select(Listing).where(Listing.enterprise_id == listed.id)).one()
    listings.annul_listing(session, make.actor("reviewer"), listing, "误列")
    session.flush()
    assert "1 行匹配" not in _post(client, _csv(ROWS)).get_data(as_text=True)
    before = snapshot(session)
    response = _download(client, report, "csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="screening.csv"'
    assert response.get_data(as_text=True) == direct
    xlsx = load_workbook(io.BytesIO(_download(client, report, "xlsx").data)).active
    assert [c.value for c in next(xlsx.iter_rows(min_row=2, max_row=2))][6] == listed.uscc
    assert snapshot(session) == before


def test_a_forged_or_broken_report_is_not_downloaded(client, listed):
    report = _signed_report(_post(client, _csv(ROWS)).get_data(as_text=True))
    payload, signature = report.rsplit(".", 1)
    forged = _download(client, payload.swapcase() + "." + signature, "csv")
    assert forged.status_code == 400 and "重新上传" in forged.get_data(as_text=True)
    assert _download(client, "", "csv").status_code == 400
    assert _download(client, report, "pdf").status_code == 400


def test_a_failure_after_the_progress_was_sent_says_there_is_no_report(client, listed, monkeypatch):
    def broken(*args):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("registry.web.screen.lists_in_force", broken)
    response = _post(client, _many(300, listed.name))
    page = response.get_data(as_text=True)
    assert response.status_code == 200  # sent with the first progress step
    assert 'role="alert"' in page and "没有生成报告" in page
    assert "report-title" not in page and page.rstrip().endswith("</html>")
