"""A forked child's statements run by its parent (registry/dbpipe.py): on a real SQLite file,
through a real fork. What the child reads is what sqlite3 gives; an INSERT the child did not
wait for that fails is raised at its next awaited statement, and what it sent in between is
not run; a child that ends without committing writes nothing."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from registry import dbpipe, forked
from registry.db import make_engine


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "piped.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    engine = make_engine(f"sqlite:///{path}")
    yield engine, str(path)
    engine.dispose()


def _in_child(engine, step, *args):
    """`step(child engine, *args)` in a forked child whose statements `engine` runs here."""

    def child(channel, url):
        child_engine = dbpipe.child_engine(url, channel)
        dbpipe.finish(channel, step(child_engine, *args))

    return forked.run(child, str(engine.url), serve=lambda channel: dbpipe.serve(engine, channel))


def _reads_and_writes(engine):
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        cursor = driver.cursor()
        cursor.executemany("INSERT INTO item (name) VALUES (?)", [("a",), ("b",), ("c",)])
        many = cursor.rowcount
        cursor.execute("INSERT INTO item (name) VALUES (?)", ("d",))
        last = cursor.lastrowid
        cursor.execute("UPDATE item SET name = name || '!' WHERE id > ?", (2,))
        updated = cursor.rowcount
        cursor.execute("SELECT id, name FROM item ORDER BY id")
        described = [column[0] for column in cursor.description]
        first = cursor.fetchone()
        rest = cursor.fetchall()
        driver.commit()
        names = conn.execute(text("SELECT count(*) FROM item")).scalar_one()
    return many, last, updated, described, first, rest, names


def test_the_child_reads_what_sqlite3_gives_and_its_commit_is_the_parent_s(database):
    engine, path = database
    got = _in_child(engine, _reads_and_writes)
    assert got == (3, 4, 2, ["id", "name"], (1, "a"), [(2, "b"), (3, "c!"), (4, "d!")], 4)
    with sqlite3.connect(path) as conn:  # committed by the parent's connection
        assert conn.execute("SELECT name FROM item ORDER BY id").fetchall() == [
            ("a",), ("b",), ("c!",), ("d!",)
        ]  # fmt: skip


def _inserts_then_awaited(inserts):
    """A child step: `inserts` (SQL, rows) sent unawaited, then a query awaited; the error
    the query raised (its class and text, or None) and the names left, committed."""

    def step(engine):
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            cursor = driver.cursor()
            for sql, rows in inserts:
                cursor.executemany(sql, rows)
            try:
                cursor.execute("SELECT count(*) FROM item")
            except Exception as exc:
                raised = (type(exc).__name__, str(exc))
            else:
                raised = None
            cursor.execute("SELECT name FROM item ORDER BY id")
            left = cursor.fetchall()
            driver.commit()
        return raised, left

    return step


NAMED = "INSERT INTO item (name) VALUES (?)"
NUMBERED = "INSERT INTO item (id, name) VALUES (?, ?)"


def test_a_failed_insert_is_raised_at_the_next_awaited_statement_and_what_followed_is_not_run(
    database,
):
    engine, path = database
    # the third row breaks the UNIQUE constraint after two went in; the next is never run
    step = _inserts_then_awaited([(NAMED, [("x",), ("y",), ("x",)]), (NAMED, [("never",)])])
    raised, left = _in_child(engine, step)
    assert raised is not None and raised[0] == "IntegrityError" and "UNIQUE" in raised[1]
    # as if the executemany had raised at once: its first two rows in, nothing after it
    assert left == [("x",), ("y",)]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM item ORDER BY id").fetchall() == [("x",), ("y",)]


def test_a_value_the_driver_cannot_bind_is_raised_as_the_driver_raises_it(database):
    engine, path = database
    # a value the driver refuses to bind: not a database error, raised all the same
    step = _inserts_then_awaited(
        [(NUMBERED, [(1, "one")]), (NUMBERED, [(2**70, "big")]), (NUMBERED, [(3, "never")])]
    )
    raised, left = _in_child(engine, step)
    assert raised is not None and raised[0] == "OverflowError"
    assert left == [("one",)]


def _write_and_leave(engine):
    conn = engine.connect()
    cursor = conn.connection.driver_connection.cursor()
    cursor.executemany("INSERT INTO item (name) VALUES (?)", [("left",)])
    cursor.execute("SELECT count(*) FROM item")
    return cursor.fetchone()[0]  # never committed, never closed


def test_a_child_that_ends_without_committing_writes_nothing(database):
    engine, path = database
    assert _in_child(engine, _write_and_leave) == 1  # it saw its own row
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM item").fetchone()[0] == 0


def _dies(engine):
    with engine.connect() as conn:
        conn.connection.driver_connection.cursor().executemany(
            "INSERT INTO item (name) VALUES (?)", [("lost",)]
        )
        raise SystemExit(3)


def test_a_child_that_dies_writes_nothing_and_its_exit_code_is_the_command_s(database):
    engine, path = database
    with pytest.raises(SystemExit) as exit_info:
        _in_child(engine, _dies)
    assert exit_info.value.code == 3
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM item").fetchone()[0] == 0
    with engine.connect() as conn:  # the parent's pool is usable after
        assert conn.execute(text("SELECT count(*) FROM item")).scalar_one() == 0


def test_the_parent_takes_in_ahead_up_to_its_bound_and_keeps_what_came_before_the_end(
    monkeypatch,
):
    """Messages taken in while the parent inserts stop at the read-ahead bound (the pipe
    then holds the child back); a child that ended after its last message has it read."""
    import multiprocessing

    monkeypatch.setattr(dbpipe, "_READ_AHEAD", 2500)
    receive, send = multiprocessing.Pipe(duplex=False)
    for i in range(5):
        send.send_bytes(bytes([i]) * 1000)
    send.close()  # the child ended after its last message
    inbox = dbpipe._Inbox(receive)
    inbox.take_in()
    assert len(inbox.messages) == 3  # 3,000 bytes held: no more
    got = [inbox.next() for _ in range(5)]
    assert got == [bytes([i]) * 1000 for i in range(5)]
    with pytest.raises(EOFError):
        inbox.next()
    receive.close()
