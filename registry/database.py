"""The app's database handle: one engine per app, one session per request (unit of work)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy import Engine, event
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
            committed = session.info.get("committed", False)
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
    return (app or current_app).extensions["registry_db"]


def get_session() -> Session:
    """The request's session; the view (or command) commits once."""
    if "db_session" not in g:
        g.db_session = get_db().session_factory()
    return g.db_session
