"""`GET /healthz` for load balancers and monitors: is this process able to serve?

Healthy (200) when the database answers and the search index can be read; 503 otherwise,
with the reason. `index_lag` is how many events the database has that this process's
searcher does not hold yet (a moment after a write it may be a few; a follower that stopped
applying them shows up as a growing number and a follower error). `public_cache` counts this
worker's cache hits and misses (`make bench` reads them for the hit rate of each workload).
`mail` counts the outbox's mails waiting to be sent and those given up after every retry.
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Blueprint, Flask, current_app

from registry import mail
from registry.search import committed_seq
from registry.web.indexing import followers, get_index

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("telecom-credit-registry")
    except PackageNotFoundError:  # running from a checkout that was not installed
        return "unknown"


def _cache_counts() -> dict[str, int] | None:
    """This worker's public cache since it started: answers served from it (hits) and
    answers built by Flask for a request it could have kept (misses); None when it is off."""
    cache = current_app.extensions.get("registry_public_cache")
    if cache is None:
        return None
    return cache.counts()


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int, dict[str, str]]:
    from registry.database import get_db

    body: dict[str, Any] = {"database": False, "index": "ok", "index_lag": None}
    healthy = True
    counter = None
    try:
        with get_db().session_factory() as session:
            counter = committed_seq(session)
            # mail given up on is the outbox's problem, not this process's: counted, and
            # shown in the back office, but the answer stays 200
            body["mail"] = mail.outbox_counts(session)
        body["database"] = True
    except Exception as exc:
        log.error("healthz: database unreachable: %s", exc)
        body["database_error"] = type(exc).__name__
        healthy = False
    index = get_index()
    try:
        applied = index.last_applied(force=True)
    except Exception as exc:
        body["index"] = f"unreadable: {type(exc).__name__}"
        healthy = False
    else:
        if index.error is not None:  # a generation is open, but the folder cannot be read
            body["index"] = f"unreadable: {index.error.split(':')[0]}"
            healthy = False
        if counter is not None:
            body["index_lag"] = max(0, counter - applied)
    body["followers"] = {
        name: {
            "running": status.running,
            "failures": status.failures,
            "last_error": status.last_error,
        }
        for name, follower in followers().items()
        for status in [follower.status()]
    }
    body["public_cache"] = _cache_counts()
    body["version"] = _version()
    body["pid"] = os.getpid()  # which worker answered (a host runs several)
    body["status"] = "ok" if healthy else "unavailable"
    headers = {"Cache-Control": "no-store"}
    return body, 200 if healthy else 503, headers


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
