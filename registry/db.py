"""Database plumbing: declarative base, shared column types, engine and session factory.

Nothing here knows about Flask; the web layer opens one session per request and
commits once (unit of work), the CLI and tests do the same explicitly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    declared_attr,
    mapped_column,
    sessionmaker,
)
from sqlalchemy.types import TypeDecorator

# Named constraints, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        date: Date(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


# Reusable annotated column types.
intpk = Annotated[int, mapped_column(primary_key=True)]
str40 = Annotated[str, mapped_column(String(40))]
str200 = Annotated[str, mapped_column(String(200))]
longtext = Annotated[str, mapped_column(Text, default="")]
created_at = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow)]
updated_at = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)]

# Mixin columns follow a table's own ones (sort_order 0) in the order the migrations created
# them; a table may slot its own columns between them with the places in between.
CREATED_AT_PLACE = 80
UPDATED_AT_PLACE = 90
VERSION_ID_PLACE = 100
# A column a later migration added stands after all of the above (ALTER TABLE appends it):
# LATER_PLACE, then LATER_PLACE + 1 … in the order the migrations added them.
LATER_PLACE = 200


class Versioned:
    """Optimistic locking: every UPDATE checks and bumps `version_id`, so a write based on a
    stale read fails (services.history.flush turns that into a ConflictError)."""

    version_id: Mapped[int] = mapped_column(Integer, default=1, sort_order=VERSION_ID_PLACE)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version_id}  # type: ignore[attr-defined]


class Tracked(Versioned):
    """A versioned record stamped when it was created and last changed."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, sort_order=CREATED_AT_PLACE
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, sort_order=UPDATED_AT_PLACE
    )


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the settings the registry relies on (FKs on, WAL on SQLite)."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 15})
    else:
        # A pooled connection the server dropped (a restart) is replaced before use, so
        # requests answer again as soon as the database is back, without an app restart.
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def refresh_statistics(session: Session) -> None:
    """ANALYZE, then commit: the planner's row counts per index. Without them SQLite picks
    the (state, list) index for "this page's firms' published listings" and scans every
    published listing (3 ms a search at 11k firms, growing); with them, the firm index.
    Run after bulk imports, by `registry init` and by the daily `registry sweep`; it takes
    about 0.1 s on 100k listings. PostgreSQL's autovacuum does the same on its own, but an
    import should not wait for it."""
    session.execute(text("ANALYZE"))
    session.commit()


def make_session_factory(engine: Engine) -> sessionmaker:
    """Sessions flush only when the services say so (services.history.flush turns a stale
    version into a ConflictError) or at commit — never implicitly in the middle of a rule check."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
