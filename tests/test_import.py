"""Batch import of listings (docs/INTERFACES.md): parse → validate every row → apply
through the services in one transaction."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from stdnum.cn import uscc as uscc_mod

from registry import fakedata, rules
from registry.cli import import_command
from registry.db import Base
from registry.imports import apply_plan, read_bytes, validate
from registry.imports.validate import parse_date
from registry.messages import translate
from registry.models import Enterprise, Event, FormerName, Listing, Sanction
from tests.test_i18n import HAN as HAN_RE

HEADERS = list(fakedata.HEADERS)


def generated_rows(n: int = 40, seed: int = 11) -> list[dict[str, str]]:
    """Import rows from the data generator (D4 rows carry the source decision's end date)."""
    firms = fakedata.firms(n, seed=seed)
    entries = fakedata.listings(firms, seed=seed, end=rules.today() - timedelta(days=2))[:n]
    return list(fakedata.import_rows(entries))


def to_csv(rows, encoding: str = "utf-8-sig", chinese: bool = False) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    labels = fakedata.CHINESE_HEADERS
    writer.writerow([labels[h] if chinese else h for h in HEADERS])
    for row in rows:
        values = dict(row)
        if chinese:
            values["list"] = fakedata.LIST_TITLES[values["list"]]
        writer.writerow([values.get(h, "") for h in HEADERS])
    return out.getvalue().encode(encoding)


def to_xlsx(rows) -> bytes:
    """As Excel saves it: Chinese headers, real date cells, codes as numbers where they are."""
    workbook = Workbook()
    sheet = workbook.active
    labels = fakedata.CHINESE_HEADERS
    order = list(reversed(HEADERS))  # any column order
    sheet.append([labels[h] for h in order])
    for row in rows:
        values = []
        for h in order:
            value = row.get(h, "")
            if h in ("decided_on", "source_expires_on") and value:
                value = date.fromisoformat(value)
            elif h == "authority" and value.isdigit():
                value = int(value)
            elif h == "list":
                value = fakedata.LIST_TITLES[value]
            values.append(value or None)
        sheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def table_counts(session) -> dict[str, int]:
    session.flush()
    return {
        table.name: session.scalar(select(func.count()).select_from(table))
        for table in Base.metadata.sorted_tables
    }


def run_import(session, data: bytes, **kw):
    plan = validate(session, read_bytes(data), **kw)
    assert not plan.errors, [str(p) for p in plan.errors]
    return plan, apply_plan(session, plan, publisher=kw.get("publisher"))


def invoke(app, path, *args, lang="en"):
    """Run `registry import` with the console in `lang` (the POSIX LANGUAGE variable)."""
    return app.test_cli_runner().invoke(import_command, [str(path), *args], env={"LANGUAGE": lang})


# --- a generated file imports --------------------------------------------------------


def test_generated_file_imports_every_row_through_the_services(session):
    rows = generated_rows(40)
    before = table_counts(session)
    plan, result = run_import(session, to_csv(rows))
    after = table_counts(session)
    firms = {r["uscc"] for r in rows}
    decisions = {r["decision_no"] for r in rows if r["decision_no"]}
    assert result.listings == len(rows) == after["listing"] - before["listing"]
    assert result.enterprises == len(firms) == after["enterprise"] - before["enterprise"]
    assert after["licence"] - before["licence"] == len({r["licence_no"] for r in rows} - {""})
    assert after["sanction"] - before["sanction"] == len(decisions) == result.sanctions
    # every record has its history: create + submit per listing, at least
    assert after["event"] - before["event"] >= 2 * len(rows) + len(firms)
    imported = select(Listing.state).join(Listing.enterprise).where(Enterprise.uscc.in_(firms))
    assert set(session.scalars(imported)) == {"submitted"}  # waiting for review


def test_same_file_twice_changes_no_table(session):
    data = to_csv(generated_rows(30, seed=5))
    run_import(session, data)
    once = table_counts(session)
    plan, result = run_import(session, data)
    assert result.listings == 0 and result.unchanged == 30
    assert table_counts(session) == once


@pytest.mark.parametrize("form", ["gb18030", "xlsx", "utf-8-no-bom"])
def test_excel_and_gb18030_import_the_same_records_as_utf8(session, form):
    rows = generated_rows(25, seed=3)
    reference = validate(session, read_bytes(to_csv(rows)))
    if form == "xlsx":
        data = to_xlsx(rows)
    elif form == "gb18030":
        data = to_csv(rows, encoding="gb18030", chinese=True)
    else:
        data = to_csv(rows, encoding="utf-8", chinese=True)
    parsed = read_bytes(data, "list.xlsx" if form == "xlsx" else "list.csv")
    assert parsed.kind == ("xlsx" if form == "xlsx" else "csv")
    plan = validate(session, parsed)

    def records(p):
        return [
            (r.number, r.name, r.uscc, r.licence_no, r.ground.code, r.decided_on,
             r.authority.code, r.decision_no, r.facts, r.province_code, r.source_expires_on)
            for r in p.rows
        ]  # fmt: skip

    assert not plan.errors
    assert records(plan) == records(reference)
    apply_plan(session, plan)
    assert session.scalar(select(func.count(Listing.id))) >= 25


# --- the command ----------------------------------------------------------------------


def test_one_bad_row_in_the_middle_writes_nothing_and_names_row_and_column(app, session, tmp_path):
    rows = generated_rows(30, seed=8)
    broken = rows[14]["uscc"]
    rows[14]["uscc"] = broken[:17] + ("0" if broken[17] != "0" else "1")  # bad check character
    path = tmp_path / "list.csv"
    path.write_bytes(to_csv(rows))
    before = table_counts(session)
    result = invoke(app, path)
    assert result.exit_code != 0
    assert "row 16 · uscc · error" in result.output  # header is row 1
    assert "bad check character" in result.output
    assert "nothing was written" in result.output
    assert table_counts(session) == before


def test_skip_bad_imports_the_good_rows(app, session, tmp_path):
    rows = generated_rows(10, seed=9)
    rows[3]["ground"] = "Z9"
    path = tmp_path / "list.csv"
    path.write_bytes(to_csv(rows))
    before = session.scalar(select(func.count(Listing.id)))
    result = invoke(app, path, "--skip-bad")
    assert result.exit_code == 0, result.output
    assert "row 5 · ground · error: unknown ground “Z9”" in result.output
    assert session.scalar(select(func.count(Listing.id))) == before + 9


def test_import_problems_follow_the_console_language(app, session, tmp_path):
    rows = generated_rows(4, seed=10)
    uscc = rows[1]["uscc"]
    rows[1]["uscc"] = uscc[:17] + ("0" if uscc[17] != "0" else "1")  # bad check character
    rows[2]["ground"] = "Z9"
    path = tmp_path / "list.csv"
    path.write_bytes(to_csv(rows))
    english = invoke(app, path, "--dry-run", lang="en")
    assert english.exit_code != 0
    assert f"row 3 · uscc · error: USCC “{rows[1]['uscc']}” has a bad check character" in (
        english.output
    )
    assert "row 4 · ground · error: unknown ground “Z9”" in english.output
    assert not HAN_RE.search(english.output)
    chinese = invoke(app, path, "--dry-run", lang="zh_CN.UTF-8")
    assert chinese.exit_code != 0
    assert f"第3行 · uscc · 错误：统一社会信用代码“{rows[1]['uscc']}”校验码错误" in chinese.output
    assert "第4行 · ground · 错误：未知的列入事由“Z9”" in chinese.output
    assert "bad check character" not in chinese.output and "unknown ground" not in chinese.output


def test_dry_run_reports_and_writes_nothing(app, session, tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(to_csv(generated_rows(12, seed=4)))
    before = table_counts(session)
    result = invoke(app, path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "12" in result.output and "dry run" in result.output
    assert table_counts(session) == before


def test_import_speaks_chinese_on_a_chinese_console(app, session, tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(to_csv(generated_rows(3, seed=4)))
    result = invoke(app, path, "--dry-run", lang="zh_CN.UTF-8")
    assert result.exit_code == 0, result.output
    assert "3 行 · 可导入 3" in result.output and "试运行，未写入任何记录" in result.output
    assert "dry run" not in result.output


def test_cli_twice_second_run_is_unchanged(app, session, tmp_path):
    path = tmp_path / "list.xlsx"
    path.write_bytes(to_xlsx(generated_rows(8, seed=6)))
    first = invoke(app, path)
    assert first.exit_code == 0, first.output
    once = table_counts(session)
    second = invoke(app, path)
    assert second.exit_code == 0, second.output
    assert "unchanged 8" in second.output
    assert table_counts(session) == once


def test_publish_as_publishes_each_listing_as_that_reviewer(app, session, make, tmp_path):
    reviewer = make.user("reviewer", "MIIT")
    clerk = make.user("clerk", "MIIT")
    rows = generated_rows(10, seed=12)
    path = tmp_path / "list.csv"
    path.write_bytes(to_csv(rows))
    refused = invoke(app, path, "--publish-as", clerk.username)
    assert refused.exit_code != 0 and "reviewer" in refused.output
    result = invoke(app, path, "--publish-as", reviewer.username)
    assert result.exit_code == 0, result.output
    published = session.scalars(select(Listing).where(Listing.published_by_id == reviewer.id)).all()
    assert len(published) == 10
    for listing in published:
        assert listing.state == "published" and listing.listed_on == rules.today()
        # four eyes: the import (a system actor of the listing authority) submitted it
        assert listing.submitted_by_id != reviewer.id
        actions = dict(
            tuple(r)
            for r in session.execute(
                select(Event.action, Event.actor_label).where(
                    Event.entity_type == "listing", Event.entity_id == listing.id
                )
            )
        )
        assert actions["submit"] == "import" and actions["publish"] == reviewer.username
    # searchable and in the listings feed at once: the command catches the index up after
    # its commit, and the feed reads the publication log the import appended to
    client = app.test_client()
    feed = client.get("/feeds/listings.rss").get_data(as_text=True)
    for listing in published:
        firm = listing.enterprise
        found = client.get("/api/v1/search", query_string={"q": firm.uscc}).get_json()
        assert [item["uscc"] for item in found["results"]] == [firm.uscc]
        hits = client.get("/api/v1/search", query_string={"q": firm.name}).get_json()
        assert firm.uscc in {item["uscc"] for item in hits["results"]}
        assert firm.name in feed


def test_a_bureau_reviewer_cannot_publish_another_authoritys_rows(session, make):
    reviewer = make.actor("reviewer", "440000")
    rows = generated_rows(6, seed=13)
    rows[2]["authority"] = "110000"
    rows[2]["province"] = "北京"
    plan = validate(session, read_bytes(to_csv(rows)), publisher=reviewer)
    assert any(p.row == 4 and p.column == "authority" for p in plan.errors)


# --- row checks -----------------------------------------------------------------------


def valid_uscc(n: int) -> str:
    body = f"91440300MA{n:07d}"[:17]
    return body + uscc_mod.calc_check_digit(body)


def row(**values) -> dict[str, str]:
    base = {
        "name": "深圳市测试网络科技有限公司",
        "uscc": valid_uscc(1),
        "licence_no": "",
        "list": "bad",
        "ground": "B3",
        "decided_on": (rules.today() - timedelta(days=3)).isoformat(),
        "authority": "440000",
        "decision_no": "粤通管罚〔2026〕901号",
        "facts": "未按规定落实网络安全管理要求",
        "province": "",
        "source_expires_on": "",
    }
    return base | values


def problems_of(session, rows, **kw):
    plan = validate(session, read_bytes(to_csv(rows)), **kw)
    return plan, {(p.row, p.column, p.severity): p.message for p in plan.problems}


@pytest.mark.parametrize(
    ("values", "column", "says"),
    [
        ({"name": ""}, "name", "经营者名称"),
        ({"uscc": valid_uscc(2)[:17] + "Y"}, "uscc", "校验码"),
        ({"uscc": "", "licence_no": ""}, "uscc", "至少填写一项"),
        ({"list": "黑名单"}, "list", "名单类型"),
        ({"ground": "Z1"}, "ground", "未知的列入事由"),
        ({"ground": "D2"}, "ground", "不符"),  # a dishonesty ground on the bad list
        ({"authority": "999999"}, "authority", "未知的列入单位"),
        ({"province": "火星"}, "province", "未知的省份"),
        ({"decided_on": "2023-02-30"}, "decided_on", "不存在"),
        ({"decided_on": "30.02.2023"}, "decided_on", "格式不正确"),
        ({"decided_on": (rules.today() + timedelta(days=1)).isoformat()}, "decided_on", "晚于今天"),
        ({"list": "dishonest", "ground": "D4", "decision_no": ""}, "source_expires_on", "原决定"),
    ],
)
def test_bad_cell_is_reported_with_row_column_and_reason(session, values, column, says):
    plan, problems = problems_of(session, [row(uscc=valid_uscc(7), decision_no=""), row(**values)])
    assert not plan.rows or all(r.number == 2 for r in plan.rows)
    message = problems.get((3, column, "error"))
    assert message is not None, problems
    assert says in message and translate(message, "en") != message  # and in English


def test_catalogue_titles_names_and_province_forms_are_accepted(session, make):
    ground = make.ground("B3")
    rows = [
        row(ground=ground.title, list="不良名单", authority="广东省通信管理局", province="粤"),
        row(uscc=valid_uscc(3), decision_no="", province="广东", decided_on="2026年1月5日"),
        row(uscc=valid_uscc(4), decision_no="", province="440000", decided_on="2026/1/5"),
        row(uscc=valid_uscc(5), decision_no="", province="广东省", authority="210200"),
    ]
    plan, problems = problems_of(session, rows)
    assert not plan.errors, problems
    assert {r.province_code for r in plan.rows} == {"440000"}
    assert plan.rows[1].decided_on == date(2026, 1, 5)
    assert plan.rows[3].authority.code == "210200"  # Dalian
    assert parse_date(date(2020, 3, 15)) == date(2020, 3, 15)


def test_duplicate_row_in_the_file_is_an_error_on_the_second(session):
    plan, problems = problems_of(session, [row(), row(uscc=valid_uscc(9)), row()])
    assert "与第2行重复" in problems[(4, "decided_on", "error")]


def test_overdue_listing_is_a_warning_not_an_error(session):
    old = (rules.today() - timedelta(days=45)).isoformat()
    plan, problems = problems_of(session, [row(decided_on=old)])
    assert not plan.errors and len(plan.rows) == 1
    assert "30日" in problems[(2, "decided_on", "warning")]


def test_warnings_past_the_kept_ones_are_counted_and_the_batch_reports_them(
    app, session, tmp_path, monkeypatch
):
    """A file of late rows keeps the first warnings with their reasons (what every report
    shows) and counts the others: the command, the batch's counts and its row report."""
    import importlib

    from registry.models import ImportBatch

    # the package's `validate` is the function; the module holds the constant
    validate_module = importlib.import_module("registry.imports.validate")
    monkeypatch.setattr(validate_module, "WARNINGS_KEPT", 2)
    old = (rules.today() - timedelta(days=45)).isoformat()
    rows = [row(uscc=valid_uscc(40 + n), decided_on=old, decision_no="") for n in range(5)]
    plan, problems = problems_of(session, rows)
    assert plan.warning_count == 5 and plan.problem_count == 5
    assert [p.row for p in plan.warnings] == [2, 3]
    assert not plan.errors and len(plan.rows) == 5
    path = tmp_path / "late.csv"
    path.write_bytes(to_csv(rows))
    result = invoke(app, path, "--authority", "440000")
    assert result.exit_code == 0, result.output
    assert "warnings 5" in result.output or "警告 5" in result.output, result.output
    batch = session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
    assert batch.counts["problems"] == 5
    assert [p["row"] for p in batch.problems] == [2, 3]


def test_d2_listing_links_the_b3_decision_of_the_same_firm(session):
    """2018 notice: not carrying out a penalty puts the firm on the dishonesty list (D2);
    the listing reuses the B3 decision number, which is linked, not refused."""
    b3_day = rules.today() - timedelta(days=200)
    rows = [
        row(decided_on=b3_day.isoformat()),
        row(list="dishonest", ground="D2", facts="逾期不履行行政处罚决定"),
    ]
    plan, result = run_import(session, to_csv(rows))
    assert result.sanctions == 1 and result.sanctions_linked == 1
    sanction = session.scalar(
        select(Sanction).where(Sanction.decision_no == rows[0]["decision_no"])
    )
    assert sanction.decided_on == b3_day
    linked = session.scalars(select(Listing).where(Listing.sanction_id == sanction.id)).all()
    assert sorted(listing.ground.code for listing in linked) == ["B3", "D2"]
    # importing the D2 row again from a later file links the stored decision and skips it
    plan = validate(session, read_bytes(to_csv(rows[1:])))
    assert plan.unchanged == [2] and not plan.errors


def test_a_decision_number_of_another_firm_is_an_error(session):
    rows = [row(), row(uscc=valid_uscc(21), list="dishonest", ground="D2")]
    plan, problems = problems_of(session, rows)
    assert "另一经营者" in problems[(3, "decision_no", "error")]
    run_import(session, to_csv(rows[:1]))
    plan, problems = problems_of(session, rows[1:])
    assert "另一经营者" in problems[(2, "decision_no", "error")]


def test_known_firm_under_a_new_name_gets_a_former_name_not_a_twin(session):
    run_import(session, to_csv([row()]))
    firms = table_counts(session)["enterprise"]
    renamed = row(
        name="深圳市测试通信技术有限公司", ground="B2", decision_no="粤通管罚〔2026〕902号"
    )
    plan, result = run_import(session, to_csv([renamed]))
    assert result.enterprises == 0 and result.former_names == 1
    assert table_counts(session)["enterprise"] == firms
    assert session.scalar(
        select(FormerName.id).where(FormerName.name == "深圳市测试通信技术有限公司")
    )


def test_firm_without_uscc_is_matched_by_licence(session):
    first = row(uscc="", licence_no="粤B2-20100123", decision_no="")
    run_import(session, to_csv([first]))
    again = row(uscc="", licence_no="粤B2－20100123", ground="B2", decision_no="")
    plan, result = run_import(session, to_csv([again]))
    assert result.enterprises == 0 and result.listings == 1 and result.licences == 0


def test_an_imported_licence_has_the_canonical_number_the_forms_would_give(session):
    from registry import text
    from registry.models import Licence

    printed = "京icp證 000123号"
    run_import(session, to_csv([row(uscc="", licence_no=printed, decision_no="")]))
    licence = session.scalars(select(Licence)).one()
    assert licence.number == printed
    assert licence.number_canonical == text.canonical_licence(printed) == "京ICP000123"


def test_unreadable_files_get_a_clear_message(session):
    from registry.imports import ImportFileError

    with pytest.raises(ImportFileError, match="xlsx"):
        read_bytes(b"\xd0\xcf\x11\xe0old excel", "list.xls")
    with pytest.raises(ImportFileError, match="xlsx"):
        read_bytes(b"PK\x03\x04broken", "list.xlsx")
    with pytest.raises(ImportFileError, match="第1行应为表头") as info:
        read_bytes(b"a,b\n1,2\n")
    assert translate(info.value.message, "en").startswith("row 1 must be the header row")
    plan = validate(session, read_bytes("经营者名称,名单类型\nX公司,bad\n".encode()))
    assert {p.column for p in plan.errors} >= {"列入事由", "处理日期", "统一社会信用代码"}
