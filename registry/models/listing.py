"""Listing grounds (列入事由), list entries (名单记录) and petitions (异议 / 信用修复)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import LATER_PLACE, Base, Tracked, Versioned, intpk
from registry.models.account import User
from registry.models.authority import Authority, Owned
from registry.models.campaign import Campaign
from registry.models.enterprise import Enterprise
from registry.models.sanction import Evidence, Sanction
from registry.models.workflow import ENDED_PLACE, SUBMITTED_PLACE, Workflow

LISTS = ("bad", "dishonest")  # 不良名单, 失信名单
LISTING_STATES = ("draft", "submitted", "published", "removed", "expired", "annulled")
# How a ground's term is set: a fixed number of months, open until removed, or
# taken from the source decision (e.g. joint punishment, 联合惩戒).
TERM_KINDS = ("fixed", "until_removed", "source")
# How a listing on that ground leaves the list.
REMOVAL_RULES = ("on_filing", "expiry_or_early", "expiry_only", "source")


class Ground(Versioned, Base):  # 列入事由 (catalogue row)
    __tablename__ = "ground"
    __table_args__ = (
        CheckConstraint("list_code IN ('bad', 'dishonest')", name="list_code"),
        CheckConstraint("term_kind IN ('fixed', 'until_removed', 'source')", name="term_kind"),
        CheckConstraint(
            "removal_rule IN ('on_filing', 'expiry_or_early', 'expiry_only', 'source')",
            name="removal_rule",
        ),
        CheckConstraint(
            "(term_kind = 'fixed') = (term_months IS NOT NULL)", name="term_months_iff_fixed"
        ),
    )

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(10), unique=True)  # B1, D2, ...
    list_code: Mapped[str] = mapped_column(String(10))  # bad | dishonest
    title: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(String(200), default="")
    term_kind: Mapped[str] = mapped_column(String(15))
    term_months: Mapped[int | None]
    removal_rule: Mapped[str] = mapped_column(String(20))
    removal_note: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)

    def __repr__(self) -> str:
        return f"<Ground {self.code}>"


class Listing(Workflow, Base):  # 名单记录
    __tablename__ = "listing"
    __table_args__ = (
        CheckConstraint("list_code IN ('bad', 'dishonest')", name="list_code"),
        CheckConstraint(
            "state IN ('draft', 'submitted', 'published', 'removed', 'expired', 'annulled')",
            name="state",
        ),
        Index("ix_listing_natural_key", "enterprise_id", "list_code", "ground_id", "decided_on"),
        Index("ix_listing_state_list", "state", "list_code"),
    )

    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    list_code: Mapped[str] = mapped_column(String(10))  # bad | dishonest
    ground_id: Mapped[int] = mapped_column(ForeignKey("ground.id"), index=True)
    sanction_id: Mapped[int | None] = mapped_column(ForeignKey("sanction.id"), index=True)
    decided_on: Mapped[date]  # 处理日期
    listed_on: Mapped[date | None]  # set when published (Asia/Shanghai date)
    expires_on: Mapped[date | None]  # fixed at publication from the ground's term
    # For grounds whose term comes from the source decision (联合惩戒): entered by the clerk.
    source_expires_on: Mapped[date | None]
    facts: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime | None] = mapped_column(sort_order=SUBMITTED_PLACE)
    returned_reason: Mapped[str] = mapped_column(Text, default="", sort_order=SUBMITTED_PLACE)
    # When and by whom it was removed, expired or annulled, and why.
    ended_at: Mapped[datetime | None] = mapped_column(sort_order=ENDED_PLACE)
    ended_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), sort_order=ENDED_PLACE
    )
    end_reason: Mapped[str] = mapped_column(Text, default="", sort_order=ENDED_PLACE)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id"), index=True, sort_order=LATER_PLACE
    )
    # The import batch that made this listing (NULL when entered through the form).
    import_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batch.id"), index=True, sort_order=LATER_PLACE + 1
    )

    authority: Mapped[Authority] = relationship()
    enterprise: Mapped[Enterprise] = relationship()
    ground: Mapped[Ground] = relationship()
    sanction: Mapped[Sanction | None] = relationship()
    campaign: Mapped[Campaign | None] = relationship()  # 专项行动
    ended_by: Mapped[User | None] = relationship(foreign_keys=[ended_by_id])
    evidence: Mapped[list[Evidence]] = relationship(
        primaryjoin="Evidence.listing_id == Listing.id", order_by="Evidence.id", viewonly=True
    )

    def __repr__(self) -> str:
        return f"<Listing {self.id} {self.list_code}/{self.state}>"


class Petition(Owned, Tracked, Base):  # 异议 / 信用修复申请
    __tablename__ = "petition"
    __table_args__ = (
        CheckConstraint("kind IN ('objection', 'credit_repair')", name="kind"),
        CheckConstraint("state IN ('received', 'upheld', 'rejected', 'withdrawn')", name="state"),
    )

    listing_id: Mapped[int] = mapped_column(ForeignKey("listing.id"), index=True)
    kind: Mapped[str] = mapped_column(String(15))
    petitioner: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(200), default="")
    received_on: Mapped[date]
    statement: Mapped[str] = mapped_column(Text, default="")  # what the petitioner says
    state: Mapped[str] = mapped_column(String(10), default="received")
    decided_on: Mapped[date | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    outcome: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    listing: Mapped[Listing] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
