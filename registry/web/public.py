"""Public, read-only pages."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from registry import rules, visibility
from registry.database import get_session
from registry.models import Listing, Notice

bp = Blueprint("public", __name__)


@bp.get("/")
def home():
    session = get_session()
    today = rules.today()
    counts = dict(
        session.execute(
            select(Listing.list_code, func.count())
            .where(visibility.listing_in_force(today))
            .group_by(Listing.list_code)
        ).all()
    )
    latest = session.scalars(
        visibility.public_listings(today)
        .options(
            joinedload(Listing.enterprise),
            joinedload(Listing.ground),
            joinedload(Listing.authority),
        )
        .order_by(Listing.published_at.desc(), Listing.id.desc())
        .limit(10)
    ).all()
    notices = session.scalars(
        select(Notice)
        .where(Notice.state == "published")
        .order_by(Notice.published_at.desc())
        .limit(5)
    ).all()
    return render_template("public/home.html", counts=counts, latest=latest, notices=notices)
