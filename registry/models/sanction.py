"""Administrative penalties (行政处罚) and the evidence files behind them (证据材料)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import LATER_PLACE, Base, Versioned, created_at
from registry.models.authority import Authority, Owned
from registry.models.campaign import Campaign
from registry.models.enterprise import Enterprise
from registry.models.workflow import Workflow

# Measures a decision can impose (处罚措施). Order is the display order.
MEASURES = (
    "warning",  # 警告
    "fine",  # 罚款
    "confiscation",  # 没收违法所得
    "rectify",  # 责令改正
    "stop_new_users",  # 暂停发展新用户
    "stop_expansion",  # 停止扩大经营
    "suspend_numbers",  # 暂停号码资源分配
    "licence_revocation",  # 吊销经营许可证
    "other",  # 其他
)


class Sanction(Workflow, Base):  # 行政处罚 / 处理决定
    __tablename__ = "sanction"
    __table_args__ = (
        CheckConstraint("state IN ('draft', 'submitted', 'published', 'annulled')", name="state"),
        CheckConstraint("fine_amount IS NULL OR fine_amount >= 0", name="fine_not_negative"),
    )

    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    decision_no: Mapped[str] = mapped_column(String(80))  # 文号 as printed: 粤通管罚〔2020〕12号
    decision_no_canonical: Mapped[str] = mapped_column(String(80), unique=True)
    decided_on: Mapped[date]
    facts: Mapped[str] = mapped_column(Text, default="")  # 违法事实
    legal_basis: Mapped[str] = mapped_column(Text, default="")  # 处罚依据
    measures: Mapped[list[str]] = mapped_column(JSON, default=list)
    fine_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))  # CNY
    confiscated_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))  # CNY
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id"), index=True, sort_order=LATER_PLACE
    )

    authority: Mapped[Authority] = relationship()
    enterprise: Mapped[Enterprise] = relationship()
    campaign: Mapped[Campaign | None] = relationship()  # 专项行动
    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="sanction", order_by="Evidence.id"
    )


class Evidence(Owned, Versioned, Base):  # 证据材料
    __tablename__ = "evidence"
    __table_args__ = (
        CheckConstraint("(sanction_id IS NULL) <> (listing_id IS NULL)", name="one_owner"),
    )

    sanction_id: Mapped[int | None] = mapped_column(ForeignKey("sanction.id"), index=True)
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listing.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # content address on disk
    size: Mapped[int]
    media_type: Mapped[str] = mapped_column(String(100))  # sniffed from content
    original_name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(default=False)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[created_at]
    retracted_at: Mapped[datetime | None]
    retracted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    sanction: Mapped[Sanction | None] = relationship(back_populates="evidence")
