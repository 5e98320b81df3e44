"""A large transaction's log copied into the database file by another process
(registry/walcheckpoint.py), on real SQLite files: a commit on a deferring connection
leaves the pages in the log, the checkpoint process puts them in the file while a reader
keeps reading, and the connections piped to a forked child (registry/dbpipe.py) go back
to the pool with SQLite's own checkpoints as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from registry import dbpipe, forked, walcheckpoint
from registry.db import make_engine

ROWS = 20_000  # a few megabytes of pages: well past SQLite's threshold of 1,000 pages


def _wal_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    conn.close()


def _fill(conn: sqlite3.Connection) -> None:
    conn.executemany(
        "INSERT INTO item (body) VALUES (?)", ((f"{n:08d}" + "x" * 200,) for n in range(ROWS))
    )
    conn.commit()


def _pages_in_file(path: Path) -> int:
    return path.stat().st_size // 4096


def test_a_deferring_connection_commits_into_the_log_and_the_process_copies_it(tmp_path):
    path = tmp_path / "large.db"
    _wal_database(path)
    writer = sqlite3.connect(path)
    before = walcheckpoint.defer(writer)
    assert before == 1000  # SQLite's default, handed back for `restore`
    _fill(writer)
    # Committed into the log only: the file still holds the empty table's pages.
    assert _pages_in_file(path) < 10
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM item").fetchone() == (ROWS,)
    # A passive checkpoint copies every page a reader's snapshot already holds, reading
    # or not; the reader is not held up and reads the same.
    walcheckpoint.wait(walcheckpoint.start(str(path)))
    assert _pages_in_file(path) > ROWS * 200 // 4096
    assert reader.execute("SELECT max(id) FROM item").fetchone() == (ROWS,)
    reader.rollback()
    reader.close()
    # Nothing is left to copy: a checkpoint now finds every frame of the log backfilled.
    busy, frames, copied = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, frames) == (0, copied)
    walcheckpoint.restore(writer, before)
    assert writer.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    writer.close()


def test_without_the_process_the_log_is_copied_as_sqlite_always_does(tmp_path):
    """A checkpoint that could not start loses nothing: the rows are in the log, read by
    every connection, and the last connection's close copies them into the file."""
    path = tmp_path / "left.db"
    _wal_database(path)
    writer = sqlite3.connect(path)
    walcheckpoint.defer(writer)
    _fill(writer)
    assert walcheckpoint.start(None) is None
    assert walcheckpoint.start(":memory:") is None
    walcheckpoint.wait(None)
    other = sqlite3.connect(path)
    assert other.execute("SELECT count(*) FROM item").fetchone() == (ROWS,)
    other.close()
    writer.close()
    assert _pages_in_file(path) > ROWS * 200 // 4096
    assert not Path(str(path) + "-wal").exists()


def test_a_missing_file_ends_the_process_with_a_warning_and_nothing_else(tmp_path, caplog):
    process = walcheckpoint.start(str(tmp_path / "no-such-folder" / "gone.db"))
    walcheckpoint.wait(process)
    assert process is not None and process.returncode != 0
    assert "checkpoint" in caplog.text


def _child_fills(channel, url):
    engine = dbpipe.child_engine(url, channel)
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        driver.cursor().executemany(
            "INSERT INTO item (body) VALUES (?)", [(f"{n:08d}" + "y" * 200,) for n in range(ROWS)]
        )
        driver.commit()
    dbpipe.finish(channel, "done")


def test_piped_commits_leave_the_log_and_the_connections_go_back_as_they_were(tmp_path):
    path = tmp_path / "piped.db"
    _wal_database(path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        done = forked.run(
            _child_fills,
            str(engine.url),
            serve=lambda channel: dbpipe.serve(engine, channel, checkpoints=False),
        )
        assert done == "done"
        assert _pages_in_file(path) < 10  # the child's commit did not copy the log
        with engine.connect() as conn:  # the pooled connection the child's commit used
            assert conn.execute(text("SELECT count(*) FROM item")).scalar_one() == ROWS
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 1000
        walcheckpoint.wait(walcheckpoint.start(str(path)))
        assert _pages_in_file(path) > ROWS * 200 // 4096
    finally:
        engine.dispose()
