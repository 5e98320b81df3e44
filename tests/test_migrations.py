"""Alembic: `upgrade head` equals the models, and every revision goes down and up again
with data in place, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from registry.db import Base, Versioned, make_engine
from registry.migrate import alembic_config, downgrade, upgrade
from registry.models import Authority, Event
from registry.rules import Actor
from registry.services.reference import seed
from tests.conftest import BACKENDS, create_database


@pytest.fixture(params=BACKENDS)
def fresh_engine(request, tmp_path):
    url, drop = create_database(request.param, tmp_path)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    drop()


def test_single_head():
    script = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
    assert len(script.get_heads()) == 1, "several Alembic heads: merge them"


def test_upgrade_head_matches_models(fresh_engine):
    upgrade(fresh_engine)
    with fresh_engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_mixin_columns_stand_where_the_migrations_put_them(fresh_engine):
    """Autogenerate ignores column order; the shared columns of the mixins (placed with
    sort_order) must still stand where the migrations created them, so create_all and the
    migrations build the same tables."""
    upgrade(fresh_engine)
    inspector = inspect(fresh_engine)
    tables = [m.local_table for m in Base.registry.mappers if issubclass(m.class_, Versioned)]
    assert {"notice", "sanction", "listing", "user_account"} <= {t.name for t in tables}
    for table in tables:
        migrated = [column["name"] for column in inspector.get_columns(table.name)]
        assert migrated == list(table.columns.keys()), table.name


def test_every_revision_goes_down_and_up_with_data(fresh_engine):
    upgrade(fresh_engine)
    with Session(fresh_engine) as session:
        seed(session, Actor(None, "test", "system", 0, True))
        session.commit()
        events = session.scalar(select(func.count(Event.id)))
    script = ScriptDirectory.from_config(alembic_config(fresh_engine))
    revisions = list(script.walk_revisions())  # head first
    for revision in revisions[:-1]:
        downgrade(fresh_engine, revision.down_revision)
        upgrade(fresh_engine, revision.revision)
    with Session(fresh_engine) as session:
        assert session.scalar(select(func.count(Authority.id))) == 33
        assert session.scalar(select(func.count(Event.id))) == events
    downgrade(fresh_engine, "base")
    assert set(inspect(fresh_engine).get_table_names()) <= {"alembic_version"}
    upgrade(fresh_engine)
