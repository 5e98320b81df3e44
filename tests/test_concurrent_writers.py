"""Several processes writing at once (docs/SECURITY.md): SQLite in WAL mode with a
busy timeout, and PostgreSQL.

Four processes make 25 writes each through the services: each write registers a firm and
increments a counter held in a shared listing's facts with expected_version, retrying on
ConflictError (optimistic locking, the same path a form takes). Afterwards: no "database is
locked" (or any other database error), every firm is there, and the counter equals the
number of successful increments — no update was silently lost.
"""

from __future__ import annotations

import multiprocessing
import os

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

PROCESSES = 4
WRITES = 25


def _worker(url: str, listing_id: int, clerk_id: int, number: int, queue, start) -> None:
    from registry.db import make_engine, make_session_factory
    from registry.errors import ConflictError
    from registry.models import Listing, User
    from registry.services import enterprises, listings
    from registry.services.accounts import actor_for

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    done = conflicts = locked = 0
    errors: list[str] = []
    try:
        start.wait(timeout=120)  # all processes begin writing at the same moment
        for n in range(WRITES):
            while True:
                with sessions() as session:
                    try:
                        actor = actor_for(session.get(User, clerk_id))
                        # Read first, write later: the window in which another process
                        # commits the counter in between.
                        shared = session.get(Listing, listing_id)
                        expected, value = shared.version_id, int(shared.facts or "0")
                        enterprises.create_enterprise(
                            session,
                            actor,
                            name=f"深圳市并发{number}号{n}网络科技有限公司",
                            uscc=_uscc(number, n),
                            province_code="440000",
                        )
                        listings.update_listing(
                            session, actor, shared, facts=str(value + 1), expected_version=expected
                        )
                        session.commit()
                        done += 1
                        break
                    except ConflictError:
                        session.rollback()
                        conflicts += 1
                    except OperationalError as exc:
                        session.rollback()
                        if "locked" in str(exc):
                            locked += 1
                        errors.append(str(exc).splitlines()[0])
                        if len(errors) > 20:
                            raise
    except Exception as exc:  # reported to the parent, which fails the test
        errors.append(f"{type(exc).__name__}: {exc}"[:500])
    finally:
        engine.dispose()
        queue.put((done, conflicts, locked, errors))


def _uscc(number: int, n: int) -> str:
    """A valid code no other process or run makes (the factory's counter is per process)."""
    from stdnum.cn import uscc as uscc_mod

    body = f"914403{number}{n:02d}{os.urandom(3).hex().upper()}"[:17].ljust(17, "0")
    return body + uscc_mod.calc_check_digit(body)


def test_processes_writing_at_once_lose_nothing(own_engine, security_figures):
    engine = own_engine  # the processes commit: a database of the test's own
    database_url = engine.url.render_as_string(hide_password=False)
    from registry.models import Enterprise, Listing
    from tests.factories import Factory

    with Session(engine) as setup:
        make = Factory(setup)
        clerk = make.user("clerk")
        from registry.services.accounts import actor_for

        shared = make.listing(actor_for(clerk), facts="0")
        setup.commit()
        listing_id, clerk_id = shared.id, clerk.id
        firms_before = setup.scalar(select(func.count(Enterprise.id)))
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    start = context.Barrier(PROCESSES)
    workers = [
        context.Process(target=_worker, args=(database_url, listing_id, clerk_id, i, queue, start))
        for i in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    done = sum(r[0] for r in results)
    conflicts = sum(r[1] for r in results)
    locked = sum(r[2] for r in results)
    errors = [e for r in results for e in r[3]]
    backend = engine.dialect.name
    security_figures[f"concurrent writes ({backend}): committed"] += done
    security_figures[f"concurrent writes ({backend}): conflicts retried"] += conflicts
    security_figures[f"concurrent writes ({backend}): database is locked"] += locked
    assert errors == [] and locked == 0, errors[:5]
    assert done == PROCESSES * WRITES
    with Session(engine) as check:
        counter = int(check.scalar(select(Listing.facts).where(Listing.id == listing_id)))
        firms = check.scalar(select(func.count(Enterprise.id))) - firms_before
    security_figures[f"concurrent writes ({backend}): lost updates"] += done - counter
    assert counter == done
    assert firms == done
