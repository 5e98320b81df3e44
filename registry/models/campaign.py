"""Enforcement campaigns (专项行动): a national catalogue that sanctions and listings name."""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, created_at, intpk, updated_at
from registry.models.authority import Authority


class Campaign(Base):  # 专项行动 (catalogue row)
    __tablename__ = "campaign"
    __table_args__ = (CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="period"),)

    id: Mapped[intpk]
    slug: Mapped[str] = mapped_column(String(60), unique=True)  # broadband-2020, in URLs
    name: Mapped[str] = mapped_column(String(200), unique=True)  # 商务楼宇宽带垄断专项整治
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]  # open while NULL
    lead_authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"), index=True)
    # Legal basis or notice number: 工信厅通信函〔2020〕162号
    legal_basis: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    lead_authority: Mapped[Authority] = relationship()

    __mapper_args__ = {"version_id_col": version_id}

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Campaign {self.slug}>"
