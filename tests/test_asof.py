"""As of a date: what the public saw at the end of a past day (Asia/Shanghai), replayed from
the publication log — publications, removals, annulments and expiries (by date, logged by
the sweep or not)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from registry import asof, rules, visibility
from registry.models import Listing, LogEntry
from registry.services import listings
from tests import history


def as_of_ids(session, day: date) -> set[int]:
    return set(session.scalars(select(Listing.id).where(visibility.listing_in_force_as_of(day))))


@pytest.fixture
def past(session, make, monkeypatch):
    clock, made = history.build(session, make, monkeypatch)
    return clock, made


def interesting_days(session, rng: random.Random, count: int) -> list[date]:
    """`count` random days across the history, and the day before, of and after every
    entry and every expiry date (where off-by-one mistakes would show)."""
    first, last = date(2022, 10, 1), date(2025, 6, 30)
    days = {first + timedelta(days=rng.randint(0, (last - first).days)) for _ in range(count)}
    edges = set()
    for entry in session.scalars(select(LogEntry)):
        edges.add(rules.today(entry.at))
    for expires in session.scalars(
        select(Listing.expires_on).where(Listing.expires_on.is_not(None))
    ):
        edges.add(expires)
    for edge in edges:
        days.update({edge - timedelta(days=1), edge, edge + timedelta(days=1)})
    return sorted(days)


def test_as_of_equals_a_brute_force_replay_of_the_log_on_50_random_days(session, past):
    rng = random.Random(50)
    days = interesting_days(session, rng, 50)
    assert len(days) >= 50
    nonempty = 0
    for day in days:
        expected = history.replay(session, day)
        assert as_of_ids(session, day) == expected, day
        nonempty += bool(expected)
    assert nonempty > len(days) // 2  # the history is not trivially empty


def test_history_has_every_kind_of_exit(session, past):
    """The history the replay is checked on holds removals, annulments, logged expiries,
    expiries by date that no sweep logged, and historical records listed before logging."""
    actions = set(session.scalars(select(LogEntry.action)))
    assert {"publish", "remove", "annul", "expire"} <= actions
    clock, made = past
    today_then = rules.today(clock.at)
    unswept = [
        li
        for li in made
        if li.state == "published" and li.expires_on and li.expires_on <= today_then
    ]
    assert unswept, "some listing expired by date without an expire entry"
    logged = {
        entry.entity_id: rules.today(entry.at)
        for entry in session.scalars(select(LogEntry).where(LogEntry.action == "publish"))
    }
    assert any(li.listed_on < logged[li.id] for li in made)


def test_as_of_today_equals_what_is_in_force_today(session, past, today):
    live = set(session.scalars(select(Listing.id).where(visibility.listing_in_force(today))))
    assert as_of_ids(session, today) == live


def test_a_listing_removed_on_a_day_is_gone_at_the_end_of_that_day(session, make, monkeypatch):
    """The end of a day is midnight in Shanghai: 23:59 Shanghai is still that day."""
    clock = history.Clock(monkeypatch)
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    clock.at = history.day_end(date(2024, 3, 9)) - timedelta(minutes=1)  # 2024-03-09 23:59 +08
    listing = make.listing(clerk, "B3", decided_on=date(2024, 3, 1))
    listings.submit_listing(session, clerk, listing)
    listings.publish_listing(session, reviewer, listing, at=clock.at)
    assert listing.listed_on == date(2024, 3, 9)
    assert listing.id not in as_of_ids(session, date(2024, 3, 8))
    assert listing.id in as_of_ids(session, date(2024, 3, 9))
    clock.at += timedelta(minutes=2)  # 2024-03-10 00:01 +08
    listings.remove_listing(session, reviewer, listing, "提前移出")
    session.flush()
    assert listing.id in as_of_ids(session, date(2024, 3, 9))
    assert listing.id not in as_of_ids(session, date(2024, 3, 10))


def test_day_end_is_midnight_in_shanghai():
    assert asof.day_end(date(2024, 1, 1)).isoformat() == "2024-01-01T16:00:00+00:00"
