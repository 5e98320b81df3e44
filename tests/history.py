"""A random publication history spread over two years, written through the services with
the clock of the log and of the listing services set back: publications (some loaded as
historical records, listed before they were logged), removals, annulments, expiries by date
and sweeps. And the brute-force replay of the log that the as-of answers are checked against.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import publog, rules
from registry.models import Listing, LogEntry
from registry.services import listings as listing_service
from tests.factories import Factory

START = datetime(2023, 1, 1, 1, 30, tzinfo=UTC)


class Clock:
    """The time the log and the listing services read (utcnow), moved by the test."""

    def __init__(self, monkeypatch, at: datetime = START) -> None:
        self.at = at
        monkeypatch.setattr(publog, "utcnow", self)
        monkeypatch.setattr(listing_service, "utcnow", self)

    def __call__(self) -> datetime:
        return self.at


def _publish(session: Session, make: Factory, people, rng: random.Random, now: datetime):
    clerk, reviewer = people
    backdated = rng.random() < 0.2
    at = now - timedelta(days=rng.randint(1, 120)) if backdated else now
    on = rules.today(at)
    ground = rng.choice(["B3", "D4", "D4", "B1"])
    kw = {"source_expires_on": on + timedelta(days=rng.randint(1, 400))} if ground == "D4" else {}
    listing = make.listing(clerk, ground, decided_on=on - timedelta(days=rng.randint(0, 25)), **kw)
    listing_service.submit_listing(session, clerk, listing)
    return listing_service.publish_listing(session, reviewer, listing, at=at)


def build(session: Session, make: Factory, monkeypatch, steps: int = 70, seed: int = 20):
    """Write the history; returns the clock (left at the last step) and the listings."""
    rng = random.Random(seed)
    clock = Clock(monkeypatch)
    people = (make.actor("clerk"), make.actor("reviewer"))
    live: list[Listing] = []
    made: list[Listing] = []
    for _ in range(steps):
        clock.at += timedelta(hours=rng.randint(1, 24 * 18), minutes=rng.randint(0, 59))
        roll = rng.random()
        if roll < 0.55 or not live:
            listing = _publish(session, make, people, rng, clock.at)
            live.append(listing)
            made.append(listing)
        elif roll < 0.9:
            listing = live.pop(rng.randrange(len(live)))
            if listing.ground.code == "B1" or roll < 0.72:
                listing_service.annul_listing(session, people[1], listing, "列入错误")
            else:
                listing_service.remove_listing(session, people[1], listing, "提前移出")
        else:
            swept = listing_service.expire_due(session, make.system, rules.today(clock.at))
            live = [li for li in live if li not in swept]
    session.flush()
    return clock, made


def day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), rules.SHANGHAI)


def replay(session: Session, day: date) -> set[int]:
    """Brute force: walk every log entry in order and keep what was in force at the end of
    `day` — a publication counts from its entry's day or the listing day in its payload,
    whichever is earlier; a removal, annulment or expiry entry ends it from its own day;
    and nothing is in force on or after the expiry date in the published payload."""
    end = day_end(day)
    shown: dict[int, str | None] = {}
    for entry in session.scalars(select(LogEntry).order_by(LogEntry.number)):
        if entry.entity_type != "listing":
            continue
        payload = json.loads(entry.payload)
        if entry.action == "publish":
            if entry.at < end or date.fromisoformat(payload["listed_on"]) <= day:
                shown[entry.entity_id] = payload["expires_on"]
        elif entry.at < end:
            shown.pop(entry.entity_id, None)
    return {
        listing_id
        for listing_id, expires in shown.items()
        if expires is None or date.fromisoformat(expires) > day
    }
