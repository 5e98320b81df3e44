"""Bulk review (批量审核): a reviewer publishes or returns a whole set of submitted listings,
e.g. one import batch, in the caller's one transaction.

Each listing gets exactly what a single publication (or return) gives it: the same checks
(role, tenancy, state, four eyes), its Event and, for a publication, its publication-log
entry. Every record is checked before the first is written, so one refused record refuses
the set and nothing is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, insert, tuple_, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from registry import publog
from registry.db import utcnow
from registry.errors import ConflictError
from registry.messages import _
from registry.models import Event, ImportBatch, Listing
from registry.rules import Actor, RuleViolation, check_may, check_reason, next_state
from registry.sequence import next_seqs
from registry.services.history import entity_type, event_values, flush, snapshot
from registry.services.import_batches import check_not_importer
from registry.services.listings import (
    check_publish,
    publication_values,
    publish_listing,
)

BULK_ACTIONS = ("publish", "return")
CHUNK = 500
# A generous rate for the duration the reviewer is told before confirming: bench/bulk_publish.py
# publishes 11,435 listings in well under 10 s on a quiet bench machine on either backend
# (docs/PERFORMANCE.md); the margin covers a busy server.
SECONDS_PER_THOUSAND = 2


def expected_seconds(count: int) -> int:
    """About how long publishing `count` listings in one bulk action takes (rounded up)."""
    return max(1, math.ceil(count * SECONDS_PER_THOUSAND / 1000))


def _check_one(session: Session, actor: Actor, listing: Listing, action: str, at: datetime) -> None:
    check_may(actor, action, listing.authority_id)
    next_state(listing.state, action)
    if action != "publish":
        return
    check_publish(actor, listing, at)
    if listing.submitted_by_id is None and listing.import_batch_id is not None:
        check_not_importer(actor, session.get(ImportBatch, listing.import_batch_id))


def check_bulk(
    session: Session, actor: Actor, listings: Sequence[Listing], action: str, at: datetime
) -> None:
    """Refuse the whole set when any of its listings may not take `action` now; the
    refusal names the first such listing's firm."""
    if action not in BULK_ACTIONS:
        raise RuleViolation("bad_action", _("不支持的批量操作"))
    for number, listing in enumerate(listings, start=1):
        try:
            _check_one(session, actor, listing, action, at)
        except RuleViolation as exc:
            raise RuleViolation(
                exc.code,
                _(
                    "%(firm)s（第%(n)s条）：%(reason)s；未处理任何记录",
                    firm=listing.enterprise.name,
                    n=number,
                    reason=exc.message,
                ),
            ) from exc


def bulk_review(
    session: Session,
    actor: Actor,
    listings: Sequence[Listing],
    action: str,
    *,
    reason: str = "",
    at: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Publish or return every listing of the set; returns how many. Nothing commits here."""
    at = at or utcnow()
    check_reason(action, reason)
    if not listings:
        raise RuleViolation("empty_selection", _("没有选中任何待审核的记录"))
    check_bulk(session, actor, listings, action, at)
    alone: list[Listing] = []
    if action == "publish":
        # A listing whose penalty decision is published with it takes the single path
        # (the decision first); the others are published in chunks.
        alone = [
            item
            for item in listings
            if item.sanction is not None and item.sanction.state != "published"
        ]
        for listing in alone:
            publish_listing(session, actor, listing, at=at)
    alone_ids = {item.id for item in alone}
    rest = [item for item in listings if item.id not in alone_ids]
    # The chunks' versioned UPDATEs match what is in the database: changes still pending
    # on the objects go first.
    flush(session)
    for start in range(0, len(rest), CHUNK):
        _change_chunk(session, actor, rest[start : start + CHUNK], action, reason.strip(), at)
        if progress is not None:
            progress(len(alone) + min(start + CHUNK, len(rest)))
    return len(listings)


def _change_chunk(
    session: Session,
    actor: Actor,
    listings: Sequence[Listing],
    action: str,
    reason: str,
    at: datetime,
) -> None:
    """What publish_listing or return_listing does for each listing (checked already),
    with one versioned UPDATE per set of equal new values, one INSERT of their Events and,
    for a publication, one of their publication-log entries."""

    def values(listing: Listing) -> dict[str, Any]:
        if action == "publish":
            return publication_values(actor, listing, at)
        return {"returned_reason": reason}

    befores = [snapshot(listing) for listing in listings]
    _write_changes(session, listings, action, values)
    numbers = next_seqs(session, len(listings))
    events = [
        event_values(
            actor, listing, action, seq=seq, after=snapshot(listing), before=before, reason=reason
        )
        for listing, before, seq in zip(listings, befores, numbers, strict=True)
    ]
    table = cast(Table, Event.__table__)
    ids = session.scalars(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), events
    ).all()
    if not publog.is_publication(entity_type(listings[0]), action):
        return
    for event, event_id in zip(events, ids, strict=True):
        event["id"] = event_id
    publog.insert_many(
        session, [(event, listing, None) for event, listing in zip(events, listings, strict=True)]
    )


def _write_changes(
    session: Session,
    listings: Sequence[Listing],
    action: str,
    values: Callable[[Listing], dict[str, Any]],
) -> None:
    """Take the submitted listings through `action` in the database and on the loaded
    objects, as the unit of work would, but with one UPDATE per group of listings whose
    new `values` are equal (for a publication, in practice one per expiry date). Each row
    is matched on its id and the version it was loaded with, like the ORM's optimistic
    lock: a row someone changed in between is not matched, and the shortfall raises
    ConflictError (the caller rolls the transaction back, so nothing is written)."""
    state = next_state("submitted", action)
    changed_at = utcnow()
    groups: dict[tuple[tuple[str, Any], ...], list[Listing]] = {}
    for listing in listings:
        groups.setdefault(tuple(values(listing).items()), []).append(listing)
    table = cast(Table, Listing.__table__)
    for key, members in groups.items():
        loaded = [(item.id, item.version_id) for item in members]
        result = session.execute(
            update(table)
            .where(tuple_(table.c.id, table.c.version_id).in_(loaded))
            .where(table.c.state == "submitted")
            .values(
                **dict(key),
                state=state,
                updated_at=changed_at,
                version_id=table.c.version_id + 1,
            )
        )
        if cast(CursorResult[Any], result).rowcount != len(members):
            raise ConflictError(_("此记录已被他人修改，请刷新后重试"))
        for item in members:
            for column, value in (*key, ("state", state), ("updated_at", changed_at)):
                set_committed_value(item, column, value)
            set_committed_value(item, "version_id", item.version_id + 1)
