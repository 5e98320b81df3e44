"""The demo data in the test database with a real search index over it, for module-scoped
fixtures that search many times: loaded once, rolled back after the module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from registry.demo import load_demo
from registry.rules import Actor
from registry.search import SearchIndex
from registry.services.reference import authority_by_code


@contextmanager
def demo_corpus(engine: Engine, folder: Path, firms: int = 200) -> Iterator:
    """(session, index) over `firms` demo firms; nothing of it outlives the block."""
    with engine.connect() as conn:
        outer = conn.begin()
        if conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:
            conn.exec_driver_sql("BEGIN")  # see the `connection` fixture in conftest
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        actor = Actor(None, "test", "system", authority_by_code(session, "MIIT").id, True)
        load_demo(session, actor, firms=firms)
        session.flush()
        index = SearchIndex(folder / "index")
        index.catch_up(session)
        try:
            yield session, index
        finally:
            session.close()
            outer.rollback()
