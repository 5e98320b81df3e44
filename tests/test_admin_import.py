"""The back-office import (the same import as `registry import`, from the
browser): upload → the validation report as a table → confirm applies it in one transaction.

The file is stored under its SHA-256 and read again at confirmation, so what is applied is
what was checked; tenancy (a bureau imports its own listings, the ministry any bureau's) and
four eyes (the import is the submission, a reviewer may publish) hold as in the forms."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
from datetime import timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from registry import rules
from registry.db import Base
from registry.models import Enterprise, Listing
from tests.factories import csrf_token, login, new_uscc

A, B = "440000", "110000"
HEADERS = ["经营者名称", "统一社会信用代码", "名单类型", "列入事由", "处理日期", "违法事实"]
_names = itertools.count(1)


def rows(n: int) -> list[list[str]]:
    """n good rows of firms new to the registry (B3, decided three days ago)."""
    decided = (rules.today() - timedelta(days=3)).isoformat()
    out = []
    for _ in range(n):
        k = next(_names)
        out.append(
            [
                f"广州市导入{k:04d}号网络科技有限公司",
                new_uscc(),
                "不良名单",
                "B3",
                decided,
                "未经许可擅自经营增值电信业务",
            ]
        )
    return out


def to_csv(body: list[list[str]], encoding: str = "utf-8-sig", headers=HEADERS) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(body)
    return out.getvalue().encode(encoding)


def to_xlsx(body: list[list[str]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADERS)
    for row in body:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def counts(session) -> dict[str, int]:
    session.flush()
    return {
        table.name: session.scalar(select(func.count()).select_from(table))
        for table in Base.metadata.sorted_tables
    }


def _client(app, make, role, code=A):
    user = make.user(role, code)
    client = app.test_client()
    assert login(client, user).status_code == 302
    client.authority_id = make.authority(code).id
    return client


@pytest.fixture
def clerk(app, make):
    return _client(app, make, "clerk")


@pytest.fixture
def reviewer(app, make):
    return _client(app, make, "reviewer")


def upload(client, data: bytes, filename="名单.csv", authority=None, publish=False, query=""):
    form = {
        "file": (io.BytesIO(data), filename),
        "authority": str(authority or client.authority_id),
        "csrf_token": csrf_token(client),
    }
    if publish:
        form["publish"] = "y"
    return client.post("/admin/import" + query, data=form, content_type="multipart/form-data")


_HIDDEN = re.compile(r'<input id="(\w+)" name="\w+" type="hidden" value="([^"]*)"')


def confirm_fields(page: str) -> dict[str, str]:
    form = page[page.index('action="/admin/import/confirm"') :]
    return {name: value for name, value in _HIDDEN.findall(form) if name != "csrf_token"}


def confirm(client, fields: dict[str, str], **extra):
    data = fields | extra | {"csrf_token": csrf_token(client)}
    return client.post("/admin/import/confirm", data=data)


def states(session, body) -> list[str]:
    usccs = [row[1] for row in body]
    query = select(Listing.state).join(Listing.enterprise).where(Enterprise.uscc.in_(usccs))
    return sorted(session.scalars(query))


def test_upload_report_confirm_submits_the_listings_for_review(app, clerk, session):
    body = rows(3)
    data = to_csv(body)
    page = upload(clerk, data)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "导入校验结果" in text and "确认导入3条" in text
    fields = confirm_fields(text)
    digest = hashlib.sha256(data).hexdigest()
    assert fields["sha256"] == digest
    assert staged_hashes(session) == [digest]  # by content, never the client's name
    assert states(session, body) == []  # the report writes nothing

    response = confirm(clerk, fields)
    assert response.status_code == 302
    assert states(session, body) == ["submitted"] * 3  # waiting for a reviewer
    flashed = clerk.get(response.headers["Location"]).get_data(as_text=True)
    assert "新增名单记录3条" in flashed

    # Confirming again (a double click) is harmless: every row is unchanged.
    before = counts(session)
    again = confirm(clerk, fields)
    assert again.status_code == 302
    assert counts(session) == before
    assert "已存在未变化3行" in clerk.get("/admin/import").get_data(as_text=True)


def test_reviewer_publishes_as_self_and_the_firm_is_searchable(app, reviewer, session, client):
    body = rows(2)
    page = upload(reviewer, to_csv(body), publish=True).get_data(as_text=True)
    assert "确认导入并公示2条" in page
    response = confirm(reviewer, confirm_fields(page))
    assert response.status_code == 302
    assert states(session, body) == ["published"] * 2
    # The index followed the commit (after-commit hooks): the public search finds the firm.
    name = body[0][0]
    assert name in client.get(f"/search?q={name[3:9]}").get_data(as_text=True)


def test_a_bad_row_in_the_middle_is_named_and_nothing_is_written(app, clerk, session):
    body = rows(5)
    body[2][4] = "2020-13-45"  # row 4 (the header is row 1)
    page = upload(clerk, to_csv(body))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert re.search(r"<td>4</td><td>处理日期</td>", text), text
    assert "确认导入" not in text
    assert "导入其余4条" in text  # the explicit "skip bad rows" choice
    fields = confirm_fields(text)
    before = counts(session)
    refused = confirm(clerk, fields)  # without choosing to skip: refused
    assert refused.status_code == 400
    assert "未写入任何记录" in refused.get_data(as_text=True)
    assert counts(session) == before
    assert states(session, body) == []
    # With the choice, the four good rows go in.
    assert confirm(clerk, fields, skip_bad="y").status_code == 302
    assert len(states(session, body)) == 4


def test_xlsx_and_gb18030_csv_import(clerk, session):
    for data, name in ((to_xlsx(rows(2)), "名单.xlsx"), (to_csv(rows(2), "gb18030"), "名单.csv")):
        page = upload(clerk, data, filename=name)
        assert page.status_code == 200, page.get_data(as_text=True)[:3000]
        text = page.get_data(as_text=True)
        assert "确认导入2条" in text
        assert confirm(clerk, confirm_fields(text)).status_code == 302
    assert "gb18030" in text


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"%PDF-1.7\n%%EOF\n\xff\xfe\x00", "a.pdf", "表头"),
        (b"not a zip at all", "名单.xlsx", "不是有效的 .xlsx"),
        ("经营者名称,名单类型\n某公司,不良名单\n".encode(), "a.csv", "缺少必填列"),
        (b"", "a.csv", ""),
        (b"\xef\xbb\xbf\xc3\xfb\xb3\xc6", "a.csv", "CSV UTF-8"),  # a BOM, then not UTF-8
        (b"\xff\xfe\x00", "a.csv", "CSV UTF-8"),
    ],
)
def test_unreadable_file_is_the_form_again_with_400_and_nothing_stored(
    app, clerk, session, data, name, message
):
    before = counts(session)
    response = upload(clerk, data, filename=name)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "上传并校验" in text and message in text
    assert counts(session) == before
    assert staged_hashes(session) == []


def test_report_problems_are_chinese_by_default_and_english_with_lang_en(clerk):
    body = rows(3)
    uscc = body[0][1]
    body[0][1] = uscc[:17] + ("0" if uscc[17] != "0" else "1")  # bad check character
    body[1][3] = "Z9"  # no such ground
    data = to_csv(body)
    chinese = upload(clerk, data)
    assert chinese.status_code == 200
    text = chinese.get_data(as_text=True)
    assert f"统一社会信用代码“{body[0][1]}”校验码错误：第18位应为“{uscc[17]}”" in text
    assert "未知的列入事由“Z9”" in text
    assert "bad check character" not in text and "unknown ground" not in text
    english = upload(clerk, data, query="?lang=en")
    assert english.status_code == 200
    text = english.get_data(as_text=True)
    assert f"USCC “{body[0][1]}” has a bad check character: expected “{uscc[17]}”" in text
    assert "unknown ground “Z9”: use a code (" in text
    assert "校验码错误" not in text and "未知的列入事由" not in text


def test_unreadable_file_and_missing_column_are_explained_in_english_with_lang_en(clerk):
    old_excel = upload(clerk, b"\xd0\xcf\x11\xe0old excel", "a.xls", query="?lang=en")
    assert old_excel.status_code == 400
    assert "old .xls files are not supported" in old_excel.get_data(as_text=True)
    data = "经营者名称,名单类型\n某公司,不良名单\n".encode()
    missing = upload(clerk, data, "a.csv", query="?lang=en").get_data(as_text=True)
    assert "missing required column “列入事由”" in missing and "缺少必填列" not in missing


def test_another_bureaus_clerk_cannot_import_for_this_bureau(app, make, session):
    other = _client(app, make, "clerk", B)
    body = rows(1)
    # Not among the authorities offered: the form refuses it.
    assert upload(other, to_csv(body), authority=make.authority(A).id).status_code == 400
    # Named in the file: that row is an error of the authority column.
    headers = [*HEADERS, "列入单位"]
    page = upload(other, to_csv([body[0] + [A]], headers=headers)).get_data(as_text=True)
    assert "无权导入" in page and "确认导入" not in page
    # And a forged confirmation for bureau A is refused.
    data = to_csv(body)
    clerk_a = _client(app, make, "clerk")
    fields = confirm_fields(upload(clerk_a, data).get_data(as_text=True))
    before = counts(session)
    assert confirm(other, fields).status_code == 403
    assert counts(session) == before


def test_clerk_cannot_publish(app, clerk, reviewer, session):
    body = rows(1)
    assert "由我审核并公示" not in clerk.get("/admin/import").get_data(as_text=True)
    assert "由我审核并公示" in reviewer.get("/admin/import").get_data(as_text=True)
    assert upload(clerk, to_csv(body), publish=True).status_code == 403
    fields = confirm_fields(upload(clerk, to_csv(body)).get_data(as_text=True))
    before = counts(session)
    assert confirm(clerk, fields | {"publish": "1"}).status_code == 403
    assert counts(session) == before


def test_tampered_or_unknown_hash_is_refused(clerk, session):
    fields = confirm_fields(upload(clerk, to_csv(rows(1))).get_data(as_text=True))
    before = counts(session)
    for digest in ("../../etc/passwd", "A" * 64, fields["sha256"][:-1], "0" * 64):
        response = confirm(clerk, fields | {"sha256": digest})
        assert response.status_code in (400, 404), digest
    assert counts(session) == before


def test_big_report_is_capped_with_an_and_more_line(clerk, monkeypatch):
    from registry.web.admin import imports

    monkeypatch.setattr(imports, "MAX_SHOWN", 2)
    body = rows(4)
    for row in body:
        row[3] = "Z9"  # no such ground
    text = upload(clerk, to_csv(body)).get_data(as_text=True)
    assert text.count('<tr class="problem-error">') == 2
    assert "另有2条问题未列出" in text


def test_a_refusal_while_applying_rolls_everything_back(clerk, session, monkeypatch):
    from registry.imports import ImportApplyError, apply_plan
    from registry.web.admin import imports

    def fail_after_writing(db, plan, **kw):
        apply_plan(db, plan, **kw)
        raise ImportApplyError(plan.rows[-1].number, "拒绝 / refused")

    monkeypatch.setattr(imports, "apply_plan", fail_after_writing)
    body = rows(2)
    fields = confirm_fields(upload(clerk, to_csv(body)).get_data(as_text=True))
    before = counts(session)
    response = confirm(clerk, fields)
    assert response.status_code == 409
    assert "导入失败，未写入任何记录" in response.get_data(as_text=True)
    assert counts(session) == before
    assert states(session, body) == []


def staged_hashes(session) -> list[str]:
    from sqlalchemy import select

    from registry.models import StagedUpload

    return list(session.scalars(select(StagedUpload.sha256)))
