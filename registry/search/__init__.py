"""Full-text search over the firms the public may see (the only package that uses Whoosh).

Interface for the rest of the application, on one index folder::

    index = SearchIndex(path)
    index.ensure_current(session)            # the follower: apply new events (one writer)
    index.refresh_to(committed_seq(session))  # a reader: look at the disk if behind
    result = index.search("腾讯", SearchFilters(list_code="bad"), page=1)
    result.total, result.hits, result.facets

* ``search`` - firms whose names (current or former) contain the query (two or more
  characters, simplified or traditional, full- or half-width), or whose USCC, licence
  number or decision number equals it (exact code matches first). Only listings in force
  on the search date are returned; any query string is safe.
* ``catch_up`` / ``ensure_current`` - apply the change stream (``Event.seq``) the index
  has not seen, under the index's writer lock: the follower's work, never a request's.
* ``rebuild`` - rebuild into a fresh directory and swap it in atomically.
* ``last_applied`` - the last event number the index holds.

The web layer keeps one index per app (registry.web.indexing).
"""

from __future__ import annotations

from registry.search import documents
from registry.search.engine import (
    FACETS,
    LISTS,
    IndexUnavailable,
    SearchFilters,
    SearchHit,
    SearchIndex,
    SearchResult,
)

__all__ = [
    "FACETS",
    "LISTS",
    "IndexUnavailable",
    "SearchFilters",
    "SearchHit",
    "SearchIndex",
    "SearchResult",
    "committed_seq",
]

committed_seq = documents.committed_seq
