"""The app's database handle: one engine per app, one session per request (unit of work)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from registry.db import make_engine, make_session_factory


@dataclass
class Database:
    engine: Engine
    session_factory: sessionmaker


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["registry_db"] = Database(engine, make_session_factory(engine))

    @app.teardown_appcontext
    def close_session(exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()  # anything not committed by the view is discarded
            session.close()


def get_db(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["registry_db"]


def get_session() -> Session:
    """The request's session; the view (or command) commits once."""
    if "db_session" not in g:
        g.db_session = get_db().session_factory()
    return g.db_session
