"""What needs a regulator now: the back office's work lists, by workflow state.

Reads only. The public side never asks this module (registry.visibility decides what the
public sees); these lists show records in every state their reader may act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, true
from sqlalchemy.orm import Session, joinedload

from registry import rules
from registry.models import Enterprise, Event, ImportBatch, Listing, Sanction
from registry.rules import Actor

EXPIRING_DAYS = 30
LIMIT = 50


@dataclass
class Worklists:
    my_drafts: list[Listing] = field(default_factory=list)
    returned: list[Listing] = field(default_factory=list)
    my_sanction_drafts: list[Sanction] = field(default_factory=list)
    to_review: list[Listing] = field(default_factory=list)
    overdue: list[Listing] = field(default_factory=list)
    expiring: list[Listing] = field(default_factory=list)
    activity: list[Event] = field(default_factory=list)


def _own(model: Any, who: Actor) -> ColumnElement[bool]:
    """Records of the user's authority; the ministry oversees every authority."""
    return true() if who.is_ministry else model.authority_id == who.authority_id


def worklists(session: Session, who: Actor, today: date) -> Worklists:
    """The start page's lists for `who` on `today` (at most LIMIT records each)."""

    def listings(*where: Any) -> list[Listing]:
        return list(
            session.scalars(
                select(Listing)
                .options(joinedload(Listing.enterprise), joinedload(Listing.ground))
                .where(*where)
                .order_by(Listing.id)
                .limit(LIMIT)
            )
        )

    lists = Worklists()
    lists.my_drafts = listings(
        Listing.state == "draft",
        Listing.created_by_id == who.user_id,
        Listing.returned_reason == "",
    )
    lists.returned = listings(
        Listing.state == "draft",
        Listing.created_by_id == who.user_id,
        Listing.returned_reason != "",
    )
    lists.my_sanction_drafts = list(
        session.scalars(
            select(Sanction)
            .options(joinedload(Sanction.enterprise))
            .where(Sanction.state == "draft", Sanction.created_by_id == who.user_id)
            .order_by(Sanction.id)
            .limit(LIMIT)
        )
    )
    if "publish" in rules.ROLE_ACTIONS.get(who.role, ()):
        # Not what they submitted; an import's listings (submitted by the import, no user)
        # unless they imported the batch themselves.
        imported_by_them = exists().where(
            ImportBatch.id == Listing.import_batch_id, ImportBatch.created_by_id == who.user_id
        )
        lists.to_review = listings(
            Listing.state == "submitted",
            _own(Listing, who),
            or_(
                Listing.submitted_by_id != who.user_id,
                and_(Listing.submitted_by_id.is_(None), ~imported_by_them),
            ),
        )
    # Art. 42: listed within 30 days of the decision; unpublished ones past that are overdue.
    overdue = listings(
        Listing.state.in_(("draft", "submitted")),
        _own(Listing, who),
        Listing.decided_on < today - timedelta(days=rules.LISTING_DEADLINE_DAYS),
    )
    lists.overdue = [item for item in overdue if rules.is_overdue(item.decided_on, None, today)]
    lists.expiring = listings(
        Listing.state == "published",
        _own(Listing, who),
        Listing.expires_on.is_not(None),
        Listing.expires_on > today,
        Listing.expires_on <= today + timedelta(days=EXPIRING_DAYS),
    )
    lists.activity = list(
        session.scalars(
            select(Event)
            .where(Event.authority_id == who.authority_id)
            .order_by(Event.seq.desc())
            .limit(20)
        )
    )
    return lists


def linkable_sanctions(session: Session, who: Actor, enterprise: Enterprise) -> list[Sanction]:
    """The firm's decisions of `who`'s authority a new listing may rest on (not annulled)."""
    return list(
        session.scalars(
            select(Sanction)
            .where(
                Sanction.enterprise_id == enterprise.id,
                Sanction.authority_id == who.authority_id,
                Sanction.state != "annulled",
            )
            .order_by(Sanction.id)
        )
    )
