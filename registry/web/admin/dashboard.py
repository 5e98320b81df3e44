"""The regulator's start page: what needs them now."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template
from sqlalchemy import select, true
from sqlalchemy.orm import joinedload

from registry import rules
from registry.database import get_session
from registry.models import Event, Listing, Sanction
from registry.web.admin.blueprint import bp
from registry.web.admin.policy import actor, requires

EXPIRING_DAYS = 30
LIMIT = 50


def _own(model, who):
    """Records of the user's authority; the ministry oversees every authority."""
    return true() if who.is_ministry else model.authority_id == who.authority_id


@bp.get("/")
@requires("read")
def dashboard():
    who = actor()
    db = get_session()
    today = rules.today()
    with_names = (joinedload(Listing.enterprise), joinedload(Listing.ground))

    def listings(*where):
        return db.scalars(
            select(Listing).options(*with_names).where(*where).order_by(Listing.id).limit(LIMIT)
        ).all()

    my_drafts = listings(
        Listing.state == "draft",
        Listing.created_by_id == who.user_id,
        Listing.returned_reason == "",
    )
    returned = listings(
        Listing.state == "draft",
        Listing.created_by_id == who.user_id,
        Listing.returned_reason != "",
    )
    my_sanction_drafts = db.scalars(
        select(Sanction)
        .options(joinedload(Sanction.enterprise))
        .where(Sanction.state == "draft", Sanction.created_by_id == who.user_id)
        .order_by(Sanction.id)
        .limit(LIMIT)
    ).all()
    to_review = []
    if "publish" in rules.ROLE_ACTIONS.get(who.role, ()):
        to_review = listings(
            Listing.state == "submitted",
            _own(Listing, who),
            Listing.submitted_by_id != who.user_id,
        )
    # Art. 42: listed within 30 days of the decision; unpublished ones past that are overdue.
    overdue = listings(
        Listing.state.in_(("draft", "submitted")),
        _own(Listing, who),
        Listing.decided_on < today - timedelta(days=rules.LISTING_DEADLINE_DAYS),
    )
    overdue = [item for item in overdue if rules.is_overdue(item.decided_on, None, today)]
    expiring = listings(
        Listing.state == "published",
        _own(Listing, who),
        Listing.expires_on.is_not(None),
        Listing.expires_on > today,
        Listing.expires_on <= today + timedelta(days=EXPIRING_DAYS),
    )
    activity = db.scalars(
        select(Event)
        .where(Event.authority_id == who.authority_id)
        .order_by(Event.seq.desc())
        .limit(20)
    ).all()
    return render_template(
        "admin/dashboard.html",
        my_drafts=my_drafts,
        my_sanction_drafts=my_sanction_drafts,
        returned=returned,
        to_review=to_review,
        overdue=overdue,
        expiring=expiring,
        activity=activity,
        today=today,
        deadline=rules.listing_deadline,
    )
