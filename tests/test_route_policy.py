"""Tenancy and roles, derived from the URL map (roles, four eyes and tenancy as in
docs/DOMAIN.md).

tests/test_admin_policy.py holds the hand-written cases (how to make a valid request to each
write route, and who may send it). Here the matrix is driven by the app's URL map: every
POST route of the whole app must be either a declared public write (login, logout) or an
/admin route with a policy and a case, so a new route without both fails. Every write route
is then tried by every role — clerk, reviewer and system admin, of the record's bureau, of
another bureau and of the ministry — and anonymously: only the allowed calls change the
database, every other call leaves the row count of every table as it was, and is logged
on the `registry.security` logger.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from registry import rules
from registry.db import Base
from tests.factories import csrf_token, login
from tests.test_admin_policy import CASES, CHECK_ONLY, _actors

A, B, MINISTRY = "440000", "110000", "MIIT"
# Writes anyone may send: they touch only the sender's own session (and the login throttle).
PUBLIC_WRITES = {"auth.login", "auth.logout"}
# Public submissions: anyone may file one, without an account; they write only the new
# submission (CSRF, honeypot and rate limits: tests/test_public_submissions.py), and /track
# writes nothing.
PUBLIC_WRITES |= {
    "submissions.objection_new",
    "submissions.repair_new",
    "submissions.tip_new",
    "submissions.track",
}
# Watchlists: anyone may subscribe a webhook without an account, and manage it with the
# secret token of its address; they write only that subscription (tests/test_watchlists.py).
# A screening report is saved as a new subscription the same way
# (tests/test_screen_watchlist.py).
PUBLIC_WRITES |= {"watchlists.new", "watchlists.change", "screen.save"}
# POSTs that only read: a body too large for a query string; they change nothing
# (tests/test_csrf.py checks that, without a token and without a session).
READ_ONLY_POSTS = {"match.match", "screen.screen", "screen.download"}
# The report verifier reads an upload and answers; it writes nothing.
PUBLIC_WRITES |= {"report.verify_upload"}
ROLES = {
    "clerk_a": ("clerk", A),
    "reviewer_a": ("reviewer", A),
    "admin_a": ("admin", A),
    "clerk_b": ("clerk", B),
    "reviewer_b": ("reviewer", B),
    "admin_b": ("admin", B),
    "clerk_m": ("clerk", MINISTRY),
    "reviewer_m": ("reviewer", MINISTRY),
    "admin_m": ("admin", MINISTRY),
}


def row_counts(session) -> dict[str, int]:
    """The number of rows of every table the models declare."""
    session.flush()
    return {
        table.name: session.scalar(select(func.count()).select_from(table))
        for table in Base.metadata.sorted_tables
    }


@pytest.fixture
def users(make):
    return {who: make.user(role, code) for who, (role, code) in ROLES.items()}


@pytest.fixture
def clients(app, users):
    made = {"anonymous": app.test_client()}
    for who, user in users.items():
        client = app.test_client()
        assert login(client, user).status_code == 302, who
        made[who] = client
    return made


def _post_routes(app) -> dict[str, str]:
    return {
        rule.endpoint: rule.rule
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) or "PUT" in rule.methods or "DELETE" in rule.methods
    }


def test_every_write_route_is_public_by_design_or_has_a_policy_and_a_case(app):
    """A new POST route anywhere must be added to the matrix with its policy."""
    declared = {a for actions in rules.ROLE_ACTIONS.values() for a in actions}
    routes = _post_routes(app)
    assert PUBLIC_WRITES <= set(routes)
    for endpoint, url in routes.items():
        if endpoint in PUBLIC_WRITES | READ_ONLY_POSTS:
            continue
        assert url.startswith("/admin/"), f"write route outside the back-office: {url}"
        view = app.view_functions[endpoint]
        assert getattr(view, "required_action", None) in declared, f"{endpoint} has no policy"
        assert endpoint in CASES, f"{endpoint} is not in the policy matrix"
    assert set(CASES) <= set(routes), sorted(set(CASES) - set(routes))


def test_every_admin_read_route_requires_login(app, client):
    """Anonymous GETs of every /admin page go to the login form (or 404 for nonsense ids)."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or "GET" not in rule.methods:
            continue
        if rule.endpoint == "auth.login":
            continue
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<int:{name}>", "1")
        response = client.get(url)
        assert response.status_code == 302, (url, response.status_code)
        assert "/admin/login" in response.headers["Location"], url


def _expected(endpoint: str, who: str) -> bool:
    """Allowed as tests/test_admin_policy.py declares it (its one table of who may what)."""
    allowed, _setup = CASES[endpoint]
    return who in allowed


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_write_route_by_every_role_and_authority(
    endpoint, app, make, session, users, clients, caplog
):
    _allowed, setup = CASES[endpoint]
    make.evidence_dir = app.config["EVIDENCE_DIR"]
    actors = _actors(users)
    for who in [*ROLES, "anonymous"]:
        url, data = setup(make, actors)
        before = row_counts(session)
        client = clients[who]
        token = csrf_token(client)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="registry.security"):
            response = client.post(url, data=data | {"csrf_token": token})
        after = row_counts(session)
        if _expected(endpoint, who) and endpoint in CHECK_ONLY:
            assert response.status_code == 200, (who, url, response.status_code)
            # Only the uploaded file is staged (for the confirmation); no record is written.
            staged = after.pop("staged_upload") - before.pop("staged_upload")
            assert after == before, (who, url, "a check-only route wrote a record")
            assert staged in (0, 1), (who, url, staged)
            continue
        if _expected(endpoint, who):
            assert response.status_code == 302, (who, url, response.status_code)
            assert "/admin/login" not in response.headers["Location"]
            assert after != before, (who, url, "allowed but nothing written")
            continue
        assert after == before, (who, url, {k: (before[k], after[k]) for k in before})
        if who == "anonymous":
            assert response.status_code == 302
            assert "/admin/login" in response.headers["Location"]
        elif response.status_code == 400:
            # A form that does not offer another authority's records (e.g. an admin of
            # bureau B creating a user of bureau A): refused by validation, not a denial.
            continue
        else:
            assert response.status_code in (403, 404), (who, url, response.status_code)
        denials = [r for r in caplog.records if r.name == "registry.security"]
        assert denials, (who, url, "denial not logged")
        assert url in denials[-1].getMessage()
