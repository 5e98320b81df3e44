"""A per-process cache of public answers, in front of Flask.

What the public sees changes only when a write commits — every write records Events, and
the first Event of a transaction advances the "event" counter row — or when the day
changes (expiry at read time). So an anonymous GET of a public page, API answer or feed is
kept with the counter value it was built at and served again, without Flask, while the
counter and the day are the same: one primary-key read per request instead of the whole
request. A counter that moved makes every kept answer stale at once, in every worker of
every host, at its next request. The value read is left in the WSGI environment, so the
other per-process caches of the request (registry.web.catalogue) key on the same number.

A kept answer with an ETag also answers ``If-None-Match`` here (304); the first request
for a path is built whole, without the condition, then compared. Never cached: anything
but GET, regulators (any cookie but ``lang``), ``If-Modified-Since`` or ranged requests
(Flask answers those), the back office, login, health checks, the downloads under /data
and static files, answers other than 200, answers that set a cookie, answers over 1 MB,
and answers the view marked with `do_not_keep` — a search answered while this process's
searcher did not yet hold every event up to the counter value (it would miss the newest
records; the check is made on the searcher the answer was built with, not on a newer one
the follower may have opened meanwhile). The key holds everything an answer depends on: path,
query, host, scheme, ``Accept-Language``, the ``lang`` cookie and the day.

Behind each worker's own answers, a tier the workers of a host share
(registry/web/sharedcache.py): an answer this worker does not hold is looked up there
before it is built, and an answer it built and keeps is stored there too, under the same
rules, once it is asked for here a second time (an answer asked for once, as most of the
long tail is, is never written there).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask, has_request_context
from sqlalchemy import text
from werkzeug.http import parse_cookie

from registry import rules
from registry.database import READ_CONNECTION, get_db, read_rows
from registry.search.documents import EPOCH_SQL, epoch_of
from registry.web import current_request
from registry.web.sharedcache import SharedAnswers, code_fingerprint

NEVER = ("/admin", "/login", "/logout", "/data", "/static", "/healthz")
BYPASS_HEADERS = ("HTTP_IF_MODIFIED_SINCE", "HTTP_RANGE", "HTTP_AUTHORIZATION")
MAX_ANSWER_BYTES = 1024 * 1024
# The counter, and the highest Event number the database holds (in the same snapshot): a
# search reads its hits from the index only when the index applied every Event up to it.
_COUNTER_SQL = (
    "SELECT value, (SELECT max(seq) FROM event) FROM sequence_counter WHERE name = 'event'"
)
_NEWEST_SQL = "SELECT max(seq) FROM event"
_SKIP = "registry.public_cache.skip"
COUNTER_KEY = "registry.event_counter"
NEWEST_KEY = "registry.newest_event"

Key = tuple[str, ...]


class PublicCache:
    """WSGI middleware: `app.wsgi_app = PublicCache(app, app.wsgi_app)`."""

    def __init__(
        self,
        app: Flask,
        wsgi_app: Callable,
        max_bytes: int = 16 * 2**20,
        shared: SharedAnswers | None = None,
    ) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.max_bytes = max_bytes
        self.shared = shared  # the host's second tier, or None
        self._entries: OrderedDict[Key, tuple[int, str, list, bytes]] = OrderedDict()
        self._sizes: dict[Key, int] = {}  # each entry's `_size`, counted once when stored
        # Answers built here that the shared tier does not hold: one is stored there when it
        # is asked for again, not when it is built. Most answers of the long tail are asked
        # for once, and a store (a write transaction) costs a tenth of building one.
        self._unshared: set[Key] = set()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.shared_hits = 0
        self.misses = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        key = self._key(environ)
        if key is None:
            return self.wsgi_app(environ, start_response)
        database = get_db(self.app)
        connection = self._connection(database)
        version, newest = self._version(connection)
        if version is None:
            if connection is not None:
                # One lost while it was kept (a restarted server) cannot roll back: it is
                # closed, and the views take another.
                database.release(connection)
            return self.wsgi_app(environ, start_response)
        environ[COUNTER_KEY] = version
        environ[NEWEST_KEY] = newest
        try:
            return self._kept_or_built(key, version, environ, start_response, connection)
        finally:
            environ.pop(READ_CONNECTION, None)
            database.release(connection)  # its transaction ended, kept for the next

    def _kept_or_built(
        self,
        key: Key,
        version: int,
        environ: dict[str, Any],
        start_response: Callable,
        connection: Any,
    ) -> Iterable[bytes]:
        wanted = environ.pop("HTTP_IF_NONE_MATCH", None)  # answered here, from the entry
        share = False  # this worker's own answer, asked for again: worth sharing now
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] != version:
                entry = None  # built before the last change: built again below
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                share = key in self._unshared
                self._unshared.discard(key)
        if entry is not None and not share:
            return _answer(entry, wanted, start_response)
        shared = self._shared_tier(connection)
        if entry is not None:
            if shared is not None:
                shared.store(key, entry)
            return _answer(entry, wanted, start_response)
        if shared is not None:
            entry = shared.find(key, version)
            if entry is not None:  # another worker of this host built it
                self._store(key, entry)
                self.hits += 1
                self.shared_hits += 1
                return _answer(entry, wanted, start_response)
        self.misses += 1
        environ[READ_CONNECTION] = connection  # the views' reads (database.read_connection)
        captured: list[Any] = []

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured[:] = [status, headers]
            return lambda data: None  # the body is returned, not written

        answer = self.wsgi_app(environ, capture)  # (without If-None-Match: the whole answer)
        try:
            body = b"".join(answer)
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()
        if not captured:  # pragma: no cover - an app that never started its response
            return [body]
        entry = (version, captured[0], list(captured[1]), body)
        if not environ.get(_SKIP) and self._storable(captured[0], captured[1], body):
            self._store(key, entry, unshared=shared is not None)
        return _answer(entry, wanted, start_response)

    def counts(self) -> dict[str, int]:
        """Since this process started: answers served from the cache (of which from the
        host's shared tier), answers built for a request it could have kept, and the entries
        this process holds now."""
        return {
            "hits": self.hits,
            "shared_hits": self.shared_hits,
            "misses": self.misses,
            "entries": len(self._entries),
        }

    def _shared_tier(self, connection: Any) -> SharedAnswers | None:
        """The host's shared tier, once this process knows which database history its
        counter values belong to (None: no shared tier, or the database did not say)."""
        shared = self.shared
        if shared is None or shared.broken is not None:
            return None
        epoch = database_epoch(self.app, connection)
        if not epoch:
            return None
        shared.epoch = epoch
        return shared

    # --- deciding ---------------------------------------------------------------------

    def _key(self, environ: dict[str, Any]) -> Key | None:
        if environ.get("REQUEST_METHOD") != "GET":
            return None
        path = environ.get("PATH_INFO", "")
        if path.startswith(NEVER):
            return None
        for header in BYPASS_HEADERS:  # (a loop: a generator cost more than these lookups)
            if environ.get(header):
                return None
        lang = ""
        if environ.get("HTTP_COOKIE"):
            cookies = parse_cookie(environ)
            if set(cookies) - {"lang"}:  # a regulator's session, or anything we don't know
                return None
            lang = cookies.get("lang", "")
        return (
            path,
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_HOST", ""),
            environ.get("wsgi.url_scheme", ""),
            environ.get("HTTP_ACCEPT_LANGUAGE", "")[:200],
            lang[:20],
            rules.today().isoformat(),
        )

    @staticmethod
    def _connection(database: Any) -> Any:
        """A driver connection kept for the public reads (registry.database's `reader`),
        without SQLAlchemy's execution layer (that layer was most of the counter's read);
        None when the database is unreachable."""
        try:
            return database.reader()
        except Exception:  # the database is down: Flask says so
            return None

    @staticmethod
    def _version(connection: Any) -> tuple[int | None, int]:
        """The "event" counter as committed now (None: unreadable, do not cache) and the
        highest Event number."""
        if connection is None:
            return None, 0
        try:
            row = _first_row(connection, _COUNTER_SQL)
        except Exception:  # not migrated, or the connection broke: Flask says so
            return None, 0
        return (row[0], row[1] or 0) if row is not None else (None, 0)

    @staticmethod
    def _storable(status: str, headers: list, body: bytes) -> bool:
        if not status.startswith("200") or len(body) > MAX_ANSWER_BYTES:
            return False
        return not any(name.lower() == "set-cookie" for name, _ in headers)

    def _store(self, key: Key, entry: tuple[int, str, list, bytes], unshared: bool = False) -> None:
        """Keep `entry`; `unshared`: built here and not in the shared tier (yet)."""
        size = _size(key, entry)
        sizes = self._sizes
        with self._lock:
            if self._entries.pop(key, None) is not None:
                self._bytes -= sizes[key]
            self._entries[key] = entry
            sizes[key] = size
            self._bytes += size
            if unshared:
                self._unshared.add(key)
            else:
                self._unshared.discard(key)
            while self._bytes > self.max_bytes and self._entries:
                dropped_key, _dropped = self._entries.popitem(last=False)
                self._bytes -= sizes.pop(dropped_key)
                self._unshared.discard(dropped_key)


def database_epoch(app: Flask, connection: Any) -> str | None:
    """What tells this database's history from another's at the same counter value (a
    database created again, another database at the same address): its epoch
    (registry.search.documents), read on the driver `connection` the first time this
    process asks and kept for the app (the shared tier's keys and the search's check of
    the index's facts both name it). "" before the first Event and None when unreadable,
    both asked again next time."""
    found: str | None = app.extensions.get(_EPOCH)
    if not found:
        try:
            found = epoch_of(_first_row(connection, EPOCH_SQL))
        except Exception:  # the database went away: neither is used for this request
            return None
        if found:
            app.extensions[_EPOCH] = found
    return found


_EPOCH = "registry_database_epoch"


def _first_row(connection: Any, sql: str) -> Any:
    """The first row `sql` gives on a driver connection (None: no row)."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchone()
    finally:
        cursor.close()


def _size(key: Key, entry: tuple[int, str, list, bytes]) -> int:
    """Bytes an entry holds, roughly: the body, the key's strings (a query may be long) and
    the headers' (each string's text and about 60 bytes of object around it)."""
    size = len(entry[3]) + 200 + 60 * len(key) + 120 * len(entry[2])
    for part in key:
        size += len(part)
    for name, value in entry[2]:
        size += len(name) + len(value)
    return size


def _answer(
    entry: tuple[int, str, list, bytes], wanted: str | None, start_response: Callable
) -> list[bytes]:
    """The entry, or 304 when it is a 200 whose ETag the client's If-None-Match names."""
    status, headers, body = entry[1], entry[2], entry[3]
    if wanted and status.startswith("200"):
        etag = next((value for name, value in headers if name.lower() == "etag"), None)
        if etag is not None and _matches(wanted, etag):
            kept = [(n, v) for n, v in headers if n.lower() not in ("content-length",)]
            start_response("304 NOT MODIFIED", kept)
            return []
    start_response(status, list(headers))
    return [body]


def _matches(wanted: str, etag: str) -> bool:
    """If-None-Match against one ETag (weak comparison, RFC 9110 13.1.2)."""
    bare = etag.removeprefix("W/")
    for item in wanted.split(","):
        item = item.strip()
        if item == "*" or item.removeprefix("W/") == bare:
            return True
    return False


def event_counter(session: Any) -> int:
    """The "event" counter for this request: the value the public cache read before the
    request, else one read through `session` (kept for the rest of the request)."""
    if has_request_context():
        environ = current_request().environ
        value = environ.get(COUNTER_KEY)
        if value is None:
            value = environ[COUNTER_KEY] = _read_counter(session)
        return value
    return _read_counter(session)


def _read_counter(session: Any) -> int:
    if has_request_context():  # on the request's read connection, not the session's
        rows = read_rows(_COUNTER_SQL)
        current_request().environ[NEWEST_KEY] = (rows[0][1] if rows else 0) or 0
        return (rows[0][0] if rows else 0) or 0
    return session.execute(text(_COUNTER_SQL)).scalar() or 0


def newest_event() -> int:
    """The highest Event number the database holds, as read with this request's counter
    (read now if the counter was not)."""
    environ = current_request().environ
    value = environ.get(NEWEST_KEY)
    if value is None:
        value = environ[NEWEST_KEY] = read_rows(_NEWEST_SQL)[0][0] or 0
    return value


def do_not_keep() -> None:
    """Called while answering: this answer is right now but must not be kept (e.g. the
    search index was still catching up with the database)."""
    if has_request_context():
        current_request().environ[_SKIP] = True


def init_app(app: Flask) -> None:
    if app.config.get("PUBLIC_CACHE"):
        megabytes = app.config.get("PUBLIC_CACHE_MB", 16)
        shared = None
        shared_megabytes = app.config.get("PUBLIC_CACHE_SHARED_MB", 0)
        if shared_megabytes and app.config.get("PUBLIC_CACHE_FILE"):
            fingerprint = code_fingerprint(Path(__file__).resolve().parent.parent)
            database = str(app.config.get("DATABASE_URL", "")).encode()
            shared = SharedAnswers(
                Path(app.config["PUBLIC_CACHE_FILE"]),
                int(shared_megabytes * 2**20),
                hashlib.blake2b(fingerprint + database, digest_size=16).digest(),
            )
        cache = PublicCache(app, app.wsgi_app, int(megabytes * 2**20), shared)
        app.extensions["registry_public_cache"] = cache
        app.wsgi_app = cache  # type: ignore[method-assign]
