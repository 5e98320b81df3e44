"""Regulator login: argon2, server-side session tokens, timeouts, a throttle in the
database that cannot be turned against regulators, one answer for unknown user and wrong
password, cookie flags, CSRF."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select

from registry.models.account import LoginAttempt
from registry.services import accounts
from tests.factories import PASSWORD, csrf_token, login, post

# Login here hashes and verifies at the cost the application ships.
pytestmark = pytest.mark.production_password_hashing


def _cookie(response) -> str:
    return next(
        v for k, v in response.headers.items() if k == "Set-Cookie" and "registry_session" in v
    )


def test_login_with_right_password_opens_the_dashboard(client, make):
    user = make.user("clerk")
    response = login(client, user)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/")
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "工作台" in page.get_data(as_text=True)


def test_password_is_stored_as_argon2(make):
    user = make.user("clerk")
    assert user.password_hash.startswith("$argon2")
    assert PASSWORD not in user.password_hash


def test_unknown_user_and_wrong_password_get_the_same_answer(client, make):
    user = make.user("clerk")
    wrong = _fail(client, user.username)
    unknown = _fail(client, "nobody-here")
    assert wrong.status_code == unknown.status_code == 401
    alert = re.compile(r'<p class="alert alert-error" role="alert">[^<]*</p>')
    assert alert.findall(wrong.get_data(as_text=True)) == alert.findall(
        unknown.get_data(as_text=True)
    )
    assert "用户名或密码不正确" in wrong.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302  # still anonymous


def test_disabled_user_cannot_log_in(client, make, session):
    user = make.user("clerk")
    accounts.disable_user(session, make.system, user)
    assert login(client, user).status_code == 401


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]


def test_session_cookie_flags(client, make):
    cookie = _cookie(login(client, make.user("clerk")))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_secure_cookie_flag_when_configured(app, make):
    app.config["SESSION_COOKIE_SECURE"] = True
    client = app.test_client()
    cookie = _cookie(login(client, make.user("clerk")))
    assert "Secure" in cookie


def test_login_renews_the_session(client, make):
    """Session fixation: nothing set before login (e.g. the CSRF secret) survives it."""
    user = make.user("clerk")
    csrf_token(client)
    with client.session_transaction() as s:
        before = dict(s)
    login(client, user)
    with client.session_transaction() as s:
        assert s.get("csrf_token") != before.get("csrf_token")
        assert "_user_id" in s


def test_logout_kills_the_old_cookie_on_the_server(client, app, make):
    user = make.user("clerk")
    login(client, user)
    with client.session_transaction() as s:
        stolen = dict(s)
    assert post(client, "/admin/logout").status_code == 302
    assert client.get("/admin/").status_code == 302
    # Replaying the cookie captured before logout does not bring the session back.
    other = app.test_client()
    with other.session_transaction() as s:
        s.update(stolen)
    assert other.get("/admin/").status_code == 302


def test_logout_needs_post_with_csrf(client, make):
    login(client, make.user("clerk"))
    assert client.get("/admin/logout").status_code == 405
    assert client.post("/admin/logout").status_code == 400  # no CSRF token
    assert client.get("/admin/").status_code == 200  # still logged in


def test_disabling_ends_an_open_session(client, make, session):
    user = make.user("clerk")
    login(client, user)
    assert client.get("/admin/").status_code == 200
    session.refresh(user)  # the login rotated its token (and version) in another session
    accounts.disable_user(session, make.system, user, reason="left the bureau")
    session.flush()
    assert client.get("/admin/").status_code == 302


def test_idle_timeout(client, app, make):
    login(client, make.user("clerk"))
    idle = app.config["SETTINGS"].SESSION_IDLE_MINUTES * 60
    with client.session_transaction() as s:
        s["seen_at"] = time.time() - idle - 5
    assert client.get("/admin/").status_code == 302


def test_activity_keeps_the_session_alive(client, app, make):
    login(client, make.user("clerk"))
    idle = app.config["SETTINGS"].SESSION_IDLE_MINUTES * 60
    with client.session_transaction() as s:
        s["seen_at"] = time.time() - idle + 60
    assert client.get("/admin/").status_code == 200


def test_absolute_timeout_even_when_active(client, app, make):
    login(client, make.user("clerk"))
    hours = app.config["SETTINGS"].SESSION_ABSOLUTE_HOURS
    with client.session_transaction() as s:
        s["login_at"] = time.time() - hours * 3600 - 5
        s["seen_at"] = time.time()
    assert client.get("/admin/").status_code == 302


def _fail(client, username: str, environ=None):
    return client.post(
        "/admin/login",
        data={
            "username": username,
            "password": "wrong password!",
            "csrf_token": csrf_token(client),
        },
        environ_base=environ or {},
    )


def test_failures_elsewhere_never_refuse_the_right_password_from_a_client_that_has_not_failed(
    client, app, make, session, cheap_password_hashing
):
    user = make.user("clerk")
    for i in range(20):  # an attacker guessing this account from twenty addresses
        assert _fail(client, user.username, {"REMOTE_ADDR": f"10.0.0.{i + 1}"}).status_code in (
            401,
            429,
        )
    assert login(client, user).status_code == 302  # the regulator, from 127.0.0.1
    counted = session.scalar(
        select(func.count(LoginAttempt.id)).where(LoginAttempt.username == user.username.lower())
    )
    assert counted == 21  # kept in the database, shared by every worker and host


def test_an_account_with_many_failures_makes_clients_that_failed_wait(
    client, app, make, cheap_password_hashing
):
    user = make.user("clerk")
    limit = app.config["SETTINGS"].LOGIN_MAX_FAILURES
    attacker = {"REMOTE_ADDR": "10.9.9.9"}
    for _ in range(limit + 1):
        assert _fail(client, user.username, attacker).status_code == 401
    response = client.post(
        "/admin/login",
        data={"username": user.username, "password": PASSWORD, "csrf_token": csrf_token(client)},
        environ_base=attacker,
    )  # even the right password: this client must wait first
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "请" in response.get_data(as_text=True) and "秒后再试" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_the_account_delay_grows_with_each_failure_up_to_the_window():
    from datetime import timedelta

    throttle = accounts.Throttle(5, timedelta(minutes=15), 30)
    delays = [throttle.account_delay(n).total_seconds() for n in range(4, 12)]
    assert delays == [0, 0, 1, 2, 4, 8, 16, 32]
    assert throttle.account_delay(40) == timedelta(minutes=15)


def test_an_address_with_many_failures_is_refused_for_every_username(
    client, app, make, cheap_password_hashing
):
    user = make.user("clerk")
    limit = app.config["SETTINGS"].LOGIN_ADDRESS_MAX_FAILURES
    for i in range(limit):
        _fail(client, f"guess-{i}", {"REMOTE_ADDR": "192.0.2.7"})
    response = client.post(
        "/admin/login",
        data={"username": user.username, "password": PASSWORD, "csrf_token": csrf_token(client)},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    # Another address is not affected.
    assert login(client, user).status_code == 302


def _proxied_app(app, hops: int):
    from registry import create_app
    from registry.database import get_db

    settings = {k: v for k, v in app.config.items() if k in _SETTING_NAMES}
    other = create_app({**settings, "PROXY_HOPS": hops}, instance_path=app.instance_path)
    get_db(other).session_factory = get_db(app).session_factory
    return other


_SETTING_NAMES = (
    "TESTING",
    "PUBLIC_CACHE",
    "SECRET_KEY",
    "DATABASE_URL",
    "INDEX_DIR",
    "EVIDENCE_DIR",
    "LOGIN_ADDRESS_MAX_FAILURES",
)


def test_behind_one_proxy_refusals_are_logged_with_the_clients_address(
    app, make, caplog, cheap_password_hashing
):
    user = make.user("clerk")
    proxied = _proxied_app(app, hops=1)
    client = proxied.test_client()
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    for _ in range(proxied.config["SETTINGS"].LOGIN_ADDRESS_MAX_FAILURES):
        _fail(client, "someone-else", forwarded)
    with caplog.at_level("WARNING", logger="registry.security"):
        assert _fail(client, user.username, forwarded).status_code == 429
    assert "address=203.0.113.5" in caplog.text
    # The proxy's own address is not blamed: another client through it logs in.
    other_client = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.8"}
    response = client.post(
        "/admin/login",
        data={"username": user.username, "password": PASSWORD, "csrf_token": csrf_token(client)},
        environ_base=other_client,
    )
    assert response.status_code == 302


def test_without_proxy_hops_forwarded_headers_are_ignored(app, make, cheap_password_hashing):
    user = make.user("clerk")
    client = app.test_client()
    assert app.config["SETTINGS"].PROXY_HOPS == 0
    for i in range(app.config["SETTINGS"].LOGIN_ADDRESS_MAX_FAILURES):
        # a client inventing a new X-Forwarded-For each time is still one address
        _fail(
            client, "someone", {"REMOTE_ADDR": "192.0.2.9", "HTTP_X_FORWARDED_FOR": f"10.1.1.{i}"}
        )
    response = client.post(
        "/admin/login",
        data={"username": user.username, "password": PASSWORD, "csrf_token": csrf_token(client)},
        environ_base={"REMOTE_ADDR": "192.0.2.9", "HTTP_X_FORWARDED_FOR": "10.2.2.2"},
    )
    assert response.status_code == 429


def test_login_without_csrf_token_is_refused(client, make):
    user = make.user("clerk")
    response = client.post("/admin/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_next_parameter_cannot_redirect_off_site(client, make):
    user = make.user("clerk")
    response = client.post(
        "/admin/login",
        data={
            "username": user.username,
            "password": PASSWORD,
            "next": "https://evil.example/admin",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.headers["Location"].endswith("/admin/")


def test_empty_login_form_is_a_400_not_a_500(client):
    response = client.post("/admin/login", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 400
