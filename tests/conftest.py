"""Fixtures: a real database per backend (SQLite always, PostgreSQL when
REGISTRY_TEST_POSTGRES_URL is set), migrated with Alembic and seeded once; each test runs
inside a transaction that is rolled back, so tests never clean up by hand."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from jinja2.bccache import Bucket, BytecodeCache
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from registry.db import make_engine
from registry.migrate import upgrade
from registry.rules import Actor

POSTGRES_URL = os.environ.get("REGISTRY_TEST_POSTGRES_URL")
if os.environ.get("CI") == "true" and not POSTGRES_URL:
    raise pytest.UsageError(
        "CI=true needs PostgreSQL: set REGISTRY_TEST_POSTGRES_URL (.ci/run sets it when a "
        "server answers on 127.0.0.1:5432)"
    )
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
TEST_SECRET = "test-secret-" + "x" * 40


def create_database(backend: str, tmp_dir) -> tuple[str, callable]:
    """A new empty database; returns its URL and a function that drops it."""
    if backend == "sqlite":
        path = tmp_dir / f"registry-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: None
    admin_url = make_url(POSTGRES_URL)
    name = f"registry_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    url, drop = create_database(request.param, tmp_path_factory.mktemp("db"))
    engine = make_engine(url)
    upgrade(engine)
    from registry.services.reference import seed

    with Session(engine) as session:
        seed(session, Actor(None, "test", "system", 0, True))
        session.commit()
    engine.dispose()
    yield url
    drop()


@pytest.fixture(scope="session")
def engine(database_url) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine) -> Iterator:
    """The test's connection, in one transaction rolled back at the end. pysqlite opens no
    transaction for `begin()` until the first write, so a test's first SAVEPOINT would be
    the outermost and its release would commit to the shared database: on SQLite the
    transaction is opened explicitly."""
    with engine.connect() as conn:
        outer = conn.begin()
        if conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:
            conn.exec_driver_sql("BEGIN")
        yield conn
        outer.rollback()


@pytest.fixture
def session_factory(connection) -> sessionmaker:
    return sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )


@pytest.fixture
def session(session_factory) -> Iterator[Session]:
    with session_factory() as session:
        yield session


class _TemplateCache(BytecodeCache):
    """Compiled templates kept in memory for the whole run: every test builds an app of its
    own, and compiling each template again for each of them took longer than most tests."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CACHE = _TemplateCache()


def new_app(database_url: str, tmp_path: Path, **settings: Any) -> Flask:
    """An app for a test, with its instance, index and evidence folders under `tmp_path`;
    `settings` add to or override these."""
    from registry import create_app

    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET,
            "DATABASE_URL": database_url,
            "INDEX_DIR": str(tmp_path / "index"),
            "EVIDENCE_DIR": str(tmp_path / "evidence"),
            **settings,
        },
        instance_path=tmp_path / "instance",
    )


def app_in_transaction(
    database_url: str, session_factory: sessionmaker, tmp_path: Path, **settings: Any
) -> Flask:
    """new_app whose requests use the test's session: the tests write in one uncommitted
    transaction, which the public cache's counter cannot see change (it is off;
    tests/test_public_cache_wsgi.py tests it on its own)."""
    from registry.database import get_db
    from registry.web.indexing import followers

    app = new_app(database_url, tmp_path, PUBLIC_CACHE=False, **settings)
    get_db(app).session_factory = session_factory
    # The views' plain reads (database.read_connection) run on the test's connection too.
    get_db(app).lend = functools.partial(_Lent, session_factory.kw["bind"])
    app.jinja_env.bytecode_cache = TEMPLATE_CACHE
    # The search index's follower step runs before each request, in the request's thread:
    # the test's data lives in one uncommitted transaction that the followers' background
    # thread could not see. Requests themselves never index; tests/deploy runs the real
    # background followers against a committed database. The open-data files are built
    # only where a test calls `follow_now` (tests/test_opendata.py): every other download
    # is streamed from the database, as before the first build.

    def follow_search_index() -> None:
        followers(app)["search-index"].run_once(foreground=True)

    app.before_request(follow_search_index)
    return app


class _Lent:
    """The driver connection of a test's Connection, lent to a request: closing it gives
    it back without ending the test's transaction. Its statements go through the
    Connection's `before_cursor_execute` listeners (the `statements` fixture) too."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def cursor(self) -> Any:
        return _LentCursor(self._connection)

    def close(self) -> None:
        pass


class _LentCursor:
    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._cursor = connection.connection.dbapi_connection.cursor()

    def execute(self, statement: str, parameters: Any = ()) -> Any:
        self._connection.dispatch.before_cursor_execute(
            self._connection, self._cursor, statement, parameters, None, False
        )
        return self._cursor.execute(statement, parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


@pytest.fixture
def app(database_url, session_factory, tmp_path):
    return app_in_transaction(database_url, session_factory, tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def statements(connection) -> Iterator[list[str]]:
    """The SQL statements the test's connection runs while the test holds this list."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    yield seen
    event.remove(connection, "before_cursor_execute", record)


@pytest.fixture
def cheap_password_hashing(monkeypatch):
    """Argon2 at its lowest cost: creating a user at production cost takes most of a second,
    and a test that is not about passwords should not pay it for each user it makes."""
    from argon2 import PasswordHasher

    from registry.services import accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", cheap)
    # an unknown username is still checked against a hash, at the cost of the hasher in use
    dummy = cheap.hash("not a password: timing equaliser")
    monkeypatch.setattr(accounts, "_dummy_hash", lambda: dummy)


@pytest.fixture(autouse=True)
def _password_hashing(request) -> None:
    """Cheap hashing for every test except those marked `production_password_hashing`
    (tests/test_auth.py), which hash and verify with the cost the application ships."""
    if request.node.get_closest_marker("production_password_hashing") is None:
        request.getfixturevalue("cheap_password_hashing")


# --- domain helpers --------------------------------------------------------------------


@pytest.fixture
def make(session):
    """Factories for test data, written through the services."""
    from tests.factories import Factory

    return Factory(session)


@pytest.fixture
def today() -> date:
    from registry import rules

    return rules.today()


# --- running on several pytest-xdist workers (`make test`) ----------------------------------

# Suites that share one expensive server per worker (a site with chromium; a deployment on
# a PostgreSQL cluster of its own) run whole on one worker instead of building it on each.
WHOLE_SUITES = ("tests/browser/", "tests/deploy/")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`-n N` (pytest-xdist's `load`): every test on the next free worker, except that each
    of WHOLE_SUITES is one unit of work. (`--dist loadgroup` would do this with marks, but
    the pytest this project installs no longer lets pytest-xdist rename the tests it groups.)"""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WholeSuites(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((suite for suite in WHOLE_SUITES if nodeid.startswith(suite)), nodeid)

    return WholeSuites(config, log)


# --- figures of the reliability and security suites (docs/SECURITY.md) --------------------


def pytest_configure(config) -> None:
    import collections

    config.security_figures = collections.Counter()


@pytest.fixture
def security_figures(pytestconfig):
    """A Counter the hostile-input, crash and concurrency suites add their figures to."""
    return pytestconfig.security_figures


def pytest_sessionfinish(session) -> None:
    """A pytest-xdist worker hands its figures to the controller, which prints them."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["security_figures"] = dict(session.config.security_figures)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    node.config.security_figures.update(node.workeroutput.get("security_figures", {}))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    figures = getattr(config, "security_figures", None)
    if figures:
        terminalreporter.section("reliability and security figures")
        for name in sorted(figures):
            terminalreporter.write_line(f"{name}: {figures[name]}")


# --- a database of the test's own ------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def own_engine(request, tmp_path) -> Iterator[Engine]:
    """A migrated and seeded database for this test alone, for tests that commit (several
    sessions or processes at once), so the shared database never sees their rows."""
    url, drop = create_database(request.param, tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    from registry.services.reference import seed

    with Session(engine) as session:
        seed(session, Actor(None, "test", "system", 0, True))
        session.commit()
    yield engine
    engine.dispose()
    drop()
