"""The app's database handle: one engine per app, one session per request (unit of work),
and for the public read paths driver connections kept from one request to the next."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from registry.context import current_flask_app, current_globals, current_request
from registry.db import make_engine, make_session_factory

# This process's id, kept: `os.getpid()` is a system call, twice a request otherwise.
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


@dataclass
class Database:
    engine: Engine
    session_factory: sessionmaker
    # Where a request's driver connection comes from (read_connection, the public cache):
    # the connections kept for the public reads, or what a test lends (its connection in
    # one open transaction).
    lend: Callable[[], Any] | None = None
    # The public reads' connections between two requests, with the process that opened
    # each: a deque's pop and append are atomic, a thread takes one and gives it back.
    _idle: deque[tuple[int, Any]] = field(default_factory=deque, repr=False)

    def __post_init__(self) -> None:
        event.listen(self.engine, "engine_disposed", self._close_idle)

    def raw_connection(self) -> Any:
        """A driver connection from the pool; its close() gives it back. A database that
        cannot be reached raises SQLAlchemy's OperationalError, as a Session would (a 503
        page)."""
        if self.lend is not None:
            return self.lend()
        try:
            return self.engine.raw_connection()
        except self.engine.dialect.loaded_dbapi.Error as exc:
            raise _as_sqlalchemy_error(exc, self.engine) from exc

    def reader(self) -> Any:
        """A driver connection for a request's public reads, given back by `release`: one
        kept from an earlier request, else a new one (a checkout from the pool and its
        return cost a twentieth of a search page, and a third of a cached answer). Raises
        as `raw_connection`."""
        if self.lend is not None:
            return self.lend()
        here = _pid
        while self._idle:
            try:
                opened_by, connection = self._idle.pop()
            except IndexError:  # another thread took the last one
                break
            if opened_by == here and connection.is_valid:  # (not a parent's, after a fork)
                return connection
        connection = self.raw_connection()
        connection.detach()  # ours: outside the pool's count and its reset on return
        return connection

    def release(self, connection: Any) -> None:
        """A request is done with `reader()`'s connection: the transaction the driver may
        have begun is rolled back (PostgreSQL's snapshot ends; SQLite's reads begin none)
        and the connection kept for the next request. One that cannot roll back (lost
        while it waited, e.g. a restarted server) is closed instead. A lent one is given
        back."""
        if self.lend is not None:
            connection.close()
            return
        if not connection.is_valid:  # invalidated on a lost server (database.read_rows)
            return
        try:
            # (the driver's own: the pool's wrapper hands it on through `__getattr__`)
            connection.dbapi_connection.rollback()
        except Exception:
            _discard(connection)
            return
        self._idle.append((_pid, connection))

    def _close_idle(self, engine: Engine) -> None:
        """The engine is disposed of (its pool's connections closed): the kept ones too."""
        here = _pid
        while self._idle:
            try:
                opened_by, connection = self._idle.pop()
            except IndexError:
                break
            if opened_by == here:  # (a parent's is the parent's to close)
                _discard(connection)


def _discard(connection: Any) -> None:
    """Close a detached pool connection (its `invalidate` alone leaves the driver's open)."""
    driver = getattr(connection, "dbapi_connection", None)
    if driver is None:  # invalidated already
        return
    with suppress(Exception):
        connection.invalidate()
    with suppress(Exception):
        driver.close()


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["registry_db"] = Database(engine, make_session_factory(engine))

    @app.teardown_appcontext
    def close_session(exc: BaseException | None) -> None:
        state = current_globals()  # (one context lookup for both)
        connection = state.pop("read_connection", None)
        if connection is not None:  # taken by read_connection(): its transaction ended
            get_db(app).release(connection)
        session: Session | None = state.pop("db_session", None)
        if session is None:
            return
        committed = session.info.get("committed", False)
        if not (committed or session.in_transaction() or session.identity_map):
            return  # asked for but never used: nothing to roll back, no object to let go
        session.rollback()  # anything not committed by the view is discarded
        session.close()
        if committed:  # e.g. the search index catches up; hooks never raise
            for hook in app.extensions.get("registry_after_commit", []):
                hook(app)


@event.listens_for(Session, "after_commit")
def _mark_committed(session: Session) -> None:
    """A request's session that committed runs the after-commit hooks when it closes
    (close_session). Listened to on the class once, not on each request's session."""
    session.info["committed"] = True


def get_db(app: Flask | None = None) -> Database:
    found = app or current_flask_app()
    return found.extensions["registry_db"]


def get_session() -> Session:
    """The request's session; the view (or command) commits once."""
    state = current_globals()  # (one context lookup, not one per use)
    found: Session | None = state.get("db_session")
    if found is None:
        found = state.db_session = get_db().session_factory()
    return found


# The WSGI environment key of the request's driver connection: the public cache checks one
# out to read the event counter and leaves it here for the views of the same request.
READ_CONNECTION = "registry.read_connection"


def read_connection() -> Any:
    """This request's driver (DBAPI) connection for plain reads, without a Session: the one
    the public cache read the event counter with, or one of the kept readers taken now
    and released (rolled back) when the request ends. A Session's unit of work (its
    transaction objects, the rollback and close at teardown) cost several times the
    statements of a public page; the pages that only read rows run them here."""
    environ = current_request().environ
    connection = environ.get(READ_CONNECTION)
    if connection is None:
        connection = environ[READ_CONNECTION] = get_db().reader()
        current_globals().read_connection = connection
    return connection


def read_rows(sql: str, parameters: Any = ()) -> list[Any]:
    """The rows of one statement in the driver's form (`sql` in its parameter style), on
    this request's read connection. A driver error is raised as SQLAlchemy's (the error
    pages answer a lost database with a 503), the connection invalidated if it was lost.
    A connection lost while it was kept between requests (its server restarted) is
    replaced and the read made once more on the new one: it only reads."""
    try:
        return _read_rows(read_connection(), sql, parameters)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    environ = current_request().environ
    environ.pop(READ_CONNECTION, None)  # (invalidated: the request's end skips it)
    return _read_rows(read_connection(), sql, parameters)


def _read_rows(connection: Any, sql: str, parameters: Any) -> list[Any]:
    cursor = connection.cursor()
    try:
        cursor.execute(sql, parameters)
        return cursor.fetchall()
    except Exception as exc:
        engine = get_db().engine
        if not isinstance(exc, engine.dialect.loaded_dbapi.Error):
            raise
        driver = getattr(connection, "dbapi_connection", None)
        lost = engine.dialect.is_disconnect(exc, driver, cursor)
        if lost and hasattr(connection, "invalidate"):
            connection.invalidate(exc)
        elif not lost:
            with suppress(Exception):  # it only read: PostgreSQL reads again after a rollback
                connection.rollback()
        raise _as_sqlalchemy_error(exc, engine, sql, parameters, lost=lost) from exc
    finally:
        with suppress(Exception):  # (a lost connection's cursor may refuse to close)
            cursor.close()


def _as_sqlalchemy_error(
    exc: Exception,
    engine: Engine,
    sql: str | None = None,
    parameters: Any = None,
    *,
    lost: bool = False,
) -> StatementError:
    """A driver's error as SQLAlchemy raises it through a Session (the error pages answer
    a lost or unreachable database with a 503)."""
    dialect = engine.dialect
    return DBAPIError.instance(
        sql,
        parameters,
        exc,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )
