"""The campaign column (专项行动 / campaign) of the import format: checked against the
catalogue by name or slug, written onto the listings, and carried by the exports so that an
exported file imports elsewhere with the same campaigns. And the migration that turned the
free-text campaign of a sanction into a catalogue row."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import Date, bindparam, text
from sqlalchemy.orm import Session

from registry import rules
from registry.db import make_engine
from registry.imports import apply_plan, read_bytes, validate
from registry.messages import translate
from registry.migrate import downgrade, upgrade
from registry.models import Listing
from registry.rules import Actor
from registry.services.accounts import actor_for
from registry.services.reference import seed
from tests.conftest import BACKENDS, create_database
from tests.factories import Factory, new_uscc

HEADER = ["经营者名称", "统一社会信用代码", "名单类型", "列入事由", "处理日期", "列入单位"]


def _file(rows: list[list[str]], campaign_header: str = "专项行动") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*HEADER, campaign_header])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def _row(campaign: str, n: int) -> list[str]:
    day = (rules.today() - timedelta(days=3)).isoformat()
    return [
        f"广州市专项导入{n}网络科技有限公司",
        new_uscc(),
        "不良名单",
        "B3",
        day,
        "440000",
        campaign,
    ]


def _catalogue(make: Factory) -> None:
    make.campaign("broadband-buildings", name="商务楼宇宽带垄断专项整治")
    make.campaign("anti-fraud", name="防范治理电信网络诈骗专项行动")


@pytest.mark.parametrize("header", ["专项行动", "campaign"])
def test_campaign_column_takes_a_name_or_a_slug_and_tags_the_listing(session, make, header):
    _catalogue(make)
    rows = [
        _row("商务楼宇宽带垄断专项整治", 1),
        _row("ANTI-FRAUD", 2),  # slugs compare without case
        _row(" 商务楼宇宽带垄断专项整治 ", 3),
        _row("", 4),  # no campaign
    ]
    plan = validate(session, read_bytes(_file(rows, header)))
    assert not plan.errors, [str(p) for p in plan.errors]
    apply_plan(session, plan)
    session.flush()
    tagged = dict(
        session.execute(
            text(
                "SELECT e.name, c.slug FROM listing l JOIN enterprise e ON e.id = l.enterprise_id"
                " LEFT JOIN campaign c ON c.id = l.campaign_id"
            )
        ).all()
    )
    assert {name[7]: slug for name, slug in tagged.items() if "专项导入" in name} == {
        "1": "broadband-buildings",
        "2": "anti-fraud",
        "3": "broadband-buildings",
        "4": None,
    }


def test_unknown_campaign_is_an_error_with_row_column_and_the_known_slugs(session, make):
    _catalogue(make)
    plan = validate(session, read_bytes(_file([_row("反诈", 1), _row("anti-fraud", 2)])))
    [problem] = plan.errors
    assert (problem.row, problem.column) == (2, "专项行动")
    assert "反诈" in problem.message and "anti-fraud" in problem.message
    assert "Unknown campaign" in translate(problem.message, "en")
    assert [r.number for r in plan.rows] == [3]


def _export_rows(client) -> list[dict[str, str]]:
    raw = client.get("/data/listings.csv").get_data().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(raw)))


def test_campaign_round_trips_through_export_and_import(app, client, session, make, tmp_path):
    """Listings imported with campaigns and published are exported with the campaign's
    name; that export imports into another registry with the same catalogue, where each
    listing carries the same campaign."""
    _catalogue(make)
    reviewer = actor_for(make.user("reviewer", "440000"))
    rows = [_row("broadband-buildings", 1), _row("防范治理电信网络诈骗专项行动", 2), _row("", 3)]
    plan = validate(session, read_bytes(_file(rows)), publisher=reviewer)
    assert not plan.errors
    apply_plan(session, plan, publisher=reviewer)
    session.flush()
    exported = [r for r in _export_rows(client) if "专项导入" in r["经营者名称"]]
    sent = {r["统一社会信用代码"]: r["专项行动"] for r in exported}
    assert sorted(sent.values()) == ["", "商务楼宇宽带垄断专项整治", "防范治理电信网络诈骗专项行动"]

    url, drop = create_database("sqlite", tmp_path)
    engine = make_engine(url)
    try:
        upgrade(engine)
        with Session(engine) as other:
            seed(other, Actor(None, "test", "system", 0, True))
            _catalogue(Factory(other))
            body = io.StringIO()
            writer = csv.DictWriter(body, fieldnames=list(exported[0]))
            writer.writeheader()
            writer.writerows(exported)
            plan = validate(other, read_bytes(body.getvalue().encode("utf-8")))
            assert not plan.errors, [str(p) for p in plan.errors]
            apply_plan(other, plan)
            other.flush()
            received = {
                uscc: name or ""
                for uscc, name in other.execute(
                    text(
                        "SELECT e.uscc, c.name FROM listing l"
                        " JOIN enterprise e ON e.id = l.enterprise_id"
                        " LEFT JOIN campaign c ON c.id = l.campaign_id"
                    )
                )
            }
            assert received == sent
    finally:
        engine.dispose()
        drop()


def test_export_names_the_campaign_of_each_listing_in_force(client, session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    campaign = make.campaign("exported", name="导出专项")
    tagged = make.published_listing(clerk, reviewer, campaign=campaign)
    plain = make.published_listing(clerk, reviewer)
    session.flush()
    by_uscc = {r["统一社会信用代码"]: r["专项行动"] for r in _export_rows(client)}
    assert by_uscc[tagged.enterprise.uscc] == "导出专项"
    assert by_uscc[plain.enterprise.uscc] == ""
    data = client.get("/data/listings.json").get_json()
    assert {row["uscc"]: row["campaign"] for row in data["listings"]}[
        tagged.enterprise.uscc
    ] == "导出专项"
    assert session.get(Listing, tagged.id).campaign_id == campaign.id


# --- the migration ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_turns_free_text_campaigns_into_catalogue_rows_and_back(backend, tmp_path):
    """Each distinct tag becomes one campaign led by the ministry from its earliest
    decision; the sanctions point at it; going down writes the names back."""
    url, drop = create_database(backend, tmp_path)
    engine = make_engine(url)
    try:
        upgrade(engine, "1c4805db920d")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO authority (id, code, name, short, level)"
                    " VALUES (1, 'MIIT', '工业和信息化部', '工', 'ministry')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO enterprise (id, name, kind, address, authority_id, created_at,"
                    " updated_at, version_id) VALUES (1, '甲公司', 'other', '', 1,"
                    " '2020-01-01 00:00:00', '2020-01-01 00:00:00', 1)"
                )
            )
            for n, (campaign, day) in enumerate(
                [("宽带专项", "2020-07-01"), ("宽带专项", "2020-06-01"), ("", "2020-08-01")]
            ):
                conn.execute(
                    text(
                        "INSERT INTO sanction (authority_id, enterprise_id, decision_no,"
                        " decision_no_canonical, decided_on, facts, legal_basis, measures,"
                        " campaign, state, created_at, updated_at, version_id) VALUES (1, 1,"
                        " :no, :no, :day, '', '', '[]', :campaign, 'draft',"
                        " '2020-01-01 00:00:00', '2020-01-01 00:00:00', 1)"
                    ).bindparams(bindparam("day", type_=Date)),
                    {
                        "no": f"工罚〔2020〕{n}号",
                        "day": date.fromisoformat(day),
                        "campaign": campaign,
                    },
                )
        upgrade(engine)
        with engine.connect() as conn:
            [(cid, name, starts_on, lead)] = conn.execute(
                text("SELECT id, name, starts_on, lead_authority_id FROM campaign")
            ).all()
            assert (name, str(starts_on), lead) == ("宽带专项", "2020-06-01", 1)
            tags = conn.execute(text("SELECT campaign_id FROM sanction ORDER BY id")).scalars()
            assert list(tags) == [cid, cid, None]
        downgrade(engine, "1c4805db920d")
        with engine.connect() as conn:
            tags = conn.execute(text("SELECT campaign FROM sanction ORDER BY id")).scalars()
            assert list(tags) == ["宽带专项", "宽带专项", ""]
    finally:
        engine.dispose()
        drop()


def test_campaign_column_is_documented_in_the_data_package(client):
    fields = client.get("/data/datapackage.json").get_json()["resources"][0]["schema"]["fields"]
    assert "专项行动" in {f["name"] for f in fields} | {f["title"].split(" / ")[0] for f in fields}


def test_a_penalty_decision_the_import_creates_carries_the_rows_campaign(session, make):
    _catalogue(make)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*HEADER, "处罚决定书文号", "专项行动"])
    writer.writerow([*_row("anti-fraud", 7)[:-1], "粤通管罚〔2026〕77号", "anti-fraud"])
    writer.writerow([*_row("", 8)[:-1], "粤通管罚〔2026〕78号", ""])
    plan = validate(session, read_bytes(out.getvalue().encode("utf-8-sig")))
    assert not plan.errors, [str(p) for p in plan.errors]
    apply_plan(session, plan)
    session.flush()
    tags = dict(
        session.execute(
            text(
                "SELECT s.decision_no, c.slug FROM sanction s"
                " LEFT JOIN campaign c ON c.id = s.campaign_id"
                " WHERE s.decision_no LIKE '粤通管罚〔2026〕7%'"
            )
        ).all()
    )
    assert tags == {"粤通管罚〔2026〕77号": "anti-fraud", "粤通管罚〔2026〕78号": None}
