"""Exposure and removal notices (曝光公告 / 移出公告)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, created_at, intpk, updated_at
from registry.models.account import User
from registry.models.authority import Authority
from registry.models.listing import Listing
from registry.models.sanction import Sanction

NOTICE_KINDS = ("exposure", "removal")
NOTICE_STATES = ("draft", "submitted", "published")

notice_listing = Table(
    "notice_listing",
    Base.metadata,
    Column("notice_id", ForeignKey("notice.id"), primary_key=True),
    Column("listing_id", ForeignKey("listing.id"), primary_key=True, index=True),
)

notice_sanction = Table(
    "notice_sanction",
    Base.metadata,
    Column("notice_id", ForeignKey("notice.id"), primary_key=True),
    Column("sanction_id", ForeignKey("sanction.id"), primary_key=True, index=True),
)


class Notice(Base):  # 公告
    __tablename__ = "notice"
    __table_args__ = (
        CheckConstraint("kind IN ('exposure', 'removal')", name="kind"),
        CheckConstraint("state IN ('draft', 'submitted', 'published')", name="state"),
    )

    id: Mapped[intpk]
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"), index=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default="exposure")
    title: Mapped[str] = mapped_column(String(300))
    body_md: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(10), default="draft")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    published_at: Mapped[datetime | None]
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    authority: Mapped[Authority] = relationship()
    listings: Mapped[list[Listing]] = relationship(secondary=notice_listing, order_by=Listing.id)
    sanctions: Mapped[list[Sanction]] = relationship(
        secondary=notice_sanction, order_by=Sanction.id
    )
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    published_by: Mapped[User | None] = relationship(foreign_keys=[published_by_id])

    __mapper_args__ = {"version_id_col": version_id}
