"""Regulator login (Flask-Login over the User rows).

A session is valid only while the token in the cookie equals the user's current
`User.session_token`: login, logout and disabling rotate it, so an old cookie dies on the
server, not only in the browser. Idle and absolute timeouts are checked on every request;
failed logins are throttled through the database (services.accounts.authenticate).
"""

from __future__ import annotations

import hmac
import logging
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from flask_login import logout_user as _logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from registry.database import get_session
from registry.models import User
from registry.rules import Actor
from registry.services import accounts

bp = Blueprint("auth", __name__, url_prefix="/admin")
security_log = logging.getLogger("registry.security")
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = lazy_gettext("请先登录。")
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"


class SessionUser(UserMixin):
    """The logged-in regulator for this request: the User row and the Actor the services take."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.actor: Actor = accounts.actor_for(user)

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_token}"

    @property
    def is_active(self) -> bool:
        return self.user.active


def _session_expired(now: float) -> bool:
    settings = current_app.config["SETTINGS"]
    login_at = session.get("login_at")
    seen_at = session.get("seen_at")
    if not isinstance(login_at, int | float) or not isinstance(seen_at, int | float):
        return True
    return (
        now - seen_at > settings.SESSION_IDLE_MINUTES * 60
        or now - login_at > settings.SESSION_ABSOLUTE_HOURS * 3600
    )


@login_manager.user_loader
def load_user(user_id: str) -> SessionUser | None:
    uid, _sep, token = user_id.partition(":")
    if not uid.isdigit() or not token:
        return None
    now = time.time()
    if _session_expired(now):
        session.clear()
        return None
    user = get_session().get(User, int(uid))
    if (
        user is None
        or not user.active
        or not user.session_token
        or not hmac.compare_digest(user.session_token, token)
    ):
        session.clear()
        return None
    session["seen_at"] = now
    return SessionUser(user)


class LoginForm(FlaskForm):
    username = StringField(lazy_gettext("用户名"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(lazy_gettext("密码"), validators=[DataRequired(), Length(max=1000)])


def _safe_next(target: str | None) -> str:
    """Only a path inside the back-office; never another host (open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/admin"):
            return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        return render_template("admin/login.html", form=form, next=request.args.get("next", ""))
    if not form.validate_on_submit():
        return render_template("admin/login.html", form=form, next=request.form.get("next")), 400
    settings = current_app.config["SETTINGS"]
    db = get_session()
    throttle = accounts.Throttle(
        settings.LOGIN_MAX_FAILURES,
        timedelta(minutes=settings.LOGIN_WINDOW_MINUTES),
        settings.LOGIN_ADDRESS_MAX_FAILURES,
    )
    address = request.remote_addr or "unknown"  # the proxies' view when PROXY_HOPS says so
    try:
        user = accounts.authenticate(
            db, form.username.data, form.password.data, ip=address, throttle=throttle
        )
    except accounts.LoginThrottled as refused:
        db.commit()
        security_log.warning(
            "login refused (%s throttled, retry after %d s): username=%r address=%s",
            refused.scope,
            refused.retry_after,
            (form.username.data or "")[:64],
            address,
        )
        message = _("尝试过于频繁，请%(seconds)d秒后再试。", seconds=refused.retry_after)
        page = render_template("admin/login.html", form=form, error=message, next="")
        return page, 429, {"Retry-After": str(refused.retry_after)}
    db.commit()
    if user is None:
        message = _("用户名或密码不正确。")
        return render_template("admin/login.html", form=form, error=message, next=""), 401
    # A fresh session: nothing from before the login survives (session fixation).
    session.clear()
    now = time.time()
    session["login_at"] = now
    session["seen_at"] = now
    login_user(SessionUser(user))
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
@login_required
def logout():
    db = get_session()
    user = db.get(User, current_user.user.id)
    accounts.end_session(db, user)
    db.commit()
    _logout_user()
    session.clear()
    flash(_("已退出登录。"), "info")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    # Templates get the proxy, which loads the user (the session cookie, a query) only when
    # a template asks: public pages never do.
    login_manager.init_app(app, add_context_processor=False)
    _remember_cookie_for_sessions_only(app)
    app.jinja_env.globals["current_user"] = current_user
    app.register_blueprint(bp)


def _remember_cookie_for_sessions_only(app: Flask) -> None:
    """Flask-Login's after-request hook sets or clears the remember cookie as the session
    asks (its "_remember" key), reading the session through the context three times; an
    empty session (every public visitor's) asks nothing, unless the cookie is renewed on
    every request. The hook runs for the others only."""
    update = login_manager._update_remember_cookie
    hooks = app.after_request_funcs.get(None, [])
    for index, hook in enumerate(hooks):
        if hook == update:

            def update_remember_cookie(response: Response) -> Response:
                current = session._get_current_object()  # type: ignore[attr-defined]
                if current or app.config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST"):
                    return update(response)
                return response

            hooks[index] = update_remember_cookie
