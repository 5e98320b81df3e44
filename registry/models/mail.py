"""The outbox (待发邮件): mail written with the change that causes it, sent by a follower."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, UTCDateTime, created_at, intpk, utcnow


class OutboxMail(Base):  # 待发邮件
    __tablename__ = "outbox_mail"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'sent', 'failed')", name="state"),
        Index("ix_outbox_mail_due", "state", "next_attempt_at"),
    )

    id: Mapped[intpk]
    created_at: Mapped[created_at]
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # What the mail is about ("submission:12"), so a retention sweep can find it.
    ref: Mapped[str] = mapped_column(String(60), default="", index=True)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A sender claims a mail until then, so two processes never send it at once.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")

    def __repr__(self) -> str:
        return f"<OutboxMail {self.id} {self.state}>"
