"""Flask glue: one index handle per app, caught up at the first request and after every
request that committed. A locked or failing index never fails a request."""

from __future__ import annotations

import logging

from flask import Flask, current_app

from registry.search.engine import SearchIndex

log = logging.getLogger(__name__)
EXTENSION = "registry_search"


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = SearchIndex(app.config["INDEX_DIR"])
    app.extensions.setdefault("registry_after_commit", []).append(_after_commit)

    @app.before_request
    def catch_up_at_start() -> None:
        index: SearchIndex = app.extensions[EXTENSION]
        if not index.started:
            index.started = True
            _catch_up(app)


def warm(app: Flask) -> None:
    """Catch up and load this process's bitmaps now, before any request (registry.wsgi).
    A failure is logged, never raised: the first search then does the same work."""
    index: SearchIndex = app.extensions[EXTENSION]
    index.started = True
    _catch_up(app)
    try:
        index.bitmaps()
    except Exception:
        log.exception("search index warm-up failed")


def get_index(app: Flask | None = None) -> SearchIndex:
    return (app or current_app).extensions[EXTENSION]


def _after_commit(app: Flask) -> None:
    _catch_up(app)


def _catch_up(app: Flask) -> None:
    from registry.database import get_db

    try:
        with get_db(app).session_factory() as session:
            get_index(app).catch_up(session)
    except Exception:  # the next catch-up applies the same events
        log.exception("search index catch-up failed")
