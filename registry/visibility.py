"""THE public filter: what the public may see today.

Pages, search, feeds, API, exports and the publication log all ask this module; nothing
else decides what is public. Each rule comes in the shapes its callers need — a SQL clause
for queries and a Python predicate for loaded rows (and, for listings, one over the fields
the search index stores) — side by side here so they cannot drift apart.

- A listing is public while it is in force (rules.in_force): published, not removed or
  annulled, and today (Asia/Shanghai) before its expiry date — computed at read time, so
  the site is right even when `registry sweep` has not run.
- A sanction, its decision number included, is public once published.
- A notice is public once published; it names the listings that were ever published
  (a removal notice names listings no longer in force).
- An evidence file is public when a reviewer marked it public and it is not retracted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select

from registry import rules
from registry.models import Evidence, Listing, Notice, Sanction

PUBLISHED = "published"
# Listing states reached only through publication: what a public notice may name.
EVER_PUBLISHED = ("published", "removed", "expired", "annulled")


# --- listings -----------------------------------------------------------------------------


def listing_in_force(on: date) -> ColumnElement[bool]:
    """SQL twin of rules.in_force."""
    return and_(
        Listing.state == PUBLISHED,
        or_(Listing.expires_on.is_(None), Listing.expires_on > on),
    )


def public_listings(on: date) -> Select[Listing]:
    return select(Listing).where(listing_in_force(on))


def in_force_by_list(on: date) -> Select[str, int]:
    """(list code, number of listings in force on `on`), one row per list that has any."""
    return (
        select(Listing.list_code, func.count())
        .where(listing_in_force(on))
        .group_by(Listing.list_code)
    )


def listing_is_in_force(listing: rules.HasLifecycle, on: date) -> bool:
    """Python twin of listing_in_force, for rows already loaded."""
    return rules.in_force(listing, on)


def stored_listing_in_force(stored: Mapping[str, Any], day: str) -> bool:
    """Twin of listing_in_force over a listing as the search index stores it.

    The index holds only listings that were in force when their firm was indexed (see
    search.documents), with `expires_on` as an ISO date or None; `day` is the ISO date
    asked about. So what is left to check here is expiry since indexing.
    """
    expires_on = stored.get("expires_on")
    return expires_on is None or str(expires_on) > day


def listing_named_in_notice() -> ColumnElement[bool]:
    """SQL: a listing a public notice may show (one that was published at some point)."""
    return Listing.state.in_(EVER_PUBLISHED)


def listing_is_named_in_notice(listing: Listing) -> bool:
    return listing.state in EVER_PUBLISHED


# --- sanctions and decision numbers -------------------------------------------------------


def sanction_public() -> ColumnElement[bool]:
    return Sanction.state == PUBLISHED


def sanction_is_public(sanction: Sanction) -> bool:
    return sanction.state == PUBLISHED


def public_decision_no(sanction: Sanction | None) -> str | None:
    """The decision number (文号) the public may see: that of a published sanction."""
    if sanction is None or not sanction_is_public(sanction):
        return None
    return sanction.decision_no


def public_decision_no_column() -> ColumnElement[str | None]:
    """SQL twin of public_decision_no, for a query joined (outer) to Sanction."""
    return case((sanction_public(), Sanction.decision_no), else_=None)


# --- notices ------------------------------------------------------------------------------


def notice_public() -> ColumnElement[bool]:
    return Notice.state == PUBLISHED


def public_notices() -> Select[Notice]:
    return select(Notice).where(notice_public())


def notice_is_public(notice: Notice) -> bool:
    return notice.state == PUBLISHED


# --- evidence -----------------------------------------------------------------------------


def evidence_public() -> ColumnElement[bool]:
    return and_(Evidence.public.is_(True), Evidence.retracted_at.is_(None))


def evidence_is_public(evidence: Evidence) -> bool:
    return bool(evidence.public) and evidence.retracted_at is None
