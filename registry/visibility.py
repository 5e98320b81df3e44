"""THE public filter: what the public may see today.

Pages, search, feeds, API and exports all ask this module; nothing else decides what is
public. A listing is public while it is in force (rules.in_force): published, not removed
or annulled, and today (Asia/Shanghai) before its expiry date — computed at read time, so
the site is right even when `registry sweep` has not run.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, Select, and_, or_, select

from registry.models import Listing, Sanction


def listing_in_force(on: date) -> ColumnElement[bool]:
    """SQL twin of rules.in_force."""
    return and_(
        Listing.state == "published",
        or_(Listing.expires_on.is_(None), Listing.expires_on > on),
    )


def public_listings(on: date) -> Select[tuple[Listing]]:
    return select(Listing).where(listing_in_force(on))


def sanction_public() -> ColumnElement[bool]:
    return Sanction.state == "published"
