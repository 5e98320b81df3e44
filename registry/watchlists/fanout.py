"""The first half of the watchlist follower: one delivery row per change per subscriber
(for a mail subscriber, the alert mail in the outbox with it).

The changes are the publication log's listing entries (published, removed, expired,
annulled). Their numbers are gapless and handed out in commit order, so a cursor — the
"watchlist" counter row, the last number fanned out — is all the follower needs to resume
after a crash: the deliveries and the cursor's advance commit together, and a unique
(subscriber, number) keeps a repeat from writing a second row. The UPDATE that reads the
cursor locks its row, so two processes never fan out the same entries at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.models import LogEntry, SequenceCounter, WatchDelivery, WatchedFirm, WatchSubscriber
from registry.screening.normalize import clean
from registry.watchlists import alerts

CURSOR = "watchlist"
BATCH = 500


def _lock_cursor(session: Session) -> int:
    """The cursor's value, its row locked until commit (made when missing)."""
    value = session.execute(
        update(SequenceCounter)
        .where(SequenceCounter.name == CURSOR)
        .values(value=SequenceCounter.value)
        .returning(SequenceCounter.value)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if value is None:
        session.execute(insert(SequenceCounter).values(name=CURSOR, value=0))
        return 0
    return int(value)


Watcher = tuple[int, str, str, str]  # subscriber id, mail address, token, mail mode


def _watchers(
    session: Session, usccs: set[str], names: set[str]
) -> dict[tuple[str, str], list[tuple[int, Watcher]]]:
    """For each ("uscc", code) and ("name", normalised name) of a batch, the active
    subscribers watching it (a mail address only once confirmed) with the log number they
    subscribed after: one query for the whole batch."""
    found: dict[tuple[str, str], list[tuple[int, Watcher]]] = {}
    if not usccs and not names:
        return found
    rows = session.execute(
        select(
            WatchSubscriber.id,
            WatchSubscriber.email,
            WatchSubscriber.token,
            WatchSubscriber.mail_mode,
            WatchSubscriber.after_log_number,
            WatchedFirm.uscc,
            WatchedFirm.name_key,
        )
        .join(WatchedFirm, WatchSubscriber.id == WatchedFirm.subscriber_id)
        .where(
            or_(WatchedFirm.uscc.in_(sorted(usccs)), WatchedFirm.name_key.in_(sorted(names))),
            WatchSubscriber.state == "active",
            or_(WatchSubscriber.email == "", WatchSubscriber.confirmed.is_(True)),
        )
    )
    for sub_id, email, token, mode, after, uscc, name_key in rows:
        watcher = (int(after), (sub_id, email, token, mode))
        if uscc in usccs:
            found.setdefault(("uscc", uscc), []).append(watcher)
        if name_key in names:
            found.setdefault(("name", name_key), []).append(watcher)
    return found


def _subscribers_of(
    watchers: dict[tuple[str, str], list[tuple[int, Watcher]]], uscc: str, name: str, number: int
) -> list[Watcher]:
    """The subscribers watching this firm who subscribed before the change, by id."""
    candidates = watchers.get(("name", clean(name)[:200]), [])
    if uscc:
        candidates = candidates + watchers.get(("uscc", uscc), [])
    return sorted({watcher for after, watcher in candidates if after < number})


def delivery_key(subscriber_id: int, number: int) -> str:
    """The Idempotency-Key: the same for every attempt at this change for this subscriber."""
    return hashlib.sha256(f"watchlist:{subscriber_id}:{number}".encode()).hexdigest()[:40]


def event_body(entry: LogEntry, record: dict[str, Any]) -> str:
    """What the subscriber receives about one change."""
    return json.dumps(
        {
            "event": f"listing.{entry.action}",
            "log_number": entry.number,
            "at": entry.at.isoformat(),
            "entry_hash": entry.entry_hash,
            "listing_id": entry.entity_id,
            "listing": record,
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def _rows(session: Session, entries: Iterable[LogEntry], base_url: str) -> list[dict[str, Any]]:
    """The delivery rows of these entries. A mail subscriber's alert goes to the outbox in
    this same commit, and its row is the log's note that it was handed over; a daily-digest
    subscriber's row stays pending until the digest of its day takes it (digest.py)."""
    records = [(entry, json.loads(entry.payload)) for entry in entries]
    watchers = _watchers(
        session,
        {str(record.get("uscc") or "") for _, record in records} - {""},
        {clean(str(record.get("name") or ""))[:200] for _, record in records},
    )
    rows = []
    for entry, record in records:
        uscc = str(record.get("uscc") or "")
        name = str(record.get("name") or "")
        subscribers = _subscribers_of(watchers, uscc, name, entry.number)
        body = event_body(entry, record) if subscribers else ""
        for subscriber_id, address, token, mode in subscribers:
            row = {
                "subscriber_id": subscriber_id,
                "log_number": entry.number,
                "key": delivery_key(subscriber_id, entry.number),
                "payload": body,
                "state": "pending",
                "attempts": 0,
                "last_error": "",
                "delivered_at": None,
            }
            if address and mode != "daily":
                link = f"{base_url.rstrip('/')}/watchlists/{token}"
                alerts.change(
                    session, address, record, entry.action, link, f"watchlist:{subscriber_id}"
                )
                row |= {"state": "delivered", "delivered_at": utcnow()}
            rows.append(row)
    return rows


def _nobody_to_tell(session: Session, cursor: int) -> bool:
    """When no subscriber (in any state) subscribed before the log's head, the entries
    after the cursor concern nobody: move the cursor to the head at once instead of
    reading them (a whole import's entries, in every process, when nobody watches).
    True when it did, and committed."""
    head = session.scalar(select(func.coalesce(func.max(LogEntry.number), 0))) or 0
    if head <= cursor:
        return False
    if session.scalar(select(exists().where(WatchSubscriber.after_log_number < head))):
        return False
    session.execute(
        update(SequenceCounter)
        .where(SequenceCounter.name == CURSOR)
        .values(value=head)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return True


def fan_out(session: Session, limit: int = BATCH, base_url: str = "") -> bool:
    """Write the deliveries of the next entries after the cursor and advance it, in one
    commit. True when nothing was left after them."""
    cursor = _lock_cursor(session)
    if _nobody_to_tell(session, cursor):
        return True
    entries = list(
        session.scalars(
            select(LogEntry)
            .where(LogEntry.number > cursor, LogEntry.entity_type == "listing")
            .order_by(LogEntry.number)
            .limit(limit)
        )
    )
    if not entries:
        session.commit()
        return True
    rows = _rows(session, entries, base_url)
    if rows:
        session.execute(insert(WatchDelivery), rows)
    session.execute(
        update(SequenceCounter)
        .where(SequenceCounter.name == CURSOR)
        .values(value=entries[-1].number)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return len(entries) < limit
