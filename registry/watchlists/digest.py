"""The third part of the watchlist follower: the daily digest of a mail subscriber who
chose one mail a day.

Their delivery rows stay pending (fanout.py); once an Asia/Shanghai day is over and the
fan-out has passed every change of that day, each such subscriber with pending changes of
that day or before gets one mail listing them. The subscriber's `digest_day` is claimed
with a conditional UPDATE in the same transaction that writes the mail to the outbox and
marks the rows delivered, so two processes never send a day's digest twice, and a process
killed before the commit leaves everything to be done again.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from registry import rules
from registry.db import utcnow
from registry.models import LogEntry, SequenceCounter, WatchDelivery, WatchSubscriber
from registry.watchlists import alerts
from registry.watchlists.fanout import CURSOR

BATCH = 50


def digest_day(now: datetime) -> date:
    """The last Asia/Shanghai day that is over at `now`."""
    return rules.today(now) - timedelta(days=1)


def day_end(day: date) -> datetime:
    """The instant (UTC) the Asia/Shanghai `day` ends."""
    return datetime.combine(day + timedelta(days=1), time(), rules.SHANGHAI).astimezone(UTC)


def _fanned_out_before(session: Session, end: datetime) -> bool:
    """True when every listing change before `end` was fanned out already."""
    cursor = session.scalar(select(SequenceCounter.value).where(SequenceCounter.name == CURSOR))
    waiting = session.scalar(
        select(func.count())
        .select_from(LogEntry)
        .where(
            LogEntry.number > (cursor or 0),
            LogEntry.entity_type == "listing",
            LogEntry.at < end,
        )
    )
    return not waiting


def _pending_before(end: datetime) -> Any:
    return (
        select(WatchDelivery.id)
        .join(LogEntry, LogEntry.number == WatchDelivery.log_number)
        .where(WatchDelivery.state == "pending", LogEntry.at < end)
    )


def _due_subscribers(session: Session, day: str, end: datetime, limit: int) -> list[int]:
    pending = _pending_before(end).where(WatchDelivery.subscriber_id == WatchSubscriber.id)
    return list(
        session.scalars(
            select(WatchSubscriber.id)
            .where(
                WatchSubscriber.url == "",
                WatchSubscriber.email != "",
                WatchSubscriber.confirmed.is_(True),
                WatchSubscriber.state == "active",
                WatchSubscriber.digest_day < day,
                exists(pending),
            )
            .order_by(WatchSubscriber.id)
            .limit(limit)
        )
    )


def _send_one(session: Session, subscriber_id: int, day: str, end: datetime, base_url: str) -> bool:
    """Claim this subscriber's digest of `day`, write it to the outbox and mark its
    changes delivered, in one commit. False when another process had claimed it."""
    claimed = session.execute(
        update(WatchSubscriber)
        .where(
            WatchSubscriber.id == subscriber_id,
            WatchSubscriber.digest_day < day,
            WatchSubscriber.state == "active",
        )
        .values(digest_day=day)
        .execution_options(synchronize_session=False)
    )
    if not getattr(claimed, "rowcount", 0):
        session.rollback()
        return False
    subscriber = session.get(WatchSubscriber, subscriber_id)
    rows = list(
        session.scalars(
            select(WatchDelivery)
            .where(
                WatchDelivery.id.in_(_pending_before(end)),
                WatchDelivery.subscriber_id == subscriber_id,
            )
            .order_by(WatchDelivery.log_number)
        )
    )
    if subscriber is not None and rows:
        changes = [_change(row.payload) for row in rows]
        link = f"{base_url.rstrip('/')}/watchlists/{subscriber.token}"
        alerts.digest(session, subscriber.email, day, changes, link, f"watchlist:{subscriber_id}")
        delivered = utcnow()
        for row in rows:
            row.state, row.delivered_at = "delivered", delivered
    session.commit()
    return True


def _change(payload: str) -> tuple[dict[str, Any], str]:
    event = json.loads(payload)
    return dict(event.get("listing") or {}), str(event.get("event", "")).partition(".")[2]


def send_digests(
    session: Session, base_url: str = "", now: datetime | None = None, limit: int = BATCH
) -> bool:
    """The follower's digest step: send the digests of the last finished day that are
    due. True (caught up) unless more subscribers were due than `limit`."""
    now = now or utcnow()
    day = digest_day(now)
    end = day_end(day)
    if not _fanned_out_before(session, end):
        session.rollback()
        return True  # the fan-out is behind; its own step reports that
    due = _due_subscribers(session, day.isoformat(), end, limit)
    session.rollback()
    for subscriber_id in due:
        _send_one(session, subscriber_id, day.isoformat(), end, base_url)
    return len(due) < limit
