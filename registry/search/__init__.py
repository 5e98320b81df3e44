"""Full-text search over the firms the public may see (the only package that uses Whoosh).

Interface for the rest of the application::

    from registry import search
    result = search.search("腾讯", search.SearchFilters(list_code="bad"), page=1)
    result.total, result.hits, result.facets

* :func:`search` - firms whose names (current or former) contain the query (two or more
  characters, simplified or traditional, full- or half-width), or whose USCC, licence
  number or decision number equals it (exact code matches first). Only listings in force
  on the search date are returned; any query string is safe.
* :func:`catch_up` - apply the change stream (``Event.seq``) the index has not seen.
* :func:`rebuild` - rebuild into a fresh directory and swap it in atomically.
* :func:`last_applied` - the last ``Event.seq`` the index holds.

Inside a Flask app these use the app's index (``INDEX_DIR``); elsewhere, build a
:class:`SearchIndex` on a directory.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy.orm import Session

from registry.search.engine import (
    FACETS,
    LISTS,
    SearchFilters,
    SearchHit,
    SearchIndex,
    SearchResult,
)

__all__ = [
    "FACETS",
    "LISTS",
    "SearchFilters",
    "SearchHit",
    "SearchIndex",
    "SearchResult",
    "catch_up",
    "get_index",
    "last_applied",
    "rebuild",
    "search",
]


def get_index() -> SearchIndex:
    """The current Flask app's index."""
    from registry.search.app import get_index as _get

    return _get()


def search(
    query: str,
    filters: SearchFilters | None = None,
    page: int = 1,
    per_page: int = 20,
    *,
    session: Session | None = None,
    on: date | None = None,
) -> SearchResult:
    """Search the app's index; with `session`, catch up with the database first."""
    index = get_index()
    if session is not None and not index.ensure_current(session, on):
        from registry.web.cache import do_not_keep

        do_not_keep()  # behind the database for a moment: right now, not for later
    return index.search(query, filters, page, per_page, on)


def catch_up(session: Session) -> int | None:
    return get_index().catch_up(session)


def rebuild(session: Session, progress: Callable[[int, int], None] | None = None) -> int:
    return get_index().rebuild(session, progress)


def last_applied() -> int:
    return get_index().last_applied()
