"""Back-office pages: forms, the workflow buttons, optimistic locking, history,
the dashboard. Everything goes through the Flask test client as a regulator would."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from registry import rules
from registry.models import Enterprise, Event, Listing, Sanction
from registry.services import listings
from tests.factories import csrf_token, login, new_uscc, post

A = "440000"


@pytest.fixture
def clerk(make):
    return make.user("clerk", A)


@pytest.fixture
def reviewer(make):
    return make.user("reviewer", A)


def _as(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def _events(session) -> int:
    return session.scalar(select(func.count(Event.id)))


def test_uscc_checksum_error_is_shown_at_the_field(app, clerk, session):
    client = _as(app, clerk)
    good = new_uscc()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    before = _events(session)
    response = post(
        client,
        "/admin/enterprises/new",
        {"name": "深圳市校验测试科技有限公司", "uscc": bad, "province_code": A, "kind": "basic"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    field_error = re.search(r'<ul class="errors" id="uscc-error">(.*?)</ul>', page, re.S)
    assert field_error and "校验" in field_error.group(1)
    assert 'aria-invalid="true"' in page
    assert _events(session) == before


def test_regulator_flow_firm_sanction_listing_review_publish(app, clerk, reviewer, session):
    """Create firm → sanction → listing → submit → a second person publishes; the expiry is
    fixed at publication from the ground's term (2018 notice) and shown on the page."""
    c = _as(app, clerk)
    uscc = new_uscc()
    r = post(
        c,
        "/admin/enterprises/new",
        {
            "name": "深圳市流程测试网络科技有限公司",
            "uscc": uscc,
            "province_code": A,
            "kind": "value_added",
        },
    )
    assert r.status_code == 302
    firm = session.scalar(select(Enterprise).where(Enterprise.uscc == uscc))
    decided = (rules.today() - timedelta(days=3)).isoformat()
    r = post(
        c,
        f"/admin/enterprises/{firm.id}/sanctions/new",
        {
            "decision_no": "粤通管罚〔2026〕501号",
            "decided_on": decided,
            "measures": ["fine", "rectify"],
            "fine_amount": "30000",
            "facts": "擅自经营互联网数据中心业务",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    sanction = session.scalar(select(Sanction).where(Sanction.enterprise_id == firm.id))
    assert post(c, f"/admin/sanctions/{sanction.id}/submit", {"version_id": 1}).status_code == 302
    from registry.models import Ground

    ground = session.scalar(select(Ground).where(Ground.code == "B3"))
    r = post(
        c,
        f"/admin/enterprises/{firm.id}/listings/new",
        {"ground": ground.id, "decided_on": decided, "sanction": sanction.id},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    listing = session.scalar(select(Listing).where(Listing.enterprise_id == firm.id))
    assert post(c, f"/admin/listings/{listing.id}/submit", {"version_id": 1}).status_code == 302
    # The clerk cannot publish (role), the reviewer can.
    assert post(c, f"/admin/listings/{listing.id}/publish", {"version_id": 2}).status_code == 403
    rv = _as(app, reviewer)
    assert rv.get("/admin/").get_data(as_text=True).count(firm.name) >= 1  # waiting for review
    assert post(rv, f"/admin/listings/{listing.id}/publish", {"version_id": 2}).status_code == 302
    session.expire_all()
    listing = session.get(Listing, listing.id)
    assert listing.state == "published"
    assert listing.sanction.state == "published"
    expected = rules.compute_expiry(rules.today(), "fixed", ground.term_months)
    page = rv.get(f"/admin/listings/{listing.id}").get_data(as_text=True)
    assert expected.isoformat() in page
    assert "公示中" in page


def test_reviewer_cannot_publish_own_submission(app, reviewer, make, session):
    item = make.listing(make.actor("clerk", A))
    from registry.services.accounts import actor_for

    listings.submit_listing(session, actor_for(reviewer), item)
    session.flush()
    client = _as(app, reviewer)
    before = _events(session)
    response = post(client, f"/admin/listings/{item.id}/publish", {"version_id": item.version_id})
    assert response.status_code == 403
    assert "双人复核" in response.get_data(as_text=True)
    assert _events(session) == before
    session.expire_all()
    assert session.get(Listing, item.id).state == "submitted"


def test_return_needs_a_reason_and_reaches_the_clerk(app, clerk, reviewer, make, session):
    from registry.services.accounts import actor_for

    item = make.listing(actor_for(clerk))
    listings.submit_listing(session, actor_for(clerk), item)
    session.flush()
    rv = _as(app, reviewer)
    url = f"/admin/listings/{item.id}/return"
    assert post(rv, url, {"version_id": item.version_id}).status_code == 400
    assert (
        post(rv, url, {"version_id": item.version_id, "reason": "处理日期有误"}).status_code == 302
    )
    page = _as(app, clerk).get("/admin/").get_data(as_text=True)
    returned = page.split('id="returned"')[1].split("</section>")[0]
    assert item.enterprise.name in returned


def test_art38_removal_needs_confirmed_filing(app, clerk, reviewer, make, session):
    from registry.services.accounts import actor_for

    item = make.published_listing(actor_for(clerk), make.actor("reviewer", A), "B1")
    session.flush()
    rv = _as(app, reviewer)
    url = f"/admin/listings/{item.id}/remove"
    before = _events(session)
    r = post(rv, url, {"version_id": item.version_id, "reason": "已补报年报"})
    assert r.status_code == 400
    assert "第38条" in r.get_data(as_text=True)
    assert _events(session) == before
    r = post(
        rv,
        url,
        {
            "version_id": item.version_id,
            "reason": "已补报年报",
            "report_filed_on": rules.today().isoformat(),
            "filing_confirmed": "y",
        },
    )
    assert r.status_code == 302
    session.expire_all()
    assert session.get(Listing, item.id).state == "removed"


def test_edit_conflict_is_a_409_and_overwrites_nothing(app, clerk, make, session):
    from registry.services import enterprises
    from registry.services.accounts import actor_for

    firm = make.enterprise(actor_for(clerk), name="深圳市冲突测试科技有限公司")
    session.flush()
    client = _as(app, clerk)
    form_page = client.get(f"/admin/enterprises/{firm.id}/edit").get_data(as_text=True)
    loaded_version = int(re.search(r'name="version_id" type="hidden" value="(\d+)"', form_page)[1])
    # Someone else saves in between.
    enterprises.update_enterprise(session, actor_for(clerk), firm, address="深圳市南山区")
    session.flush()
    before = _events(session)
    response = post(
        client,
        f"/admin/enterprises/{firm.id}/edit",
        {
            "name": "深圳市覆盖测试科技有限公司",
            "uscc": firm.uscc,
            "province_code": A,
            "kind": "value_added",
            "version_id": loaded_version,
        },
    )
    assert response.status_code == 409
    assert "已被他人修改" in response.get_data(as_text=True)
    assert _events(session) == before
    session.expire_all()
    assert session.get(Enterprise, firm.id).name == "深圳市冲突测试科技有限公司"


def test_stale_workflow_button_is_a_409(app, clerk, reviewer, make, session):
    from registry.services.accounts import actor_for

    item = make.listing(actor_for(clerk))
    listings.submit_listing(session, actor_for(clerk), item)
    session.flush()
    stale = item.version_id - 1
    response = post(_as(app, reviewer), f"/admin/listings/{item.id}/publish", {"version_id": stale})
    assert response.status_code == 409


def test_record_page_shows_history_who_when_what(app, clerk, make, session):
    from registry.services.accounts import actor_for

    item = make.listing(actor_for(clerk), facts="原事实")
    listings.update_listing(session, actor_for(clerk), item, facts="更正后的事实")
    session.flush()
    page = _as(app, clerk).get(f"/admin/listings/{item.id}").get_data(as_text=True)
    history = page.split("操作记录")[1]
    assert clerk.username in history
    assert "新建" in history and "修改" in history
    assert "原事实 → 更正后的事实" in history
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", history)


def test_dashboard_lists_overdue_and_expiring(app, clerk, reviewer, make, session):
    from registry.services.accounts import actor_for

    late = make.listing(actor_for(clerk), decided_on=rules.today() - timedelta(days=40))
    session.flush()
    page = _as(app, reviewer).get("/admin/").get_data(as_text=True)
    overdue = page.split('id="overdue"')[1].split("</section>")[0]
    assert late.enterprise.name in overdue
    assert (late.decided_on + timedelta(days=30)).isoformat() in overdue
    activity = page.split('id="activity"')[1].split("</section>")[0]
    assert clerk.username in activity


def test_bad_ids_and_bad_dates_are_4xx(app, clerk, make, session):
    from registry.services.accounts import actor_for

    firm = make.enterprise(actor_for(clerk))
    session.flush()
    client = _as(app, clerk)
    assert client.get("/admin/listings/999999").status_code == 404
    r = post(
        client,
        f"/admin/enterprises/{firm.id}/listings/new",
        {"ground": "not-a-number", "decided_on": "2026-13-45", "sanction": "x"},
    )
    assert r.status_code == 400
    future = (rules.today() + timedelta(days=3)).isoformat()
    r = post(
        client,
        f"/admin/enterprises/{firm.id}/sanctions/new",
        {"decision_no": "粤通管罚〔2026〕777号", "decided_on": future, "measures": ["warning"]},
    )
    assert r.status_code == 400
    assert "晚于今天" in r.get_data(as_text=True)


def test_csrf_helper_token_is_session_bound(app, clerk):
    """A token from another session is refused (the token is tied to the session)."""
    first, second = _as(app, clerk), app.test_client()
    foreign = csrf_token(second)
    assert first.post("/admin/logout", data={"csrf_token": foreign}).status_code == 400


def test_notice_body_is_sanitised_and_names_listings(app, clerk, reviewer, make, session):
    from registry.models import Notice
    from registry.services.accounts import actor_for

    item = make.published_listing(actor_for(clerk), make.actor("reviewer", A))
    session.flush()
    client = _as(app, clerk)
    r = post(
        client,
        "/admin/notices/new",
        {
            "slug": "2026-q3-exposure-test",
            "kind": "exposure",
            "title": "2026年第三季度不良名单曝光公告",
            "body_md": "**依法公示**\n\n<script>alert(1)</script>\n\n[链接](javascript:alert(1))",
            "listings": [str(item.id)],
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    notice = session.scalar(select(Notice).where(Notice.slug == "2026-q3-exposure-test"))
    page = client.get(f"/admin/notices/{notice.id}").get_data(as_text=True)
    body = page.split('<article class="notice-body">')[1].split("</article>")[0]
    assert "<strong>依法公示</strong>" in body
    assert "<script" not in body and 'href="javascript:' not in body
    assert item.enterprise.name in page
    assert post(client, f"/admin/notices/{notice.id}/submit", {"version_id": 1}).status_code == 302
    rv = _as(app, reviewer)
    assert post(rv, f"/admin/notices/{notice.id}/publish", {"version_id": 2}).status_code == 302
    session.expire_all()
    assert session.get(Notice, notice.id).state == "published"


def test_petition_recorded_and_decided(app, clerk, reviewer, make, session):
    from registry.models import Petition
    from registry.services.accounts import actor_for

    item = make.published_listing(actor_for(clerk), make.actor("reviewer", A))
    session.flush()
    c = _as(app, clerk)
    future = (rules.today() + timedelta(days=1)).isoformat()
    bad = post(
        c,
        f"/admin/listings/{item.id}/petitions/new",
        {"kind": "objection", "petitioner": "申请人", "received_on": future},
    )
    assert bad.status_code == 400
    r = post(
        c,
        f"/admin/listings/{item.id}/petitions/new",
        {
            "kind": "credit_repair",
            "petitioner": "深圳市某公司",
            "received_on": rules.today().isoformat(),
        },
    )
    assert r.status_code == 302
    petition = session.scalar(select(Petition).where(Petition.listing_id == item.id))
    # A clerk may not decide; a reviewer may.
    url = f"/admin/petitions/{petition.id}/decide"
    data = {"outcome_state": "upheld", "outcome": "已完成整改", "version_id": 1}
    assert post(c, url, data).status_code == 403
    assert post(_as(app, reviewer), url, data).status_code == 302
    session.expire_all()
    assert session.get(Petition, petition.id).state == "upheld"
    assert "深圳市某公司" in c.get(f"/admin/listings/{item.id}").get_data(as_text=True)


def test_admin_disables_a_user_and_their_open_session_ends(app, clerk, make):
    admin = make.user("admin", A)
    victim = _as(app, clerk)
    assert victim.get("/admin/").status_code == 200
    r = post(_as(app, admin), f"/admin/users/{clerk.id}/disable", {"reason": "调离"})
    assert r.status_code == 302
    assert victim.get("/admin/").status_code == 302
    assert login(app.test_client(), clerk).status_code == 401


def test_admin_adds_a_user_who_can_log_in(app, make):
    admin = make.user("admin", "MIIT")
    r = post(
        _as(app, admin),
        "/admin/users",
        {
            "username": "new-clerk-gd",
            "authority": make.authority(A).id,
            "role": "clerk",
            "password": "a long enough password",
            "confirm": "a long enough password",
        },
    )
    assert r.status_code == 302
    from registry.models import User

    user = make.session.scalar(select(User).where(User.username == "new-clerk-gd"))
    assert login(app.test_client(), user, "a long enough password").status_code == 302


def test_catalogue_term_change_applies_to_later_publications(app, clerk, reviewer, make, session):
    """2018 notice: terms are catalogue data; the expiry is fixed at publication from the
    term then in force."""
    admin = make.user("admin", "MIIT")
    b3 = make.ground("B3")
    r = post(
        _as(app, admin),
        f"/admin/grounds/{b3.id}/edit",
        {
            "title": b3.title,
            "term_kind": "fixed",
            "term_months": "12",
            "removal_rule": b3.removal_rule,
            "active": "y",
            "version_id": b3.version_id,
        },
    )
    assert r.status_code == 302
    from registry.services.accounts import actor_for

    item = make.listing(actor_for(clerk), "B3")
    listings.submit_listing(session, actor_for(clerk), item)
    session.flush()
    assert (
        post(
            _as(app, reviewer),
            f"/admin/listings/{item.id}/publish",
            {"version_id": item.version_id},
        ).status_code
        == 302
    )
    session.expire_all()
    assert session.get(Listing, item.id).expires_on == rules.compute_expiry(
        rules.today(), "fixed", 12
    )


# New records under a firm another bureau may have registered: the firm is only read.
_UNDER_A_SHARED_FIRM = {"admin.listing_new", "admin.sanction_new"}
# A submitter's files are personal data: the handling authority's clerks and reviewers
# only, not the ministry (a 404, as for a record it may not read).
_PERSONAL = {"admin.submission_file"}


def _expected_status(who, endpoint: str, arguments: set[str], action: str, owner_id: int) -> int:
    """What the policy says a GET of an admin page answers `who` (all records are owned
    by `owner_id`): 403 when the role may not, 404 for another bureau's record, 403 when
    the record may be read but not acted on, else 200."""
    if action not in rules.ROLE_ACTIONS.get(who.role, frozenset()):
        return 403
    if action == "manage_catalogue":  # the catalogues of grounds and campaigns are national
        return 200 if who.is_ministry else 403
    if not arguments:
        return 200
    if endpoint in _PERSONAL:
        return 200 if who.authority_id == owner_id and who.role != "admin" else 404
    shared = arguments == {"enterprise_id"}  # firms are reference data every bureau reads
    if not shared and not rules.may_read(who, owner_id):
        return 404
    if endpoint in _UNDER_A_SHARED_FIRM:
        return 200
    if action != "read" and not rules.may(who, action, owner_id):
        return 403
    return 200


def test_every_admin_page_answers_each_role_as_its_policy_says(app, make, session):
    """Every GET page under /admin, asked by each role of the record's bureau, another
    bureau and the ministry: 200 with a heading where the policy allows, else exactly the
    403 or 404 the policy gives (never a 5xx, never another status)."""
    from registry.services import evidence as evidence_service
    from registry.services import notices, petitions
    from registry.services.accounts import actor_for

    clerk_user, reviewer_user = make.user("clerk", A), make.user("reviewer", A)
    clerk, reviewer = actor_for(clerk_user), actor_for(reviewer_user)
    item = make.published_listing(clerk, reviewer)
    sanction = make.sanction(clerk, item.enterprise)
    notice = notices.create_notice(
        session, clerk, slug="crawl-notice", title="公告", listings=[item]
    )
    petition = petitions.record_petition(
        session, clerk, item, kind="objection", petitioner="甲", received_on=rules.today()
    )
    ev = evidence_service.add_evidence(
        session,
        clerk,
        sanction,
        data=b"%PDF-1.4\n%%EOF\n",
        evidence_dir=app.config["EVIDENCE_DIR"],
        max_bytes=1000,
    )
    from registry.services.submissions import Intake, IntakeLimits, file_submission

    submission, _code = file_submission(
        session,
        Intake(
            "objection",
            name="甲",
            capacity="firm",
            phone="1",
            statement="有误",
            files=[("a.pdf", b"%PDF-1.4\n%%EOF\n")],
        ),
        authority=item.authority,
        listing=item,
        address="192.0.2.1",
        limits=IntakeLimits("s" * 40, 9, 9, 5, 1000, app.config["EVIDENCE_DIR"], 3, 15),
    )
    session.flush()
    ids = {
        "submission_id": submission.id,
        "file_id": submission.files[0].id,
        "enterprise_id": item.enterprise_id,
        "sanction_id": sanction.id,
        "listing_id": item.id,
        "notice_id": notice.id,
        "petition_id": petition.id,
        "evidence_id": ev.id,
        "ground_id": item.ground_id,
        "campaign_id": make.campaign().id,
        "batch_id": make.import_batch(clerk).id,
    }
    users = [
        clerk_user,
        reviewer_user,
        make.user("admin", A),
        make.user("clerk", "110000"),
        make.user("reviewer", "MIIT"),
        make.user("admin", "MIIT"),
    ]
    rules_ = [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith("admin.") and "GET" in r.methods
    ]
    owner_id = item.authority_id
    assert {sanction.authority_id, notice.authority_id, ev.authority_id} == {owner_id}
    statuses = set()
    for user in users:
        client = _as(app, user)
        who = actor_for(user)
        for rule in rules_:
            url = rule.build({k: v for k, v in ids.items() if k in rule.arguments})[1]
            action = app.view_functions[rule.endpoint].required_action
            expected = _expected_status(who, rule.endpoint, set(rule.arguments), action, owner_id)
            with client.get(url) as response:
                assert response.status_code == expected, (user.username, url)
                statuses.add(response.status_code)
                if response.status_code == 200 and response.mimetype == "text/html":
                    assert "<h1>" in response.get_data(as_text=True)
    assert statuses == {200, 403, 404}  # the matrix exercised every outcome
