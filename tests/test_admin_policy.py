"""Who may call which /admin route (roles, four eyes, tenancy; docs/DOMAIN.md).

For every write route, every kind of user tries it on a record of bureau A: only the
allowed ones succeed, and for everyone else the database is unchanged (no Event)."""

from __future__ import annotations

import io
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from registry import rules
from registry.models import Event
from registry.services import evidence, listings, notices, petitions, sanctions
from tests.factories import csrf_token, login

A, B, MINISTRY = "440000", "110000", "MIIT"
WHO = [
    "clerk_a",
    "reviewer_a",
    "admin_a",
    "clerk_b",
    "reviewer_b",
    "admin_b",
    "clerk_m",
    "reviewer_m",
    "admin_m",
    "anonymous",
]
BUREAU_A = {"clerk_a", "reviewer_a"}
REVIEWER_A_OR_MINISTRY = {"reviewer_a", "reviewer_m"}
ANY_REGULATOR = BUREAU_A | {"clerk_b", "reviewer_b", "clerk_m", "reviewer_m"}


def _days_ago(n: int) -> str:
    return (rules.today() - timedelta(days=n)).isoformat()


# Each case: (endpoint, who may, setup(make, users) -> (url, form data)).
def _enterprise(make, u):
    return make.enterprise(u["clerk_a"].actor)


def _sanction(make, u, state="draft"):
    clerk = u["clerk_a"].actor
    record = make.sanction(clerk, _enterprise(make, u))
    if state in ("submitted", "published"):
        sanctions.submit_sanction(make.session, clerk, record)
    if state == "published":
        sanctions.publish_sanction(make.session, u["reviewer_a"].actor, record)
    return record


def _listing(make, u, state="draft"):
    clerk = u["clerk_a"].actor
    record = make.listing(clerk)
    if state in ("submitted", "published"):
        listings.submit_listing(make.session, clerk, record)
    if state == "published":
        listings.publish_listing(make.session, u["reviewer_a"].actor, record)
    return record


def _enterprise_data(make):
    from tests.factories import new_uscc

    return {
        "name": "广州市策略测试网络科技有限公司",
        "uscc": new_uscc(),
        "province_code": A,
        "kind": "value_added",
    }


def case_enterprise_new(make, u):
    return "/admin/enterprises/new", _enterprise_data(make)


def case_enterprise_edit(make, u):
    e = _enterprise(make, u)
    data = _enterprise_data(make) | {"uscc": e.uscc, "version_id": e.version_id}
    return f"/admin/enterprises/{e.id}/edit", data


def case_licence_add(make, u):
    e = _enterprise(make, u)
    return f"/admin/enterprises/{e.id}/licences", {
        "number": f"粤B2-2026{e.id:04d}",
        "status": "valid",
    }


def case_former_name_add(make, u):
    e = _enterprise(make, u)
    return f"/admin/enterprises/{e.id}/former-names", {"former_name": f"旧名称{e.id}有限公司"}


def _sanction_data(n, case):
    # A number of its own: the factory numbers its sanctions 〔2026〕1号, 2号, … (a shared
    # counter), and the new and edit cases number by different ids.
    return {
        "decision_no": f"粤通管罚〔2026〕{case}{n}号",
        "decided_on": _days_ago(3),
        "measures": ["warning"],
        "facts": "未按规定报送年报",
    }


def case_sanction_new(make, u):
    e = _enterprise(make, u)
    return f"/admin/enterprises/{e.id}/sanctions/new", _sanction_data(e.id, "新")


def case_sanction_edit(make, u):
    s = _sanction(make, u)
    return f"/admin/sanctions/{s.id}/edit", _sanction_data(s.id, "改") | {
        "version_id": s.version_id
    }


def _transition(kind, state, action, reason=""):
    def case(make, u):
        record = (_sanction if kind == "sanction" else _listing)(make, u, state)
        data = {"version_id": record.version_id}
        if reason:
            data["reason"] = reason
        return f"/admin/{kind}s/{record.id}/{action}", data

    return case


def case_listing_new(make, u):
    e = _enterprise(make, u)
    return f"/admin/enterprises/{e.id}/listings/new", {
        "ground": make.ground("B3").id,
        "decided_on": _days_ago(4),
        "sanction": 0,
    }


def case_listing_edit(make, u):
    item = _listing(make, u)
    return f"/admin/listings/{item.id}/edit", {
        "ground": make.ground("B2").id,
        "decided_on": _days_ago(6),
        "sanction": 0,
        "version_id": item.version_id,
    }


_slugs = itertools.count(1)


def _notice(make, u, state="draft"):
    clerk = u["clerk_a"].actor
    record = notices.create_notice(
        make.session, clerk, slug=f"policy-notice-{next(_slugs)}", title="2026年第三季度曝光公告"
    )
    if state == "submitted":
        notices.transition_notice(make.session, clerk, record, "submit")
    return record


def case_notice_new(make, u):
    return "/admin/notices/new", {
        "slug": f"policy-new-{next(_slugs)}",
        "kind": "exposure",
        "title": "曝光公告",
        "body_md": "正文",
    }


def case_notice_edit(make, u):
    n = _notice(make, u)
    return f"/admin/notices/{n.id}/edit", {
        "slug": n.slug,
        "kind": n.kind,
        "title": "修改后的标题",
        "version_id": n.version_id,
    }


def _notice_transition(state, action, reason=""):
    def case(make, u):
        n = _notice(make, u, state)
        return f"/admin/notices/{n.id}/{action}", {"version_id": n.version_id, "reason": reason}

    return case


def case_petition_new(make, u):
    item = _listing(make, u, "published")
    return f"/admin/listings/{item.id}/petitions/new", {
        "kind": "objection",
        "petitioner": "某某网络科技有限公司",
        "received_on": _days_ago(1),
        "statement": "已于处理日期前整改",
    }


def case_petition_decide(make, u):
    item = _listing(make, u, "published")
    petition = petitions.record_petition(
        make.session,
        u["clerk_a"].actor,
        item,
        kind="credit_repair",
        petitioner="某某网络科技有限公司",
        received_on=rules.today() - timedelta(days=2),
    )
    return f"/admin/petitions/{petition.id}/decide", {
        "outcome_state": "rejected",
        "outcome": "不符合信用修复条件",
        "version_id": petition.version_id,
    }


PDF = b"%PDF-1.7\n%%EOF\n"


def _submission(make, u, state="received"):
    """A public objection to a published listing of bureau A, taken to `state`."""
    from registry.services import casework
    from registry.services.submissions import Intake, IntakeLimits, file_submission

    item = _listing(make, u, "published")
    limits = IntakeLimits(
        "s" * 40, 10**6, 10**6, 5, 10**6, getattr(make, "evidence_dir", "/tmp"), 3, 15
    )
    submission, _code = file_submission(
        make.session,
        Intake("objection", name="某某公司", capacity="firm", phone="1", statement="有误"),
        authority=item.authority,
        listing=item,
        address=f"192.0.2.{next(_ADDRESSES)}",
        limits=limits,
    )
    clerk = u["clerk_a"].actor
    if state in ("accepted", "proposed"):
        casework.accept(make.session, clerk, submission)
    if state == "proposed":
        casework.propose(
            make.session, clerk, submission, outcome="upheld", effect="annul", reason="列入错误"
        )
    return submission


_ADDRESSES = itertools.count(1)


def _submission_case(state: str, action: str, **data):
    def case(make, u):
        submission = _submission(make, u, state)
        values = {"version_id": submission.version_id} | data
        if action == "assign":
            values["user_id"] = u["clerk_a"].user.id
        return f"/admin/submissions/{submission.id}/{action}", values

    return case


def case_repair_rule_edit(make, u):
    ground = make.ground("B3")
    return f"/admin/repair-rules/{ground.id}", {
        "proof": "整改完成的证明",
        "accept_days": "3",
        "decide_days": "10",
        "active": "y",
    }


def case_evidence_upload_sanction(make, u):
    s = _sanction(make, u)
    return f"/admin/sanctions/{s.id}/evidence", {"file": (io.BytesIO(PDF), "决定书.pdf")}


def case_evidence_upload_listing(make, u):
    item = _listing(make, u)
    return f"/admin/listings/{item.id}/evidence", {"file": (io.BytesIO(PDF), "证据.pdf")}


def _evidence(make, u):
    return evidence.add_evidence(
        make.session,
        u["clerk_a"].actor,
        _sanction(make, u),
        data=PDF,
        filename="决定书.pdf",
        evidence_dir=make.evidence_dir,
        max_bytes=10_000,
    )


def case_evidence_retract(make, u):
    row = _evidence(make, u)
    return f"/admin/evidence/{row.id}/retract", {"version_id": row.version_id, "reason": "传错文件"}


def case_evidence_public(make, u):
    row = _evidence(make, u)
    return f"/admin/evidence/{row.id}/public", {"version_id": row.version_id, "public": "1"}


def case_user_create(make, u):
    return "/admin/users", {
        "username": f"policy-user-{next(_slugs)}",
        "authority": make.authority(A).id,
        "role": "clerk",
        "password": "a long enough password",
        "confirm": "a long enough password",
    }


def case_user_disable(make, u):
    target = make.user("clerk", A)
    return f"/admin/users/{target.id}/disable", {"reason": "调离岗位"}


def case_ground_new(make, u):
    return "/admin/grounds/new", {
        "code": f"X{next(_slugs)}",
        "list_code": "dishonest",
        "title": "拒不履行行政处罚决定",
        "term_kind": "fixed",
        "term_months": "60",
        "removal_rule": "expiry_only",
        "active": "y",
    }


def case_ground_edit(make, u):
    g = make.ground("B2")
    make.session.refresh(g)
    return f"/admin/grounds/{g.id}/edit", {
        "title": g.title,
        "legal_basis": g.legal_basis,
        "term_kind": "fixed",
        "term_months": "24",
        "removal_rule": g.removal_rule,
        "active": "y",
        "version_id": g.version_id,
    }


def case_campaign_new(make, u):
    return "/admin/campaigns/new", {
        "slug": f"policy-campaign-{next(_slugs)}",
        "name": f"策略专项行动{next(_slugs)}",
        "starts_on": "2021-03-01",
        "lead_authority_id": make.authority("MIIT").id,
        "legal_basis": "工信厅通信函〔2020〕162号",
    }


def case_campaign_edit(make, u):
    c = make.campaign()
    return f"/admin/campaigns/{c.id}/edit", {
        "name": c.name,
        "starts_on": "2020-06-01",
        "ends_on": "2020-12-31",
        "lead_authority_id": c.lead_authority_id,
        "version_id": c.version_id,
    }


def _import_file() -> bytes:
    """One new firm's listing in the import format (a new USCC each time: never unchanged)."""
    from tests.factories import new_uscc

    header = "经营者名称,统一社会信用代码,名单类型,列入事由,处理日期\n"
    row = f"广州市策略导入{next(_slugs)}网络科技有限公司,{new_uscc()},不良名单,B3,{_days_ago(3)}\n"
    return (header + row).encode()


def case_import_upload(make, u):
    return "/admin/import", {
        "file": (io.BytesIO(_import_file()), "名单.csv"),
        "authority": make.authority(A).id,
    }


def case_import_confirm(make, u):
    from registry.services.staging import stage

    digest = stage(make.session, _import_file())
    return "/admin/import/confirm", {
        "sha256": digest,
        "authority": make.authority(A).id,
        "publish": "",
    }


def case_notice_draft(make, u):
    _listing(make, u, "published")
    today = rules.today()
    return "/admin/notices/draft", {
        "kind": "exposure",
        "year": today.year,
        "quarter": (today.month - 1) // 3 + 1,
        "list_code": "bad",
        "authority": make.authority(A).id,
    }


def _bulk_case(action: str, by_batch: bool):
    """Bulk review of a batch clerk A imported: by the batch's route, or by the filtered
    view of /admin/listings (every submitted listing the reviewer sees)."""

    def case(make, u):
        from registry.models import Listing

        batch = make.import_batch(u["clerk_a"].actor)
        data = {"reason": "批量退回"} if action == "return" else {}
        if by_batch:
            return f"/admin/imports/{batch.id}/{action}", data | {"expected": 1}
        waiting = make.session.scalar(
            select(func.count(Listing.id)).where(Listing.state == "submitted")
        )
        return f"/admin/listings/bulk-{action}", data | {"expected": waiting}

    return case


# Writes that check and show, and write nothing to the database: the import's upload step
# answers with its validation report (200) and keeps the file for the confirmation.
CHECK_ONLY = {"admin.import_upload"}
# A bureau imports its own listings; the ministry may import on a bureau's behalf.
IMPORTERS = BUREAU_A | {"clerk_m", "reviewer_m"}

CASES = {
    "admin.enterprise_new": (ANY_REGULATOR, case_enterprise_new),
    "admin.enterprise_edit": (BUREAU_A, case_enterprise_edit),
    "admin.licence_add": (BUREAU_A, case_licence_add),
    "admin.former_name_add": (BUREAU_A, case_former_name_add),
    # A new record is the actor's own authority's, on any firm (a bureau penalises a firm
    # another authority registered).
    "admin.sanction_new": (ANY_REGULATOR, case_sanction_new),
    "admin.sanction_edit": (BUREAU_A, case_sanction_edit),
    "admin.sanction_submit": (BUREAU_A, _transition("sanction", "draft", "submit")),
    "admin.sanction_return": (
        REVIEWER_A_OR_MINISTRY,
        _transition("sanction", "submitted", "return", "文号有误"),
    ),
    "admin.sanction_publish": (
        REVIEWER_A_OR_MINISTRY,
        _transition("sanction", "submitted", "publish"),
    ),
    "admin.sanction_annul": (
        {"reviewer_a"},
        _transition("sanction", "published", "annul", "复议撤销"),
    ),
    "admin.listing_new": (ANY_REGULATOR, case_listing_new),
    "admin.listing_edit": (BUREAU_A, case_listing_edit),
    "admin.listing_submit": (BUREAU_A, _transition("listing", "draft", "submit")),
    "admin.listing_return": (
        REVIEWER_A_OR_MINISTRY,
        _transition("listing", "submitted", "return", "事由有误"),
    ),
    "admin.listing_publish": (
        REVIEWER_A_OR_MINISTRY,
        _transition("listing", "submitted", "publish"),
    ),
    "admin.listing_remove": (
        {"reviewer_a"},
        _transition("listing", "published", "remove", "已整改"),
    ),
    "admin.notice_new": (ANY_REGULATOR, case_notice_new),
    "admin.notice_edit": (BUREAU_A, case_notice_edit),
    "admin.notice_submit": (BUREAU_A, _notice_transition("draft", "submit")),
    "admin.notice_return": (
        REVIEWER_A_OR_MINISTRY,
        _notice_transition("submitted", "return", "标题有误"),
    ),
    "admin.notice_publish": (REVIEWER_A_OR_MINISTRY, _notice_transition("submitted", "publish")),
    "admin.petition_new": (BUREAU_A, case_petition_new),
    "admin.petition_decide": ({"reviewer_a"}, case_petition_decide),
    "admin.evidence_upload_sanction": (BUREAU_A, case_evidence_upload_sanction),
    "admin.evidence_upload_listing": (BUREAU_A, case_evidence_upload_listing),
    "admin.evidence_retract": ({"reviewer_a"}, case_evidence_retract),
    "admin.evidence_public": ({"reviewer_a"}, case_evidence_public),
    "admin.users": ({"admin_a", "admin_m"}, case_user_create),
    "admin.user_disable": ({"admin_a", "admin_m"}, case_user_disable),
    # The catalogue is national: only the ministry's admins change it.
    "admin.ground_new": ({"admin_m"}, case_ground_new),
    "admin.ground_edit": ({"admin_m"}, case_ground_edit),
    "admin.campaign_new": ({"admin_m"}, case_campaign_new),
    "admin.campaign_edit": ({"admin_m"}, case_campaign_edit),
    "admin.listing_annul": (
        {"reviewer_a"},
        _transition("listing", "published", "annul", "列入错误"),
    ),
    "admin.submission_accept": (BUREAU_A, _submission_case("received", "accept")),
    "admin.submission_refuse": (
        BUREAU_A,
        _submission_case("received", "refuse", reason="材料不全"),
    ),
    "admin.submission_assign": (BUREAU_A, _submission_case("received", "assign")),
    "admin.submission_note": (BUREAU_A, _submission_case("received", "note", body="已电话核实")),
    "admin.submission_propose": (
        BUREAU_A,
        _submission_case("accepted", "propose", outcome="upheld", effect="annul", reason="有误"),
    ),
    "admin.submission_decide": (
        {"reviewer_a"},
        _submission_case("accepted", "decide", outcome="rejected", reason="理由不成立"),
    ),
    # Four eyes: the clerk proposed; a reviewer of the handling authority confirms.
    "admin.submission_confirm": ({"reviewer_a"}, _submission_case("proposed", "confirm")),
    "admin.submission_return_proposal": (
        {"reviewer_a"},
        _submission_case("proposed", "return_proposal", reason="证据不足"),
    ),
    "admin.repair_rule_edit": ({"admin_m"}, case_repair_rule_edit),
    "admin.import_upload": (IMPORTERS, case_import_upload),
    "admin.import_confirm": (IMPORTERS, case_import_confirm),
    # Bureau A's reviewer, or the ministry's on the bureau's behalf; another bureau's
    # reviewer sees none of the records (its view is empty: 400) or not the batch (404).
    "admin.import_batch_publish": (REVIEWER_A_OR_MINISTRY, _bulk_case("publish", True)),
    "admin.import_batch_return": (REVIEWER_A_OR_MINISTRY, _bulk_case("return", True)),
    "admin.listings_bulk_publish": (REVIEWER_A_OR_MINISTRY, _bulk_case("publish", False)),
    "admin.listings_bulk_return": (REVIEWER_A_OR_MINISTRY, _bulk_case("return", False)),
    # A notice drafted from bureau A's listings: by the bureau, or by the ministry, which
    # reads every bureau's records; another bureau is not offered A (400).
    "admin.notice_draft": (IMPORTERS, case_notice_draft),
}


@pytest.fixture
def users(make):
    return {
        "clerk_a": make.user("clerk", A),
        "reviewer_a": make.user("reviewer", A),
        "clerk_b": make.user("clerk", B),
        "reviewer_b": make.user("reviewer", B),
        "clerk_m": make.user("clerk", MINISTRY),
        "reviewer_m": make.user("reviewer", MINISTRY),
        "admin_a": make.user("admin", A),
        "admin_b": make.user("admin", B),
        "admin_m": make.user("admin", MINISTRY),
    }


@pytest.fixture
def clients(app, users):
    made = {"anonymous": app.test_client()}
    for name, user in users.items():
        client = app.test_client()
        assert login(client, user).status_code == 302
        made[name] = client
    return made


def _actors(users):
    from registry.services.accounts import actor_for

    class U:
        def __init__(self, user):
            self.user = user
            self.actor = actor_for(user)

    return {name: U(user) for name, user in users.items()}


def _events(session) -> int:
    return session.scalar(select(func.count(Event.id)))


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_write_route_matrix(endpoint, app, make, session, users, clients):
    allowed, setup = CASES[endpoint]
    make.evidence_dir = app.config["EVIDENCE_DIR"]
    actors = _actors(users)
    for who in WHO:
        url, data = setup(make, actors)
        session.flush()
        before = _events(session)
        client = clients[who]
        response = client.post(url, data=data | {"csrf_token": csrf_token(client)})
        after = _events(session)
        if who in allowed and endpoint in CHECK_ONLY:
            assert response.status_code == 200, (who, url, response.get_data(as_text=True)[:2000])
            assert after == before, (who, url)
        elif who in allowed:
            assert response.status_code == 302, (who, url, response.get_data(as_text=True)[:2000])
            assert "/admin/login" not in response.headers["Location"]
            assert after > before, (who, url)
        else:
            if who == "anonymous":
                assert response.status_code == 302
                assert "/admin/login" in response.headers["Location"]
            else:
                # 403/404 from the policy; 400 when the form cannot even name the target
                # (e.g. another bureau's authority is not among an admin's choices).
                assert response.status_code in (400, 403, 404), (who, url, response.status_code)
            assert after == before, (who, url)


def test_every_admin_route_declares_its_policy(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            view = app.view_functions[rule.endpoint]
            assert getattr(view, "required_action", None) in {
                a for actions in rules.ROLE_ACTIONS.values() for a in actions
            }, rule.endpoint


def test_every_admin_write_route_is_in_the_matrix(app):
    writes = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.") and "POST" in (rule.methods or ())
    }
    assert writes <= set(CASES), sorted(writes - set(CASES))


def test_other_bureau_record_reads_as_404_and_ministry_reads_it(make, users, clients):
    actors = _actors(users)
    listing = _listing(make, actors)
    sanction = _sanction(make, actors)
    make.session.flush()
    for url in (f"/admin/listings/{listing.id}", f"/admin/sanctions/{sanction.id}"):
        assert clients["clerk_b"].get(url).status_code == 404
        assert clients["reviewer_b"].get(url).status_code == 404
        assert clients["clerk_a"].get(url).status_code == 200
        assert clients["reviewer_m"].get(url).status_code == 200


def test_firms_are_shared_but_other_bureaus_records_on_them_are_not(make, users, clients):
    actors = _actors(users)
    listing = _listing(make, actors)
    make.session.flush()
    page = clients["clerk_b"].get(f"/admin/enterprises/{listing.enterprise_id}")
    assert page.status_code == 200
    assert f"/admin/listings/{listing.id}" not in page.get_data(as_text=True)
    edit = clients["clerk_b"].get(f"/admin/enterprises/{listing.enterprise_id}/edit")
    assert edit.status_code == 403


def test_post_without_csrf_token_writes_nothing(make, session, users, clients):
    actors = _actors(users)
    listing = _listing(make, actors, "submitted")
    session.flush()
    before = _events(session)
    response = clients["reviewer_a"].post(
        f"/admin/listings/{listing.id}/publish", data={"version_id": listing.version_id}
    )
    assert response.status_code == 400
    assert _events(session) == before
