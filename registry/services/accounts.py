"""Regulator accounts: creation and password hashing (argon2)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

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

# Verified against when the username is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("not a password: timing equaliser")


class LoginThrottled(Exception):
    """Too many failed attempts for this username or address within the window."""


@dataclass(frozen=True)
class Throttle:
    max_failures: int
    window: timedelta


def _failures(session: Session, username: str, ip: str, since: datetime) -> int:
    """Failed attempts since `since`: the larger count of this username's and this address's."""
    return max(
        session.scalar(
            select(func.count(LoginAttempt.id)).where(
                column == value,
                LoginAttempt.success.is_(False),
                LoginAttempt.at >= since,
            )
        )
        or 0
        for column, value in ((LoginAttempt.username, username), (LoginAttempt.ip, ip))
    )


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
    user and a wrong password). Raises LoginThrottled after too many recent failures for the
    username or the address, even when the password is right. Records the attempt; on
    success rotates the user's session token (old session cookies die). The caller commits.
    """
    now = now or utcnow()
    username = (username or "").strip().lower()[:64]
    ip = (ip or "unknown")[:45]
    if _failures(session, username, ip, now - throttle.window) >= throttle.max_failures:
        session.add(LoginAttempt(at=now, username=username, ip=ip, success=False))
        session.flush()
        raise LoginThrottled()
    user = session.scalar(select(User).where(func.lower(User.username) == username))
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password or "")
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
