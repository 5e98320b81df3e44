"""Bulk review (批量审核): a reviewer publishes or returns a whole set of submitted listings,
e.g. one import batch, in the caller's one transaction.

Each listing gets exactly what a single publication (or return) gives it: the same checks
(role, tenancy, state, four eyes), its Event and, for a publication, its publication-log
entry. Every record is checked before the first is written, so one refused record refuses
the set and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.messages import _
from registry.models import ImportBatch, Listing
from registry.rules import Actor, RuleViolation, check_may, check_reason, next_state
from registry.services.import_batches import check_not_importer
from registry.services.listings import check_publish, publish_listing, return_listing

BULK_ACTIONS = ("publish", "return")


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
    for done, listing in enumerate(listings, start=1):
        if action == "publish":
            publish_listing(session, actor, listing, at=at)
        else:
            return_listing(session, actor, listing, reason)
        if progress is not None:
            progress(done)
    return len(listings)
