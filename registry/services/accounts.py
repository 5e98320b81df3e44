"""Regulator accounts: creation and password hashing (argon2)."""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.errors import ValidationError
from registry.messages import _
from registry.models import ROLES, Authority, User
from registry.models.account import LoginAttempt
from registry.rules import Actor, RuleViolation
from registry.services.history import record_event, snapshot

_hasher = PasswordHasher()
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def actor_for(user: User) -> Actor:
    return Actor(
        user_id=user.id,
        username=user.username,
        role=user.role,
        authority_id=user.authority_id,
        is_ministry=user.authority.is_ministry,
    )


def system_actor_for(authority: Authority, label: str) -> Actor:
    """The actor of work no user does by hand (the console, the import, the daily sweep)
    for `authority`; `label` names it in the history."""
    return Actor(None, label, "system", authority.id, authority.is_ministry)


def check_may_manage_users(actor: Actor, authority_id: int) -> None:
    """A system admin manages the accounts of their own authority; the ministry's manage all
    (and so does the command line)."""
    if actor.role == "system":
        return
    if actor.role == "admin" and (actor.is_ministry or actor.authority_id == authority_id):
        return
    raise RuleViolation(
        "forbidden",
        _("只有本机构的系统管理员可以管理用户"),
    )


def create_user(
    session: Session,
    actor: Actor,
    *,
    username: str,
    password: str,
    authority: Authority,
    role: str,
    display_name: str = "",
) -> User:
    check_may_manage_users(actor, authority.id)
    errors = {}
    if not USERNAME_RE.match(username):
        errors["username"] = _("用户名为3–64位字母、数字或 _.-")
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        errors["username"] = _("用户名已存在")
    if role not in ROLES:
        errors["role"] = _("角色须为 %(roles)s", roles=", ".join(ROLES))
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = _("密码至少%(length)s位", length=MIN_PASSWORD_LENGTH)
    if errors:
        raise ValidationError(errors)
    user = User(
        username=username,
        password_hash=hash_password(password),
        authority=authority,
        role=role,
        display_name=display_name or username,
    )
    session.add(user)
    record_event(session, actor, user, "create", authority_id=authority.id)
    return user


# --- login (throttled in the database, so it holds across gunicorn workers) ------------


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so both answers take the same time.
    Made at the first login, not at import: hashing takes argon2's 64 MB for a moment,
    which would stay in the peak memory of every worker, most of which never see a login."""
    return _hasher.hash("not a password: timing equaliser")


class LoginThrottled(Exception):
    """This client must wait before trying again: `retry_after` seconds; `scope` says whether
    its address failed too often ("address") or the account is being slowed ("account")."""

    def __init__(self, retry_after: int, scope: str) -> None:
        super().__init__(f"{scope} throttled for {retry_after} s")
        self.retry_after = retry_after
        self.scope = scope


@dataclass(frozen=True)
class Throttle:
    """Stops guessing without letting anyone lock a regulator out.

    - An address with `address_max_failures` failed attempts within the window is refused
      (whatever username it tries) until its failures age out of the window.
    - An account with more than `max_failures` failures within the window is slowed: a
      client whose address has failed within the window must wait 1, 2, 4 ... seconds
      after the account's last failure (capped at the window) before its next attempt.
    - A client whose address has not failed within the window is never refused: failures
      elsewhere cannot keep the right password out.
    """

    max_failures: int
    window: timedelta
    address_max_failures: int = 30

    def account_delay(self, failures: int) -> timedelta:
        if failures <= self.max_failures:
            return timedelta(0)
        seconds = 2 ** min(failures - self.max_failures - 1, 30)
        return min(timedelta(seconds=seconds), self.window)


def _count_failures(session: Session, column: Any, value: str, since: datetime) -> int:
    return (
        session.scalar(
            select(func.count(LoginAttempt.id)).where(
                column == value, LoginAttempt.success.is_(False), LoginAttempt.at >= since
            )
        )
        or 0
    )


def check_throttle(
    session: Session, username: str, ip: str, throttle: Throttle, now: datetime
) -> None:
    """Raise LoginThrottled if this client may not try this username now (see Throttle)."""
    since = now - throttle.window
    address_failures = _count_failures(session, LoginAttempt.ip, ip, since)
    if address_failures >= throttle.address_max_failures:
        oldest = session.scalar(
            select(LoginAttempt.at)
            .where(LoginAttempt.ip == ip, LoginAttempt.success.is_(False), LoginAttempt.at >= since)
            .order_by(LoginAttempt.at.desc())
            .offset(throttle.address_max_failures - 1)
            .limit(1)
        )
        wait = (oldest + throttle.window - now) if oldest is not None else throttle.window
        raise LoginThrottled(max(1, math.ceil(wait.total_seconds())), "address")
    if address_failures == 0:
        return  # a client that has not failed is never refused
    account_failures = _count_failures(session, LoginAttempt.username, username, since)
    delay = throttle.account_delay(account_failures)
    if not delay:
        return
    last = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username,
            LoginAttempt.success.is_(False),
            LoginAttempt.at >= since,
        )
    )
    if last is not None and now < last + delay:
        raise LoginThrottled(max(1, math.ceil((last + delay - now).total_seconds())), "account")


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    ip: str,
    throttle: Throttle,
    now: datetime | None = None,
) -> User | None:
    """The active user with this username and password, or None (one answer for an unknown
    user and a wrong password). Raises LoginThrottled when this client must wait (see
    Throttle), before the password is looked at. Records the attempt (a refused one as a
    failure of that client); on success rotates the user's session token (old session
    cookies die). The caller commits.
    """
    now = now or utcnow()
    username = (username or "").strip().lower()[:64]
    ip = (ip or "unknown")[:45]
    try:
        check_throttle(session, username, ip, throttle, now)
    except LoginThrottled:
        session.add(LoginAttempt(at=now, username=username, ip=ip, success=False))
        session.flush()
        raise
    dummy = _dummy_hash()  # before the lookup: the first login's extra time is any user's
    user = session.scalar(select(User).where(func.lower(User.username) == username))
    ok = verify_password(user.password_hash if user else dummy, password or "")
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(at=now, username=username, ip=ip, success=ok))
    if not ok or user is None:
        session.flush()
        return None
    start_session(session, user)
    return user


def start_session(session: Session, user: User) -> str:
    """A new session token for `user`; any cookie carrying an older one is no longer valid."""
    user.session_token = secrets.token_urlsafe(32)
    session.flush()
    return user.session_token


def end_session(session: Session, user: User) -> None:
    """Logout: the token is rotated, so the cookie is dead on the server, not only in the browser."""
    user.session_token = secrets.token_urlsafe(32)
    session.flush()


def disable_user(session: Session, actor: Actor, user: User, *, reason: str = "") -> User:
    """An admin disables an account; its sessions end at the next request."""
    check_may_manage_users(actor, user.authority_id)
    if user.id == actor.user_id:
        raise RuleViolation("disable_self", _("不能停用自己的账号"))
    before = snapshot(user)
    user.active = False
    user.session_token = secrets.token_urlsafe(32)
    session.flush()
    record_event(session, actor, user, "disable", before=before, reason=reason)
    return user
