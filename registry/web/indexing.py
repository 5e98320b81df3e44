"""The search index of a web app: one handle per process, kept current by a follower.

Requests never index. A background thread in each serving process (`start_followers`,
called by registry.wsgi and `registry serve`) applies new events under the index's writer
lock — in each host one process holds it, the others find it taken and only re-open
their searcher — and loads this process's bitmaps. A search compares the database's event
counter with what its searcher holds and looks at the disk when it is behind; an index
that cannot be read answers a 503 page (registry.web.errors), never a 500.
"""

from __future__ import annotations

import logging
from datetime import date

from flask import Flask, current_app
from sqlalchemy.orm import Session

from registry.followers import Follower
from registry.search import (
    SearchFilters,
    SearchIndex,
    SearchResult,
    committed_seq,
)

log = logging.getLogger(__name__)
EXTENSION = "registry_search"
FOLLOWERS = "registry_followers"
WARM_SECONDS = 60.0


def init_app(app: Flask) -> None:
    index = SearchIndex(app.config["INDEX_DIR"])
    app.extensions[EXTENSION] = index

    def follow(session: Session) -> bool:
        current = index.ensure_current(session)
        index.bitmaps()  # loaded here, not by the first search after a change
        return current

    def sessions() -> Session:
        from registry.database import get_db

        return get_db(app).session_factory()

    follower = Follower("search-index", sessions, follow)
    app.extensions.setdefault(FOLLOWERS, {})["search-index"] = follower
    app.extensions.setdefault("registry_after_commit", []).append(lambda _app: follower.wake())


def get_index(app: Flask | None = None) -> SearchIndex:
    return (app or current_app).extensions[EXTENSION]


def followers(app: Flask | None = None) -> dict[str, Follower]:
    return (app or current_app).extensions.get(FOLLOWERS, {})


def start_followers(app: Flask, wait: float = 0.0) -> None:
    """Start this process's followers; with `wait`, give the first steps that long (a
    fresh worker catches up and loads its bitmaps before it takes requests)."""
    for follower in followers(app).values():
        follower.start()
    if wait:
        for follower in followers(app).values():
            if not follower.wait_until_caught_up(wait):
                log.warning("follower %s not ready after %.0f s", follower.name, wait)


def follow_now(app: Flask) -> None:
    """Run every follower's step once in this thread (commands, and tests whose data is in
    a transaction no other thread can see)."""
    for follower in followers(app).values():
        follower.run_once()


def search(
    query: str,
    filters: SearchFilters | None = None,
    page: int = 1,
    per_page: int = 20,
    *,
    session: Session,
    on: date | None = None,
) -> SearchResult:
    """Search the app's index, first re-opening the searcher from disk when the database's
    event counter is ahead of it (the follower may have applied the events meanwhile).
    Raises IndexUnavailable when no index generation can be read."""
    from registry.web.cache import event_counter

    index = get_index()
    index.refresh_to(event_counter(session))
    return index.search(query, filters, page, per_page, on)


def lag(session: Session, app: Flask | None = None) -> int:
    """Events the database has that this process's searcher does not hold."""
    index = get_index(app)
    return max(0, committed_seq(session) - index.last_applied())
