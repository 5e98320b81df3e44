"""The search index of a web app: one handle per process, kept current by a follower.

Requests never index. A background thread in each serving process (`start_followers`,
called by registry.wsgi and `registry serve`) follows the event sequence. In each host one
process leads: it holds a lock on the index folder for as long as it lives (the kernel
releases it if the process dies, and another worker's follower takes over at its next
step), loads the word dictionary once and applies new events under Whoosh's writer lock.
The others only re-open their searcher when the index on disk moved. Every follower then
loads its own process's bitmaps. A search compares the database's event counter with what
its searcher holds and looks at the disk when it is behind; an index that cannot be read
answers a 503 page (registry.web.errors), never a 500. Commands and tests run the step in
their own thread (`follow_now`) and apply the events themselves.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import Session

from registry.database import read_connection
from registry.followers import Follower
from registry.search import (
    SearchFilters,
    SearchIndex,
    SearchResult,
    committed_seq,
)
from registry.search.facts import FirmFacts
from registry.web import current_flask_app
from registry.web.cache import database_epoch, do_not_keep, event_counter, newest_event

log = logging.getLogger(__name__)
EXTENSION = "registry_search"
FOLLOWERS = "registry_followers"
WARM_SECONDS = 60.0
SEARCH_FOLLOWER = "search-index"


def init_app(app: Flask) -> None:
    index = SearchIndex(app.config["INDEX_DIR"])
    app.extensions[EXTENSION] = index

    leadership = Leadership(Path(app.config["INDEX_DIR"]))

    def follow(session: Session) -> bool:
        if leadership.acquire():
            current = index.ensure_current(session)
        else:  # another process of this host applies the events
            current = index.refresh_to(committed_seq(session))
        index.bitmaps()  # loaded here, not by the first search after a change
        return current

    def follow_now(session: Session) -> bool:
        current = index.ensure_current(session)
        index.bitmaps()
        return current

    add_follower(app, SEARCH_FOLLOWER, follow, foreground_step=follow_now)


def add_follower(
    app: Flask,
    name: str,
    step: Callable[[Session], Any],
    interval: float = 0.25,
    *,
    foreground_step: Callable[[Session], Any] | None = None,
    gates_start: bool = True,
) -> Follower:
    """Register a follower of the event sequence with this app's others: it opens its own
    sessions on the app's database, and every commit wakes it."""

    def sessions() -> Session:
        from registry.database import get_db

        return get_db(app).session_factory()

    follower = Follower(
        name,
        sessions,
        step,
        interval,
        foreground_step=foreground_step,
        gates_start=gates_start,
    )
    app.extensions.setdefault(FOLLOWERS, {})[name] = follower
    app.extensions.setdefault("registry_after_commit", []).append(lambda _app: follower.wake())
    return follower


def get_index(app: Flask | None = None) -> SearchIndex:
    found = app or current_flask_app()
    return found.extensions[EXTENSION]


def followers(app: Flask | None = None) -> dict[str, Follower]:
    return (app or current_app).extensions.get(FOLLOWERS, {})


def start_followers(app: Flask, wait: float = 0.0) -> None:
    """Start this process's followers; with `wait`, give the first steps that long (a
    fresh worker catches up and loads its bitmaps before it takes requests)."""
    for follower in followers(app).values():
        follower.start()
    if wait:
        for follower in followers(app).values():
            if follower.gates_start and not follower.wait_until_caught_up(wait):
                log.warning("follower %s not ready after %.0f s", follower.name, wait)


def follow_now(
    app: Flask, *, gating_only: bool = False, warm: bool = True, touched_firms: int = 0
) -> None:
    """Run every follower's step once in this thread (commands, and tests whose data is in
    a transaction no other thread can see); `gating_only`: only those a fresh worker waits
    for (the search index), not the ones whose readers manage meanwhile (open data);
    `warm`: the search index's bitmaps loaded too (not in a command that never searches:
    a search loads them when it needs them); `touched_firms`: how many firms the command
    knows it changed (SearchIndex.catch_up's `touched_at_least`)."""

    def current(session: Session) -> bool:
        index = get_index(app)
        done = index.ensure_current(session, touched_at_least=touched_firms)
        if warm:
            index.bitmaps()
        return done

    for follower in followers(app).values():
        if follower.gates_start or not gating_only:
            own = follower.name == SEARCH_FOLLOWER
            follower.run_once(foreground=True, step=current if own else None)


class Leadership:
    """A lock on the index folder held by one process of the host for as long as it lives:
    that process's follower writes the index. Not blocking: `acquire` says whether this
    process leads now (once it does, it keeps leading)."""

    LOCK = ".follower.lock"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fd: int | None = None
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self._fd is not None:
                return True
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.root / self.LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:  # the folder cannot be written: no one can lead from here
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd = fd
            # The word dictionary (about 32 MB) is loaded by the first firm this process
            # indexes, not here: a leader that only serves searches never needs it.
            log.info("this process (%d) now writes the search index in %s", os.getpid(), self.root)
            return True


def search(
    query: str,
    filters: SearchFilters | None = None,
    page: int = 1,
    per_page: int = 20,
    *,
    session: Session | None = None,
    on: date | None = None,
    facets: bool = True,
) -> SearchResult:
    """Search the app's index, first re-opening the searcher from disk when the database's
    event counter is ahead of it (the follower may have applied the events meanwhile).
    The counter is the one read for this request; `session` reads it outside a request.
    The hits carry their firm ids only (`fields=False`): the views read what they show from
    the database; `facets=False`, for a view that shows none: they are not counted. Raises
    IndexUnavailable when no index generation can be read."""
    index = get_index()
    if not index.refresh_to(event_counter(session)):
        # Right for now, but built before this process's searcher held every event up to
        # the counter this answer would be kept under: never kept for later.
        do_not_keep()
    return index.search(query, filters, page, per_page, on, fields=False, facets=facets)


def firm_facts(eids: list[int]) -> dict[int, FirmFacts] | None:
    """What the app's index holds of the firms `eids` (registry.search.facts), for those it
    holds, when it holds everything the database says: every Event the request's read
    connection sees, of the same database history. None otherwise (a follower behind, the
    request's own transaction writing, an index of a database created again)."""
    epoch = database_epoch(current_flask_app(), read_connection())
    if epoch is None:
        return None
    return get_index().firm_facts(eids, newest_event(), epoch)
