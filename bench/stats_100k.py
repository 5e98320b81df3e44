"""Time registry.stats.compute over 100,000 listings (20,000 firms) of random states and dates.

Usage: .venv/bin/python bench/stats_100k.py DATABASE_URL — an empty database: it is migrated,
seeded and filled. On PostgreSQL the fill is followed by ANALYZE, as autovacuum would do,
so that the planner sees the table's real size.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from registry import stats
from registry.db import make_engine
from registry.migrate import upgrade
from registry.models import Authority, Enterprise, Ground, Listing
from registry.rules import Actor
from registry.services.reference import seed

LISTINGS, FIRMS = 100_000, 20_000


def fill(session: Session) -> list[str]:
    rng = random.Random(1)
    now = datetime.now(UTC)
    authorities = list(session.scalars(select(Authority.id)))
    provinces = list(session.scalars(select(Authority.code).where(Authority.level == "province")))
    grounds = [(g.id, g.list_code) for g in session.scalars(select(Ground))]
    firms = [
        {
            "name": f"firm{n}",
            "authority_id": authorities[1],
            "province_code": rng.choice(provinces),
            "created_at": now,
            "updated_at": now,
        }
        for n in range(FIRMS)
    ]
    session.execute(insert(Enterprise), firms)
    firm_ids = list(session.scalars(select(Enterprise.id)))
    rows = []
    for _ in range(LISTINGS):
        ground_id, list_code = rng.choice(grounds)
        listed = date(2018, 1, 1) + timedelta(days=rng.randrange(3200))
        state = rng.choice(["published"] * 6 + ["removed", "expired", "annulled", "draft"])
        ended = datetime(listed.year, listed.month, listed.day, tzinfo=UTC) + timedelta(days=200)
        rows.append(
            {
                "authority_id": rng.choice(authorities),
                "enterprise_id": rng.choice(firm_ids),
                "list_code": list_code,
                "ground_id": ground_id,
                "decided_on": listed - timedelta(days=rng.randrange(60)),
                "listed_on": None if state == "draft" else listed,
                "expires_on": listed + timedelta(days=rng.choice([365, 1095])),
                "state": state,
                "ended_at": ended if state in ("removed", "annulled") else None,
                "created_at": now,
                "updated_at": now,
            }
        )
    session.execute(insert(Listing), rows)
    session.commit()
    return provinces


def main(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        seed(session, Actor(None, "bench", "system", 0, True))
        session.commit()
        provinces = fill(session)
        if engine.dialect.name == "postgresql":
            session.execute(text("ANALYZE"))
            session.commit()
        for filters in (
            stats.Filters(),
            stats.Filters(year=2024),
            stats.Filters(province=provinces[3]),
        ):
            start = time.perf_counter()
            result = stats.compute(session, filters)
            print(filters, f"{time.perf_counter() - start:.3f}s", result.in_force_total)


if __name__ == "__main__":
    main(sys.argv[1])
