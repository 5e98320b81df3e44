"""Open-data downloads: `/data`, `/data/listings.csv|.json|.xlsx`, `/data/datapackage.json`.

The files are built outside requests by the "open-data" follower (registry/opendata.py) in
EXPORT_DIR. A download reads the publication log head (one query) and, when the files were
built at that head and today, sends the file: with ETag (the file's SHA-256), Last-Modified
and Range, so a conditional request answers 304 and a resumed one 206. Behind the nginx of
deploy/, which sends ``X-Accel-Exports`` with the internal location of that folder, the app
only answers ``X-Accel-Redirect`` and nginx sends the file. While the files are missing or
behind (fresh install, a change the follower has not built yet, a new day), the download is
streamed from the database as before, so it is never stale and never missing.
"""

from __future__ import annotations

import functools
import io
import os
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    render_template,
    request,
    send_file,
    stream_with_context,
)
from sqlalchemy.orm import Session
from werkzeug.http import http_date, quote_etag

from registry import exports, opendata, opendata_child, rules, visibility
from registry.database import get_session, read_rows
from registry.web.api import BadParameter, allow_cors, as_of_arg, json_error
from registry.web.indexing import add_follower

bp = Blueprint("data", __name__, url_prefix="/data")
bp.after_request(allow_cors)
FOLLOWER = "open-data"
ACCEL_HEADER = "X-Accel-Exports"
# A download of the listings in force on a day: (today, a past day asked for with ?as_of= or None).
DayView = Callable[[date, date | None], Response]


def init_app(app: Flask) -> None:
    """Register the follower that rebuilds the files (started with the search index's in
    every serving process; `follow_now` runs it in commands and tests)."""
    folder = app.config["EXPORT_DIR"]
    url = app.config["DATABASE_URL"]

    def here(session: Session) -> bool:
        return opendata.build_if_changed(session, folder)

    def elsewhere(session: Session) -> bool:
        return opendata_child.build_if_changed(session, folder, url)

    # A fresh worker does not wait for it: building the files of a large registry takes
    # longer than a worker should stay out of service, and downloads stream meanwhile.
    # The serving process's thread has a child process build them; a command or a test
    # that needs them now builds them itself.
    add_follower(
        app,
        FOLLOWER,
        elsewhere if opendata_child.can_build_elsewhere(url) else here,
        1.0,
        foreground_step=here,
        gates_start=False,
    )
    app.register_blueprint(bp)


@bp.errorhandler(BadParameter)
def _bad_parameter(exc: BadParameter) -> Response:
    return json_error(exc.status, exc.message)


def _built(today: date) -> dict[str, Any] | None:
    """The data package when the files show what the database shows now: one statement
    on the request's driver connection (no Session) and a stat of the package."""
    head = opendata.head_of(read_rows(opendata.HEAD_SQL)[0], today)
    return opendata.current(current_app.config["EXPORT_DIR"], head)


def _send(package: dict[str, Any], fmt: str, download_name: str | None) -> Response | None:
    """The built file of `fmt`, or None if it vanished (the folder was cleared)."""
    entry = opendata.resource(package, fmt)
    if entry is None:
        return None
    folder = current_app.config["EXPORT_DIR"]
    path = os.path.join(folder, entry["path"])
    etag = str(entry.get("hash", "")).removeprefix("sha256:") or None
    if etag and request.if_none_match.contains_weak(etag):
        # The client holds this file (its SHA-256 is the package's, and the package shows
        # the database now): 304 without opening the file or building a file response.
        return Response(
            status=304,
            headers={
                "ETag": quote_etag(etag),
                "Cache-Control": "no-cache, max-age=0",
                "Expires": http_date(time.time()),
            },
        )
    accel = request.headers.get(ACCEL_HEADER)
    if accel and current_app.config.get("PROXY_HOPS", 0) > 0 and accel.startswith("/"):
        response = Response(b"", mimetype=opendata.MEDIA_TYPES.get(fmt, "application/json"))
        response.headers["X-Accel-Redirect"] = accel.rstrip("/") + "/" + entry["path"]
        if download_name:
            response.headers.update(_attachment(download_name))
        return response
    try:
        return send_file(
            path,
            mimetype=opendata.MEDIA_TYPES.get(fmt, "application/json"),
            as_attachment=download_name is not None,
            download_name=download_name,
            conditional=True,
            etag=etag if etag else True,
            max_age=0,
        )
    except FileNotFoundError:
        return None


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _download_name(on: date, ext: str) -> str:
    return f"listings-{on.isoformat()}.{ext}"


@bp.get("")
@bp.get("/")
def index():
    session = get_session()
    today = rules.today()
    counts = dict(session.execute(visibility.in_force_by_list(today)).all())
    return render_template("data/index.html", counts=counts, today=today, columns=exports.COLUMNS)


def prebuilt(fmt: str, *, attach: bool = True) -> Callable[[DayView], Callable[[], Response]]:
    """A download view answered from today's built file of `fmt` (as an attachment when
    `attach`) when the files show what the database shows; else the view streams it."""

    def wrap(view: DayView) -> Callable[[], Response]:
        @functools.wraps(view)
        def serve() -> Response:
            today = rules.today()
            as_of = as_of_arg()
            if as_of is not None:  # a past day is always streamed: the built files show today
                return view(today, as_of)
            package = _built(today)
            download_name = _download_name(today, fmt) if attach else None
            return (package and _send(package, fmt, download_name)) or view(today, None)

        return serve

    return wrap


@bp.get("/listings.csv")
@prebuilt("csv")
def listings_csv(today: date, as_of: date | None) -> Response:
    records = exports.rows(get_session(), today, release=True, as_of=as_of)
    return Response(
        stream_with_context(exports.iter_csv(records)),
        mimetype="text/csv",
        headers=_attachment(_download_name(as_of or today, "csv")),
    )


@bp.get("/listings.json")
@prebuilt("json", attach=False)
def listings_json(today: date, as_of: date | None) -> Response:
    records = exports.rows(get_session(), today, release=True, as_of=as_of)
    return Response(
        stream_with_context(exports.iter_json(records, as_of or today)),
        mimetype="application/json",
    )


@bp.get("/listings.xlsx")
@prebuilt("xlsx")
def listings_xlsx(today: date, as_of: date | None) -> Response:
    """Rows stream into openpyxl's write-only sheet; only the compressed file is held."""
    buffer = io.BytesIO()
    exports.write_xlsx(exports.rows(get_session(), today, as_of=as_of), buffer)
    return Response(
        buffer.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=_attachment(_download_name(as_of or today, "xlsx")),
    )


@bp.get("/datapackage.json")
def datapackage():
    """The data package the follower wrote next to the files; while they are not built, one
    describing the streamed downloads (without sizes and hashes)."""
    today = rules.today()
    package = _built(today)
    built = package and _send_package()
    if built:
        return built
    return opendata.datapackage(opendata.head_now(get_session(), today), None)


def _send_package() -> Response | None:
    path = os.path.join(current_app.config["EXPORT_DIR"], opendata.PACKAGE)
    try:
        return send_file(path, mimetype="application/json", conditional=True, max_age=0)
    except FileNotFoundError:
        return None
