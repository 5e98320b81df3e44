"""What the public saw at the end of a past day (Asia/Shanghai), replayed from the
publication log, and what changed between two such days.

A listing's public life is one interval of days, read from its log entries:

- it starts on its publication day: the day of its ``publish`` entry, or its listing day
  (``listed_on``, in that entry's payload) when that is earlier — historical records loaded
  later (demo data, migrations of old lists) were listed on the day they say;
- it ends on the first day it was no longer in force: the day of its ``remove``, ``annul``
  or ``expire`` entry, or its expiry date when that comes first — expiry is computed at
  read time, so a listing left the public pages on its expiry date whether or not
  ``registry sweep`` had logged an ``expire`` entry by then.

At the end of day D a listing was in force when start <= D < end. The listing day and the
expiry date are fixed at publication (both are in the ``publish`` entry's payload), so the
SQL below may read them from the listing's columns. Entries are ordered by their log
timestamp (UTC); a day ends at midnight in Shanghai. No Flask here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, aliased

from registry import rules
from registry.models import Listing, LogEntry

START_ACTION = "publish"
END_ACTIONS = ("remove", "annul", "expire")
# How a listing left the list, by the action of its log entry.
EXIT_KINDS = {"remove": "removed", "annul": "annulled", "expire": "expired"}
EARLIEST = date(1990, 1, 1)  # before any telecom credit list: a date no answer can need


def day_end(day: date) -> datetime:
    """The UTC instant at which `day` ends in Asia/Shanghai (the next day's midnight)."""
    return datetime.combine(day + timedelta(days=1), time(), rules.SHANGHAI).astimezone(UTC)


def _entries(actions: tuple[str, ...], before: datetime | None = None) -> Any:
    """Ids of listings with a log entry of one of `actions` (logged before `before`)."""
    query = select(LogEntry.entity_id).where(
        LogEntry.entity_type == "listing", LogEntry.action.in_(actions)
    )
    if before is not None:
        query = query.where(LogEntry.at < before)
    return query


def in_force_on(day: date) -> ColumnElement[bool]:
    """SQL over Listing: in force at the end of `day`, as the publication log tells it."""
    end = day_end(day)
    return and_(
        Listing.id.in_(_entries((START_ACTION,))),
        or_(Listing.listed_on <= day, Listing.id.in_(_entries((START_ACTION,), end))),
        Listing.id.not_in(_entries(END_ACTIONS, end)),
        or_(Listing.expires_on.is_(None), Listing.expires_on > day),
    )


@dataclass(frozen=True)
class Span:
    """One listing's public life: in force on the days start <= D < end (end None: still)."""

    listing_id: int
    start: date
    end: date | None
    exit: str | None  # removed | annulled | expired, when it ended


def span(
    listing_id: int,
    published_at: datetime,
    listed_on: date | None,
    expires_on: date | None,
    ended_at: datetime | None,
    end_action: str | None,
) -> Span:
    """The interval of a listing from its log entries (see the module docstring)."""
    start = rules.today(published_at)
    if listed_on is not None and listed_on < start:
        start = listed_on
    end: date | None = None
    exit_kind: str | None = None
    if ended_at is not None and end_action is not None:
        end, exit_kind = rules.today(ended_at), EXIT_KINDS[end_action]
    if expires_on is not None and (end is None or expires_on <= end):
        end, exit_kind = expires_on, "expired"
    return Span(listing_id, start, end, exit_kind)


def spans(session: Session, first: date, last: date) -> Iterator[Span]:
    """The spans of every listing that started or ended on a day in [first, last]."""
    publish, ending = aliased(LogEntry), aliased(LogEntry)
    lo, hi = day_end(first - timedelta(days=1)), day_end(last)
    query = (
        select(
            Listing.id,
            publish.at,
            Listing.listed_on,
            Listing.expires_on,
            ending.at,
            ending.action,
        )
        .join(
            publish,
            and_(
                publish.entity_type == "listing",
                publish.entity_id == Listing.id,
                publish.action == START_ACTION,
            ),
        )
        .outerjoin(
            ending,
            and_(
                ending.entity_type == "listing",
                ending.entity_id == Listing.id,
                ending.action.in_(END_ACTIONS),
            ),
        )
        .where(
            or_(
                and_(publish.at >= lo, publish.at < hi),
                Listing.listed_on.between(first, last),
                and_(ending.at >= lo, ending.at < hi),
                Listing.expires_on.between(first, last),
            )
        )
        .order_by(Listing.id)
    )
    for row in session.execute(query):
        yield span(*row)


@dataclass(frozen=True)
class Change:
    """A listing that entered (``listed``) or left the list on `day`."""

    listing_id: int
    day: date
    kind: str  # listed | removed | annulled | expired


def changes(session: Session, after: date, upto: date) -> list[Change]:
    """What changed after the end of day `after` up to the end of day `upto`, oldest first:
    as_of(upto) equals as_of(after) plus the listed minus the removed, annulled and expired
    (a listing both listed and gone in between appears twice)."""
    found: list[Change] = []
    if upto <= after:
        return found
    first = after + timedelta(days=1)
    for item in spans(session, first, upto):
        if item.end is not None and item.end <= item.start:
            continue  # never in force at the end of any day
        if first <= item.start <= upto:
            found.append(Change(item.listing_id, item.start, "listed"))
        if item.end is not None and item.exit and first <= item.end <= upto:
            found.append(Change(item.listing_id, item.end, item.exit))
    found.sort(key=lambda change: (change.day, change.kind != "listed", change.listing_id))
    return found
