"""THE public filter: what the public may see today.

Pages, search, feeds, API, exports and the publication log all ask this module; nothing
else decides what is public. Each rule comes in the shapes its callers need — a SQL clause
for queries and a Python predicate for loaded rows (and, for listings, one over the fields
the search index stores) — side by side here so they cannot drift apart.

- A listing is public while it is in force (rules.in_force): published, not removed or
  annulled, and today (Asia/Shanghai) before its expiry date — computed at read time, so
  the site is right even when `registry sweep` has not run.
- A listing that was ever published stays a public fact after it left the list: statistics
  count it as new in the quarter it was published, and as a removal on the day it left
  (listing_left_on: removal or annulment day, or the expiry date, even before the sweep).
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

from registry import asof, rules
from registry.models import Evidence, Listing, Notice, Sanction
from registry.sqldates import shanghai_date

PUBLISHED = "published"
# Listing states reached only through publication: what a public notice may name.
EVER_PUBLISHED = ("published", "removed", "expired", "annulled")


# --- listings -----------------------------------------------------------------------------


def listing_in_force(on: date | ColumnElement[Any]) -> ColumnElement[bool]:
    """SQL twin of rules.in_force; `on` may be a bound parameter set at execution."""
    return and_(
        Listing.state == PUBLISHED,
        or_(Listing.expires_on.is_(None), Listing.expires_on > on),
    )


def listing_in_force_as_of(day: date) -> ColumnElement[bool]:
    """SQL: in force at the end of a past `day`, replayed from the publication log (the
    twin of listing_in_force for a date gone by; registry/asof.py)."""
    return asof.in_force_on(day)


def public_listings(on: date, as_of: date | None = None) -> Select[Listing]:
    """Listings in force today (`on`), or at the end of the past day `as_of` when given."""
    if as_of is not None:
        return select(Listing).where(listing_in_force_as_of(as_of))
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
    return held_listing_in_force(stored.get("expires_on"), day)


def held_listing_in_force(expires_on: str | None, day: str) -> bool:
    """stored_listing_in_force of a listing the index holds, from its expiry day (ISO date
    or None) alone (registry.search.facts keeps listings without their other fields)."""
    return expires_on is None or str(expires_on) > day


def listing_named_in_notice() -> ColumnElement[bool]:
    """SQL: a listing a public notice may show (one that was published at some point)."""
    return Listing.state.in_(EVER_PUBLISHED)


def listing_is_named_in_notice(listing: Listing) -> bool:
    return listing.state in EVER_PUBLISHED


def listing_ever_published() -> ColumnElement[bool]:
    """SQL: a listing that was published at some point (in force now or since left)."""
    return Listing.state.in_(EVER_PUBLISHED)


def listing_was_published(listing: Listing) -> bool:
    return listing.state in EVER_PUBLISHED


def listing_left_on(on: date) -> ColumnElement[date | None]:
    """SQL: the Asia/Shanghai day a once-published listing left the list, NULL while it is
    in force (or was never published). Removed or annulled: the day of `ended_at`; expired:
    `expires_on`, the first day it is no longer in force — also for a published listing
    past that date that `registry sweep` has not yet marked expired."""
    return case(
        (Listing.state.in_(("removed", "annulled")), shanghai_date(Listing.ended_at)),
        (Listing.state == "expired", Listing.expires_on),
        (and_(Listing.state == PUBLISHED, Listing.expires_on <= on), Listing.expires_on),
        else_=None,
    )


def listing_exit_kind() -> ColumnElement[str]:
    """SQL, beside listing_left_on: how it left (removed, expired or annulled)."""
    return case((Listing.state == PUBLISHED, "expired"), else_=Listing.state)


def listing_left_day(listing: Listing, on: date) -> date | None:
    """Python twin of listing_left_on."""
    if listing.state in ("removed", "annulled"):
        return rules.today(listing.ended_at) if listing.ended_at is not None else None
    if listing.state == "expired":
        return listing.expires_on
    if listing.state == PUBLISHED and listing.expires_on is not None and listing.expires_on <= on:
        return listing.expires_on
    return None


# --- sanctions and decision numbers -------------------------------------------------------


def sanction_public() -> ColumnElement[bool]:
    return Sanction.state == PUBLISHED


def sanction_is_public(sanction: Sanction) -> bool:
    return sanction.state == PUBLISHED


def public_decision_no(sanction: Sanction | None) -> str | None:
    """The decision number (文号) the public may see: that of a published sanction."""
    if sanction is None:
        return None
    return public_decision_no_of(sanction.state, sanction.decision_no)


def public_decision_no_of(state: str, decision_no: str) -> str | None:
    """`public_decision_no` of a sanction given as its state and number."""
    return decision_no if state == PUBLISHED else None


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
