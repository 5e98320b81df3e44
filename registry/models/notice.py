"""Exposure and removal notices (曝光公告 / 移出公告)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base
from registry.models.authority import Authority
from registry.models.listing import Listing
from registry.models.sanction import Sanction
from registry.models.workflow import Workflow

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


class Notice(Workflow, Base):  # 公告
    __tablename__ = "notice"
    __table_args__ = (
        CheckConstraint("kind IN ('exposure', 'removal')", name="kind"),
        CheckConstraint("state IN ('draft', 'submitted', 'published')", name="state"),
    )

    slug: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default="exposure")
    title: Mapped[str] = mapped_column(String(300))
    body_md: Mapped[str] = mapped_column(Text, default="")

    authority: Mapped[Authority] = relationship()
    listings: Mapped[list[Listing]] = relationship(secondary=notice_listing, order_by=Listing.id)
    sanctions: Mapped[list[Sanction]] = relationship(
        secondary=notice_sanction, order_by=Sanction.id
    )
