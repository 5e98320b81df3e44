"""Operators (电信业务经营者), their former names and licences (经营许可证)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, Tracked, created_at, intpk, str200
from registry.models.authority import Authority

ENTERPRISE_KINDS = ("basic", "value_added", "resale", "other")  # 基础 / 增值 / 转售 / 其他
LICENCE_STATUSES = ("valid", "suspended", "revoked", "cancelled", "expired")


class Enterprise(Tracked, Base):  # 电信业务经营者
    __tablename__ = "enterprise"
    __table_args__ = (
        CheckConstraint("kind IN ('basic', 'value_added', 'resale', 'other')", name="kind"),
    )

    id: Mapped[intpk]
    # Unified social credit code (统一社会信用代码), canonical upper-case form; NULL when unknown.
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    name: Mapped[str200]
    province_code: Mapped[str | None] = mapped_column(String(6), index=True)  # GB/T 2260
    kind: Mapped[str] = mapped_column(String(12), default="value_added")
    address: Mapped[str] = mapped_column(Text, default="")
    # The authority that created and maintains this record (tenancy for edits).
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"), index=True)

    authority: Mapped[Authority] = relationship()
    former_names: Mapped[list[FormerName]] = relationship(
        back_populates="enterprise", order_by="FormerName.id", cascade="save-update, merge"
    )
    licences: Mapped[list[Licence]] = relationship(
        back_populates="enterprise", order_by="Licence.id", cascade="save-update, merge"
    )

    def __repr__(self) -> str:
        return f"<Enterprise {self.id} {self.uscc} {self.name}>"


class FormerName(Base):  # 曾用名
    __tablename__ = "former_name"

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    name: Mapped[str200]
    used_until: Mapped[date | None]
    recorded_at: Mapped[created_at]

    enterprise: Mapped[Enterprise] = relationship(back_populates="former_names")


class Licence(Tracked, Base):  # 经营许可证
    __tablename__ = "licence"
    __table_args__ = (
        CheckConstraint(
            "status IN ('valid', 'suspended', 'revoked', 'cancelled', 'expired')", name="status"
        ),
    )

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    number: Mapped[str] = mapped_column(String(60))  # as printed: 粤B2-20100123
    number_canonical: Mapped[str] = mapped_column(String(60), unique=True)
    services: Mapped[str] = mapped_column(Text, default="")  # 业务种类
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("authority.id"))
    status: Mapped[str] = mapped_column(String(10), default="valid")
    issued_on: Mapped[date | None]
    expires_on: Mapped[date | None]

    enterprise: Mapped[Enterprise] = relationship(back_populates="licences")
    issuer: Mapped[Authority | None] = relationship()


__all__ = ["ENTERPRISE_KINDS", "LICENCE_STATUSES", "Enterprise", "FormerName", "Licence"]
