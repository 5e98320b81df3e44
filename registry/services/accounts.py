"""Regulator accounts: creation and password hashing (argon2)."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.models import ROLES, Authority, User
from registry.rules import Actor, RuleViolation
from registry.services.history import record_event

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
    if actor.role not in ("admin", "system"):
        raise RuleViolation("forbidden", "只有系统管理员可以添加用户 / only an admin adds users")
    errors = {}
    if not USERNAME_RE.match(username):
        errors["username"] = "用户名为3–64位字母、数字或 _.- / 3–64 letters, digits or _.-"
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        errors["username"] = "用户名已存在 / username taken"
    if role not in ROLES:
        errors["role"] = f"角色须为 {', '.join(ROLES)} / role must be one of {', '.join(ROLES)}"
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = (
            f"密码至少{MIN_PASSWORD_LENGTH}位 / at least {MIN_PASSWORD_LENGTH} characters"
        )
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
