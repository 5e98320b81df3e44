"""Cross-site requests (docs/SECURITY.md, "a site that lures a logged-in regulator").

Every POST route of the app, taken from the URL map, is sent by a user who is allowed to
call it, with valid form data (the cases of tests/test_admin_policy.py), but without a CSRF
token, with a forged token and with another session's token: each time 400, and every row of
every table is as it was. Then every GET route is crawled while logged in, as each role and
anonymously, on real records of every kind: the database is unchanged row for row.

No table is excluded from the comparison: the login throttle (`login_attempt`) is written
only by POST /admin/login, and sessions live in the signed cookie, not in the database.
"""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from registry.db import Base
from tests.factories import csrf_token, login
from tests.test_admin_policy import (
    CASES,
    CHECK_ONLY,
    _actors,
    _evidence,
    _listing,
    _notice,
    _sanction,
)
from tests.test_route_policy import READ_ONLY_POSTS

A, B, MINISTRY = "440000", "110000", "MIIT"
ROLES = {
    "clerk_a": ("clerk", A),
    "reviewer_a": ("reviewer", A),
    "admin_a": ("admin", A),
    "clerk_b": ("clerk", B),
    "reviewer_m": ("reviewer", MINISTRY),
    "admin_m": ("admin", MINISTRY),
}


def snapshot(session) -> dict[str, list[tuple]]:
    """Every row of every table the models declare, in primary-key order."""
    session.flush()
    session.expire_all()
    rows = {}
    for table in Base.metadata.sorted_tables:
        query = select(table).order_by(*table.primary_key.columns)
        rows[table.name] = [tuple(row) for row in session.execute(query)]
    return rows


def _diff(before: dict, after: dict) -> dict:
    return {
        name: (len(before[name]), len(after[name]))
        for name in before
        if before[name] != after[name]
    }


@pytest.fixture
def users(make):
    made = {who: make.user(role, code) for who, (role, code) in ROLES.items()}
    # The remaining roles of the policy matrix, so every case's "allowed" user exists.
    for who, role, code in (("reviewer_b", "reviewer", B), ("admin_b", "admin", B)):
        made[who] = make.user(role, code)
    made["clerk_m"] = make.user("clerk", MINISTRY)
    return made


@pytest.fixture
def clients(app, users):
    made = {}
    for who, user in users.items():
        client = app.test_client()
        assert login(client, user).status_code == 302, who
        made[who] = client
    return made


def _post_routes(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules() if "POST" in (rule.methods or ())}


def test_every_post_route_is_covered(app):
    from tests.test_route_policy import PUBLIC_WRITES

    assert _post_routes(app) <= set(CASES) | PUBLIC_WRITES | READ_ONLY_POSTS


def test_read_only_posts_need_no_token_and_write_nothing(app, make, session):
    """POST /api/v1/match is exempt from the token: it reads no session and writes no row."""
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    firm = make.published_listing(clerk, reviewer).enterprise
    before = snapshot(session)
    response = app.test_client().post(
        "/api/v1/match", json={"queries": {"a": {"name": firm.name, "uscc": firm.uscc}}}
    )
    assert response.status_code == 200
    assert response.get_json()["responses"]["a"]["results"][0]["uscc"] == firm.uscc
    assert snapshot(session) == before


def test_post_without_valid_csrf_token_is_400_and_writes_nothing(
    app, make, session, users, security_figures
):
    """One test over every POST route (one app and one set of logins: fast)."""
    make.evidence_dir = app.config["EVIDENCE_DIR"]

    def stored_uploads() -> set[str]:
        from sqlalchemy import select

        from registry.models import StagedUpload

        return set(session.scalars(select(StagedUpload.sha256)))

    actors = _actors(users)
    clients = {}

    def client_of(who):
        if who not in clients:
            clients[who] = app.test_client()
            assert login(clients[who], users[who]).status_code == 302, who
        return clients[who]

    for endpoint in sorted(CASES):
        allowed, setup = CASES[endpoint]
        who = sorted(allowed)[0]
        client = client_of(who)
        other_token = csrf_token(client_of("clerk_b" if who != "clerk_b" else "clerk_a"))
        for token in (None, "forged-" + "x" * 40, other_token):
            url, data = setup(make, actors)
            if token is not None:
                data = data | {"csrf_token": token}
            before, files = snapshot(session), stored_uploads()
            response = client.post(url, data=data)
            assert response.status_code == 400, (endpoint, who, token, response.status_code)
            assert snapshot(session) == before, (endpoint, _diff(before, snapshot(session)))
            assert stored_uploads() == files, endpoint  # no import file kept either
            security_figures["CSRF: forged or missing token refused (400, 0 writes)"] += 1
        # The same request with the session's token goes through: the 400s were the token.
        url, data = setup(make, actors)
        before, files = snapshot(session), stored_uploads()
        response = client.post(url, data=data | {"csrf_token": csrf_token(client)})
        if endpoint in CHECK_ONLY:  # the import's report: the file is staged, no record written
            assert response.status_code == 200, (endpoint, who, response.status_code)
            after = snapshot(session)
            after.pop("staged_upload"), before.pop("staged_upload")
            assert after == before and stored_uploads() > files, endpoint
            continue
        assert response.status_code == 302, (endpoint, who, response.status_code)
        assert snapshot(session) != before, endpoint


def test_login_without_csrf_token_is_refused_and_not_even_throttled(app, users, session):
    client = app.test_client()
    before = snapshot(session)
    response = client.post(
        "/admin/login", data={"username": users["clerk_a"].username, "password": "x" * 20}
    )
    assert response.status_code == 400
    assert snapshot(session) == before  # no login_attempt row either
    assert client.get("/admin/").status_code == 302  # still logged out


def test_logout_without_csrf_token_keeps_the_session(clients, session):
    client = clients["clerk_a"]
    before = snapshot(session)
    assert client.post("/admin/logout").status_code == 400
    assert snapshot(session) == before
    assert client.get("/admin/").status_code == 200


# --- every GET changes nothing -----------------------------------------------------------

_URL_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


@pytest.fixture
def records(app, make, users, session):
    """One record of every kind the back office and the public site show."""
    make.evidence_dir = app.config["EVIDENCE_DIR"]
    actors = _actors(users)
    listing = _listing(make, actors, "published")
    sanction = _sanction(make, actors, "published")
    notice = _notice(make, actors, "submitted")
    from registry.services import notices, petitions

    notices.transition_notice(make.session, actors["reviewer_a"].actor, notice, "publish")
    petition = petitions.record_petition(
        make.session,
        actors["clerk_a"].actor,
        listing,
        kind="objection",
        petitioner="某某网络科技有限公司",
        received_on=listing.listed_on,
    )
    evidence = _evidence(make, actors)
    from tests.test_admin_policy import _submission

    submission = _submission(make, actors, "accepted")
    from registry.models import SubmissionFile

    submission.files.append(
        SubmissionFile(sha256="0" * 64, size=1, media_type="application/pdf", original_name="a")
    )
    session.flush()
    firm = listing.enterprise
    return {
        "enterprise_id": firm.id,
        "firm_id": firm.id,
        "uscc": firm.uscc,
        "listing_id": listing.id,
        "record_id": listing.id,
        "sanction_id": sanction.id,
        "notice_id": notice.id,
        "slug": notice.slug,
        "petition_id": petition.id,
        "evidence_id": evidence.id,
        "submission_id": submission.id,
        "file_id": submission.files[0].id,
        "ground_id": make.ground("B3").id,
        "campaign_id": make.campaign().id,
        "batch_id": make.import_batch(actors["clerk_a"].actor).id,
        "user_id": users["clerk_a"].id,
        "list_code": "bad",
        "ext": "atom",
        "code": A,
        "filename": "css/site.css",
        "number": "91440300MA5FXXXX0X-1-20260101000000-0123456789ab",
        "token": "no-such-watchlist-" + "x" * 30,
    }


def _get_urls(app, values: dict) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()):
            continue
        missing = set(rule.arguments) - set(values)
        assert not missing, (rule.rule, missing)
        urls.append(_URL_ARG.sub(lambda m: str(values[m.group(2)]), rule.rule))
    return sorted(set(urls))


def test_every_get_route_changes_nothing(app, session, clients, records, security_figures):
    urls = _get_urls(app, records)
    assert len(urls) > 40
    for who in [*ROLES, "anonymous"]:
        client = clients.get(who) or app.test_client()
        before = snapshot(session)
        statuses = {}
        for url in urls:
            with client.get(url) as response:
                statuses[url] = response.status_code
                assert response.status_code < 500, (who, url, response.status_code)
                security_figures["GET requests that changed nothing (logged in and out)"] += 1
        assert snapshot(session) == before, (who, _diff(before, snapshot(session)))
        if who == "clerk_a":  # the crawl really reached the pages, not only login redirects
            assert statuses[f"/admin/listings/{records['listing_id']}"] == 200
            assert statuses[f"/admin/evidence/{records['evidence_id']}"] == 200
            assert statuses[f"/admin/petitions/{records['petition_id']}"] == 200
            assert statuses[f"/admin/submissions/{records['submission_id']}"] == 200


def test_upload_page_post_without_token_leaves_no_file(app, make, users, clients):
    actors = _actors(users)
    make.evidence_dir = app.config["EVIDENCE_DIR"]
    sanction = _sanction(make, actors)
    make.session.flush()
    response = clients["clerk_a"].post(
        f"/admin/sanctions/{sanction.id}/evidence",
        data={"file": (io.BytesIO(b"%PDF-1.7\n%%EOF\n" + b"csrf"), "a.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    from pathlib import Path

    root = Path(app.config["EVIDENCE_DIR"])
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]


def test_report_verifier_without_csrf_token_is_refused_and_writes_nothing(app, session):
    client = app.test_client()
    before = snapshot(session)
    response = client.post(
        "/verify",
        data={"report": (io.BytesIO(b"{}"), "r.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert snapshot(session) == before
