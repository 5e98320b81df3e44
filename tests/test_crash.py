"""Crash consistency (docs/SECURITY.md): kill -9 at random points.

A real instance in a temporary directory (`registry init`, a reviewer from `registry user
create --password-stdin`), a few hundred generated rows per file (registry/fakedata.py),
and `registry import --publish-as` killed with SIGKILL at random moments. After every kill
the SQLite integrity check passes and every table holds either exactly what it held before
the import or exactly what a complete import leaves (the import is one transaction); a
complete import afterwards works. At the end the search index, caught up, holds exactly the
firms with a published listing in force — as the database says.

REGISTRY_SOAK_KILLS raises the number of kills (`make soak`).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry import fakedata, rules, visibility
from registry.db import Base, make_engine
from registry.models import Enterprise, Listing

KILLS = int(os.environ.get("REGISTRY_SOAK_KILLS", "20"))
ROWS = 120
PASSWORD = "crash test password 123"
REGISTRY = str(Path(sys.executable).with_name("registry"))


class Instance:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "registry.db"
        self.env = os.environ | {
            "REGISTRY_DATABASE_URL": f"sqlite:///{self.db}",
            "REGISTRY_INDEX_DIR": str(root / "index"),
            "REGISTRY_EVIDENCE_DIR": str(root / "evidence"),
            "REGISTRY_SECRET_KEY": "crash-" + "k" * 48,
            "PYTHONWARNINGS": "ignore",
            "LANGUAGE": "en",  # the command line's messages in English, as the tests read them
        }

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [REGISTRY, *args],
            env=self.env,
            cwd=self.root,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [REGISTRY, *args],
            env=self.env,
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def counts(self) -> dict[str, int]:
        with sqlite3.connect(self.db, timeout=30) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            return {
                table.name: conn.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0]
                for table in Base.metadata.sorted_tables
            }


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> Instance:
    made = Instance(tmp_path_factory.mktemp("crash"))
    result = made.run("init")
    assert result.returncode == 0, result.stderr
    result = made.run(
        "user", "create", "reviewer1", "--authority", "MIIT", "--role", "reviewer",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return made


def _csv(instance: Instance, seed: int) -> str:
    path = instance.root / f"batch-{seed}.csv"
    items = fakedata.listings(fakedata.firms(ROWS, seed=1000 + seed), seed=1000 + seed)
    fakedata.write_csv(path, items)
    return str(path)


def _import(instance: Instance, path: str) -> subprocess.CompletedProcess:
    return instance.run("import", path, "--publish-as", "reviewer1", "--skip-bad")


def test_kill_9_during_import(instance, security_figures):
    rng = random.Random(int(os.environ.get("REGISTRY_CRASH_SEED", time.time())))
    seed = 0
    path = _csv(instance, seed)
    before = instance.counts()
    started = time.monotonic()
    first = _import(instance, path)  # measures how long a complete import takes
    assert first.returncode == 0, first.stderr
    duration = time.monotonic() - started
    seed += 1
    path, before = _csv(instance, seed), instance.counts()
    kills = survived = lost = 0
    pending = []  # counts seen after each kill of this file, checked once `after` is known
    while kills < KILLS or pending:
        if kills >= KILLS:  # the last kills' states, resolved by one complete import
            seen = before
            process = None
        else:
            process = instance.start("import", path, "--publish-as", "reviewer1", "--skip-bad")
        if process is not None:
            time.sleep(rng.uniform(0.1, 0.95) * duration)
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                kills += 1
            process.wait()
            seen = instance.counts()  # integrity_check == ok inside
            pending.append(seen)
        if seen == before and len(pending) < 5 and kills < KILLS:
            continue  # nothing written: kill the same import again
        # A complete import after the kill(s) works; each state seen was before or after it.
        started = time.monotonic()
        result = _import(instance, path)
        duration = time.monotonic() - started  # kill points follow the machine's pace
        assert result.returncode == 0, result.stderr
        after = instance.counts()
        assert after != before, result.stdout
        for state in pending:
            if state not in (before, after):
                lost += 1
            assert state in (before, after), {k: (before[k], state[k], after[k]) for k in state}
        survived += len(pending)
        seed += 1
        path, before, pending = _csv(instance, seed), after, []
    security_figures["import kill -9: kills"] += kills
    security_figures["import kill -9: states checked (before or after, integrity ok)"] += survived
    security_figures["import kill -9: records lost or half-written"] += lost
    _index_matches_database(instance)


def _index_matches_database(instance: Instance) -> None:
    from registry.search import SearchIndex

    engine = make_engine(f"sqlite:///{instance.db}")
    index = SearchIndex(instance.root / "index")
    try:
        with Session(engine) as session:
            index.catch_up(session)
            today = rules.today()
            in_force = set(
                session.scalars(
                    select(Listing.enterprise_id)
                    .where(visibility.listing_in_force(today))
                    .distinct()
                )
            )
            firms = session.execute(select(Enterprise.id, Enterprise.uscc)).all()
            assert session.scalar(select(func.count(Listing.id))) > 0
        assert in_force
        found = set()
        for firm_id, uscc in firms:
            hits = {hit.enterprise_id for hit in index.search(uscc, per_page=5).hits}
            if firm_id in hits:
                found.add(firm_id)
        assert found == in_force, (len(found), len(in_force))
    finally:
        engine.dispose()
