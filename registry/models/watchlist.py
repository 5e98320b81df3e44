"""Watchlists (关注清单): subscribers told when a watched firm's listing changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, UTCDateTime, created_at, intpk, utcnow


class WatchSubscriber(Base):  # 关注清单订阅者
    """A webhook (URL and shared secret) called, or a mail address written to, for every
    public change of a listing of a watched firm. Managed without login through the secret
    `token` in its address; a mail address must first be confirmed from that page."""

    __tablename__ = "watch_subscriber"
    __table_args__ = (
        CheckConstraint("state IN ('active', 'disabled', 'unsubscribed')", name="state"),
    )

    id: Mapped[intpk]
    created_at: Mapped[created_at]
    token: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(2000), default="")  # "" for a mail subscriber
    # The shared secret of the HMAC-SHA256 signature; the subscriber chose it.
    secret: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")  # "" for a webhook
    confirmed: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(15), default="active")
    # Failed attempts since the last delivered one; DISABLE_AFTER of them disable it.
    failures: Mapped[int] = mapped_column(default=0)
    # The publication log's last number when it subscribed: only later changes are sent.
    after_log_number: Mapped[int] = mapped_column(BigInteger, default=0)
    # A mail subscriber's choice: "immediate" (one mail per change) or "daily" (one digest
    # of the day's changes, Asia/Shanghai, sent once the day is over).
    mail_mode: Mapped[str] = mapped_column(String(10), default="immediate")
    # The last Asia/Shanghai day (YYYY-MM-DD) whose digest was sent; claimed before sending.
    digest_day: Mapped[str] = mapped_column(String(10), default="")

    def __repr__(self) -> str:
        return f"<WatchSubscriber {self.id} {self.state}>"


class WatchedFirm(Base):  # 关注的经营者
    """One firm a subscriber watches: by USCC, or else by its normalised name."""

    __tablename__ = "watched_firm"
    __table_args__ = (
        Index("ix_watched_firm_uscc", "uscc"),
        Index("ix_watched_firm_name_key", "name_key"),
    )

    id: Mapped[intpk]
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("watch_subscriber.id", ondelete="CASCADE"), index=True
    )
    uscc: Mapped[str | None] = mapped_column(String(18))
    name_key: Mapped[str | None] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200))  # as the subscriber wrote it


class WatchDelivery(Base):  # 推送记录
    """One change of the publication log to send to one subscriber, and how that went (the
    delivery log). Written by the watchlist follower; the key is the Idempotency-Key."""

    __tablename__ = "watch_delivery"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state"),
        UniqueConstraint("subscriber_id", "log_number", name="one_per_change"),
        Index("ix_watch_delivery_due", "state", "next_attempt_at"),
    )

    id: Mapped[intpk]
    created_at: Mapped[created_at]
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("watch_subscriber.id", ondelete="CASCADE"), index=True
    )
    log_number: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(Text, default="")

    def __repr__(self) -> str:
        return f"<WatchDelivery {self.id} {self.state}>"
