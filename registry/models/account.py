"""Regulator accounts (用户)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, Versioned, created_at, intpk, str200
from registry.models.authority import Authority

ROLES = ("clerk", "reviewer", "admin")  # 录入员, 审核员, 系统管理员


class User(Versioned, Base):  # 用户
    __tablename__ = "user_account"
    __table_args__ = (CheckConstraint("role IN ('clerk', 'reviewer', 'admin')", name="role"),)

    id: Mapped[intpk]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str200] = mapped_column(default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[created_at]
    # Rotated at login, logout and disabling: a session cookie is valid only while it matches.
    session_token: Mapped[str | None] = mapped_column(String(64))
    password_changed_at: Mapped[datetime | None]

    authority: Mapped[Authority] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}@{self.authority_id}>"


class LoginAttempt(Base):  # 登录尝试
    """One login attempt, kept in the database so the throttle holds across workers and hosts."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "at"),
        Index("ix_login_attempt_ip_at", "ip", "at"),
    )

    id: Mapped[intpk]
    at: Mapped[created_at]
    username: Mapped[str] = mapped_column(String(64))  # as typed (lower-cased), known or not
    ip: Mapped[str] = mapped_column(String(45))
    success: Mapped[bool] = mapped_column(default=False)
