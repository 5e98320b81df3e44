"""A large file's import runs in a forked child (registry/forked.py), the index catch-up in
the command's own process: a real instance and the real command, with the size from which a
file counts as large set to 0. The command's output, exit code and what it writes are those
of an import in one process; the index is caught up when the command returns; killing the
command (SIGKILL) ends the child too, and nothing is written."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.db import make_engine
from registry.models import Enterprise, Listing
from tests.test_import import generated_rows, to_csv

PASSWORD = "forked test password 123"
REGISTRY = str(Path(sys.executable).with_name("registry"))
# the command line with every file large, and a line on stderr when the child is forked
COMMAND = """
import sys
from registry import cli, forked
cli.SPOOL_BYTES = 0
run = forked.run
def announced(*args, **kwargs):
    print("forked-child", file=sys.stderr, flush=True)
    return run(*args, **kwargs)
forked.run = announced
sys.argv[0] = "registry"
cli.main()
"""
# the same with a stopped clock, and a file large only if FORKED is set
FROZEN = """
import os, sys
from datetime import UTC, datetime
import registry.db
class Stopped(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime(2026, 12, 5, 12, 0, 0, 123456, tzinfo=UTC)
registry.db.datetime = Stopped
from registry import cli
cli.SPOOL_BYTES = 0 if os.environ.get("FORKED") else 10**12
sys.argv[0] = "registry"
cli.main()
"""


@pytest.fixture
def instance(tmp_path) -> dict[str, str]:
    env = os.environ | {
        "REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.db'}",
        "REGISTRY_INDEX_DIR": str(tmp_path / "index"),
        "REGISTRY_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "REGISTRY_SECRET_KEY": "forked-" + "k" * 48,
        "PYTHONWARNINGS": "ignore",
        "LANGUAGE": "en",
    }
    for args, stdin in (
        (["init"], None),
        (["user", "create", "rev", "--authority", "MIIT", "--role", "reviewer",
          "--password-stdin"], PASSWORD + "\n"),
    ):  # fmt: skip
        done = subprocess.run(
            [REGISTRY, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    return env


def _csv(tmp_path: Path, rows: int = 80, bad: bool = False) -> str:
    generated = generated_rows(rows, seed=71)
    if bad:
        generated[7]["ground"] = "Z9"  # no such listing ground
    path = tmp_path / "batch.csv"
    path.write_bytes(to_csv(generated))
    return str(path)


def _import(env: dict[str, str], path: str, *extra: str) -> list[str]:
    return [sys.executable, "-c", COMMAND, "import", path, "--publish-as", "rev", *extra]


def _counts(env: dict[str, str]) -> tuple[int, int]:
    db = env["REGISTRY_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        return (
            conn.execute("SELECT count(*) FROM listing").fetchone()[0],
            conn.execute("SELECT count(*) FROM event").fetchone()[0],
        )


def test_the_import_in_a_child_writes_reports_and_indexes(instance, tmp_path):
    from registry.search import SearchIndex, committed_seq

    done = subprocess.run(
        _import(instance, _csv(tmp_path)), env=instance, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("forked-child") == 1
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len([line for line in lines if line.startswith("CSV")]) == 1  # not written twice
    assert lines[-1].startswith("imported:") and "listings 80," in lines[-1], lines
    engine = make_engine(instance["REGISTRY_DATABASE_URL"])
    index = SearchIndex(Path(instance["REGISTRY_INDEX_DIR"]))
    try:
        with Session(engine) as session:
            assert session.scalar(select(func.count(Listing.id))) == 80
            # caught up by the command itself, before it returned
            assert index.last_applied(force=True) >= committed_seq(session)
            uscc = session.scalars(
                select(Enterprise.uscc).where(Enterprise.uscc.is_not(None))
            ).first()
        assert index.search(uscc, per_page=5).hits
    finally:
        engine.dispose()
    again = subprocess.run(
        _import(instance, _csv(tmp_path)), env=instance, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "unchanged 80" in again.stdout.splitlines()[-1]


def _tables(database: str) -> dict[str, list[tuple]]:
    """Every row of every table, in rowid order."""
    with sqlite3.connect(database) as conn:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
            for name in names
        }


def test_the_child_s_statements_run_by_the_command_leave_the_rows_of_one_process(
    instance, tmp_path
):
    """The same file twice, into two copies of one registry, at the same stopped clock:
    in one process, and in a forked child whose statements the command runs (its INSERTs
    not awaited, registry.dbpipe). Then a second file on top, which finds stored firms and
    decisions. Every table holds the same rows, Events, log entries and tree nodes."""
    first = instance["REGISTRY_DATABASE_URL"].removeprefix("sqlite:///")
    copies = {}
    for name in ("one", "forked"):
        folder = tmp_path / name
        folder.mkdir()
        with sqlite3.connect(first) as source, sqlite3.connect(folder / "registry.db") as copy:
            source.backup(copy)
        copies[name] = instance | {
            "REGISTRY_DATABASE_URL": f"sqlite:///{folder / 'registry.db'}",
            "REGISTRY_INDEX_DIR": str(folder / "index"),
        }
    copies["forked"]["FORKED"] = "1"
    rows = generated_rows(400, seed=73)
    later = generated_rows(400, seed=74)
    for row in later[:150]:  # the same firms and decisions again, other listings
        row["uscc"], row["decision_no"] = rows[0]["uscc"], rows[0]["decision_no"]
    files = []
    for i, part in enumerate((rows, later)):
        path = tmp_path / f"part-{i}.csv"
        path.write_bytes(to_csv(part))
        files.append(str(path))
    for env in copies.values():
        for path in files:
            command = [sys.executable, "-c", FROZEN, "import", path, "--publish-as", "rev"]
            command.append("--skip-bad")  # the rows the second file gets wrong: left out
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            assert done.stdout.splitlines()[-1].startswith("imported:"), done.stdout
    one = _tables(copies["one"]["REGISTRY_DATABASE_URL"].removeprefix("sqlite:///"))
    forked = _tables(copies["forked"]["REGISTRY_DATABASE_URL"].removeprefix("sqlite:///"))
    assert len(one["listing"]) > 400 and len(one["log_entry"]) == len(one["listing"])
    assert one["former_name"] and len(one["sanction"]) > 1
    assert one.keys() == forked.keys()
    for name in one:
        assert forked[name] == one[name], name


def test_a_refused_file_ends_the_command_with_the_child_s_error(instance, tmp_path):
    before = _counts(instance)
    done = subprocess.run(
        _import(instance, _csv(tmp_path, bad=True)), env=instance, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1
    assert "forked-child" in done.stderr and "Error" in done.stderr, done.stderr
    assert not any(line.startswith("imported:") for line in done.stdout.splitlines())
    assert _counts(instance) == before


def test_killing_the_command_ends_the_child_and_writes_nothing(instance, tmp_path):
    before = _counts(instance)
    process = subprocess.Popen(
        _import(instance, _csv(tmp_path, rows=3000)), env=instance,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    command = psutil.Process(process.pid)
    children = _forked_by(command, 120, lambda: process.poll() is None)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive
    assert _counts(instance) == before


def _squares(n: int):
    for i in range(n):
        yield [i * i] * 3


def _failing(n: int):
    yield "first"
    raise ValueError(f"the producer's own error {n}")


def test_a_forked_producer_yields_its_items_in_order_and_raises_its_error():
    from registry import forked

    assert list(forked.stream(_squares, 2000)) == [[i * i] * 3 for i in range(2000)]
    items = forked.stream(_failing, 7)
    assert next(items) == "first"
    with pytest.raises(ValueError, match="the producer's own error 7"):
        next(items)


def test_a_forked_producer_closed_early_is_stopped():
    from registry import forked

    before = {child.pid for child in psutil.Process().children()}
    items = forked.stream(_squares, 10**9)  # would fill the pipe and wait
    assert next(items) == [0, 0, 0]
    producers = [c for c in psutil.Process().children() if c.pid not in before]
    assert producers
    items.close()
    for producer in producers:
        assert not producer.is_running() or producer.status() == psutil.STATUS_ZOMBIE


def _consume_slowly() -> None:
    from registry import forked

    for _ in forked.stream(_squares, 10**9):
        time.sleep(1)


def test_a_forked_producer_dies_with_its_consumer():
    import multiprocessing

    consumer = multiprocessing.get_context("fork").Process(target=_consume_slowly)
    consumer.start()
    producers = _forked_by(psutil.Process(consumer.pid), 30, lambda: True)
    os.kill(consumer.pid, signal.SIGKILL)
    consumer.join()
    gone, alive = psutil.wait_procs(producers, timeout=30)
    assert not alive


def _forked_by(parent: psutil.Process, seconds: float, running) -> list:
    """The children `parent` has forked, once there are some (within `seconds`)."""
    deadline = time.monotonic() + seconds
    children: list = []
    while not children and time.monotonic() < deadline and running():
        children = parent.children()
        time.sleep(0.05)
    assert children, "nothing was forked"
    return children
