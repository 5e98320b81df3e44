"""A forked child's SQLite connections kept in its parent, so that one process builds rows
while the other inserts them.

A large import runs in a forked child (registry.forked). Building its rows, Events and log
entries is Python work, and inserting them is SQLite's; in one process both take turns on
one core. Here the child's engine (`child_engine`) connects through a pipe: every
statement the child runs is sent to the parent (`serve`) and run there on a connection of
the parent's engine, one for each of the child's, in the order sent. A statement whose
result the child reads (a query, an UPDATE's row count, a commit) waits for it. An
`executemany` of a plain INSERT has no result to read: the child goes on building the
next rows while the parent inserts these, on the second core.

The transaction is the same as if the child held the connection: the same statements, in
the same order, on one connection, committed or rolled back when the child says so. If
an INSERT the child did not wait for fails, nothing the child sent after it is run, and
its next statement that waits raises that error, as the INSERT would have (the traceback
shows where the child was when it learnt of it). A child that dies leaves its
connections to the parent, which rolls them back: nothing is written.

The parent reads ahead: between slices of rows it takes in what the child has sent
meanwhile, so that the child seldom waits for room in the pipe.

SQLite only: PostgreSQL takes writes from several connections at once, and a step forked
there keeps its own connections.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections import deque
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from registry import walcheckpoint

# Messages from the child: (kind, connection number, ...).
_OPEN, _CLOSE, _RUN, _INSERT, _COMMIT, _ROLLBACK, _DONE = range(7)
_INSERT_SLICE = 500  # rows inserted between two looks at the pipe
_READ_AHEAD = 64 * 2**20  # bytes of messages taken in ahead of their turn, at most


# --- the parent -----------------------------------------------------------------------------


def serve(engine: Engine, channel: Any, *, checkpoints: bool = True) -> Any:
    """Run the child's statements on connections of `engine` until it says it is done;
    what the step returned (None when the child ended without saying: its exit code says
    why). Connections the child left open are rolled back and returned to the pool.
    `checkpoints=False`: the child's commits do not copy the log into the database file
    (registry.walcheckpoint), the caller has that done."""
    inbox = _Inbox(channel)
    opened: dict[int, Any] = {}  # the child's connection number -> a pooled connection
    deferred: dict[int, int] = {}  # the connection number -> its checkpoint setting before
    failed: dict[int, Exception] = {}  # an INSERT's error the child has not heard of
    try:
        while True:
            try:
                message = pickle.loads(inbox.next())  # nosec B301 - our forked child
            except EOFError:
                return None
            kind, number = message[0], message[1]
            if kind == _DONE:
                return message[2]
            if kind == _OPEN:
                opened[number] = engine.raw_connection()
                if not checkpoints:
                    deferred[number] = walcheckpoint.defer(opened[number].driver_connection)
                continue
            if kind == _CLOSE:
                _close(opened.pop(number, None), deferred.pop(number, None))
                failed.pop(number, None)
                continue
            driver = opened[number].driver_connection
            if kind == _INSERT:
                if number not in failed:  # after a failure nothing more is run
                    try:
                        _insert(driver, message[2], message[3], inbox)
                    except Exception as exc:  # the child's to raise, as the driver raised it
                        failed[number] = exc
                continue
            error = failed.pop(number, None)
            if error is not None and kind != _ROLLBACK:
                _send(channel, ("error", _portable(error)))
                continue
            _send(channel, _answer(driver, kind, message))
    finally:
        for number, connection in opened.items():
            _close(connection, deferred.get(number))


class _Inbox:
    """The child's messages, taken in ahead of their turn while the parent inserts (up to
    _READ_AHEAD bytes: beyond that the full pipe holds the child back)."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.messages: deque[bytes] = deque()
        self.held = 0
        self.ended = False  # the child closed its end: what it sent before is still here

    def take_in(self) -> None:
        """What has arrived, without waiting for more."""
        while not self.ended and self.held < _READ_AHEAD and self.channel.poll():
            self._receive()

    def next(self) -> bytes:
        """The next message, waited for; EOFError once the child has ended and every
        message it sent was taken."""
        if not self.messages:
            if self.ended:
                raise EOFError
            self._receive()
            if not self.messages:
                raise EOFError
        data = self.messages.popleft()
        self.held -= len(data)
        return data

    def _receive(self) -> None:
        try:
            data = self.channel.recv_bytes()
        except EOFError:
            self.ended = True
            return
        self.messages.append(data)
        self.held += len(data)


def _insert(driver: sqlite3.Connection, sql: str, rows: list, inbox: _Inbox) -> None:
    """The rows inserted a slice at a time (the same rows in the same order as one
    executemany), taking in the child's next messages between slices."""
    cursor = driver.cursor()
    try:
        for start in range(0, len(rows), _INSERT_SLICE):
            cursor.executemany(sql, rows[start : start + _INSERT_SLICE])
            inbox.take_in()
    finally:
        cursor.close()


def _answer(driver: sqlite3.Connection, kind: int, message: tuple) -> tuple:
    try:
        if kind == _COMMIT:
            driver.commit()
            return ("ok", None)
        if kind == _ROLLBACK:
            driver.rollback()
            return ("ok", None)
        _, _, many, sql, parameters = message
        cursor = driver.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            elif parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            rows = cursor.fetchall() if cursor.description is not None else []
            return ("ok", (cursor.description, rows, cursor.rowcount, cursor.lastrowid))
        finally:
            cursor.close()
    except Exception as exc:  # the driver's error (or a value it cannot bind): the child's
        return ("error", _portable(exc))


def _send(channel: Any, message: tuple) -> None:
    """A message over the pipe, either way."""
    channel.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _portable(exc: Exception) -> Exception:
    """The error as the child raises it again: itself, or its text when it cannot cross."""
    try:
        pickle.dumps(exc)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _close(connection: Any, checkpoint_pages: int | None = None) -> None:
    if connection is not None:
        if checkpoint_pages is not None:  # as it was, before it goes back to the pool
            walcheckpoint.restore(connection.driver_connection, checkpoint_pages)
        connection.close()  # back to the pool, rolled back


# --- the child ------------------------------------------------------------------------------


def child_engine(url: str, channel: Any) -> Engine:
    """An engine for the child whose connections are the parent's (`serve`)."""
    numbers = iter(range(1, 1 << 30))
    return create_engine(
        url,
        creator=lambda: PipedConnection(channel, next(numbers)),
        poolclass=NullPool,  # a connection closed here is closed there
    )


def finish(channel: Any, result: Any) -> None:
    """Tell the parent the step is done, with what it returned."""
    _send(channel, (_DONE, 0, result))


class PipedConnection:
    """The DB-API connection the child's engine uses (what sqlite3's gives SQLAlchemy)."""

    isolation_level = ""  # sqlite3's default: a transaction begins before a write

    def __init__(self, channel: Any, number: int) -> None:
        self.channel = channel
        self.number = number
        _send(channel, (_OPEN, number))

    def call(self, message: tuple) -> Any:
        """Send a message whose answer is awaited; its value, or its error raised."""
        _send(self.channel, message)
        try:
            status, value = pickle.loads(self.channel.recv_bytes())  # nosec B301 - our parent
        except EOFError:
            raise sqlite3.OperationalError("the database connection's process ended") from None
        if status == "error":
            raise value
        return value

    def cursor(self) -> PipedCursor:
        return PipedCursor(self)

    def commit(self) -> None:
        self.call((_COMMIT, self.number))

    def rollback(self) -> None:
        self.call((_ROLLBACK, self.number))

    def close(self) -> None:
        _send(self.channel, (_CLOSE, self.number))

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        """The parent's connections have the same functions: they come from an engine of
        the same settings (SQLAlchemy's own regexp and floor)."""


class PipedCursor:
    """A DB-API cursor of a PipedConnection: a query's rows are all fetched by the parent
    and kept here."""

    arraysize = 1

    def __init__(self, connection: PipedConnection) -> None:
        self.connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []
        self._at = 0

    def execute(self, sql: str, parameters: Any = None) -> PipedCursor:
        self._run(False, sql, parameters)
        return self

    def executemany(self, sql: str, parameters: Sequence[Any]) -> PipedCursor:
        rows = list(parameters)
        if _plain_insert(sql):  # nothing to read back: the child goes on
            _send(self.connection.channel, (_INSERT, self.connection.number, sql, rows))
            self.description, self.rowcount, self.lastrowid = None, len(rows), None
            self._rows, self._at = [], 0
            return self
        self._run(True, sql, rows)
        return self

    def _run(self, many: bool, sql: str, parameters: Any) -> None:
        found = self.connection.call((_RUN, self.connection.number, many, sql, parameters))
        self.description, self._rows, self.rowcount, self.lastrowid = found
        self._at = 0

    def fetchone(self) -> Any:
        if self._at >= len(self._rows):
            return None
        row = self._rows[self._at]
        self._at += 1
        return row

    def fetchmany(self, size: int | None = None) -> list[Any]:
        end = self._at + (size or self.arraysize)
        rows = self._rows[self._at : end]
        self._at += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        rows = self._rows[self._at :]
        self._at = len(self._rows)
        return rows

    def close(self) -> None:
        self._rows = []

    def __iter__(self) -> Any:
        return iter(self.fetchall())


def _plain_insert(sql: str) -> bool:
    """An INSERT that returns nothing and inserts each row (not OR IGNORE/REPLACE, no
    RETURNING): its row count is the number of rows, or it fails."""
    head = sql.lstrip()[:12].upper()
    return head.startswith("INSERT INTO") and "RETURNING" not in sql.upper()
