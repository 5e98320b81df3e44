"""`/screen`: check a file of counterparties against the lists; nothing is kept.

GET shows the upload form; POST reads the file (CSV or XLSX, up to 10,000 rows), screens
every row (registry.screening.batch) and answers the report as a page, a CSV or an XLSX,
as chosen on the form. The file and the report live only in this request. A file that
cannot be screened is a 400 with the reason on the form; rows with problems get a message
with their row number in the report.
"""

from __future__ import annotations

import math

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from registry.database import get_session
from registry.screening import batch
from registry.screening.match import DEFAULT_THRESHOLD
from registry.services.watchlists import MAX_FIRMS
from registry.web import indexing, watchlists
from registry.web.cache import event_counter
from registry.web.match import lists_in_force
from registry.web.messages import localize

bp = Blueprint("screen", __name__)
FORMATS = ("html", "csv", "xlsx")
SCOPES = ("matched", "all")
MAX_LINE_CHARS = 200  # a USCC or a firm's name, as the upload's cells are cut
_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _form(error: str | None = None, status: int = 200, **values) -> tuple[str, int]:
    context = {
        "error": error,
        "threshold": DEFAULT_THRESHOLD,
        "format": "html",
        "max_rows": batch.MAX_ROWS,
    }
    return render_template("public/screen.html", **(context | values)), status


def _threshold() -> float | None:
    raw = (request.form.get("threshold") or "").strip()
    if not raw:
        return DEFAULT_THRESHOLD
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 <= value <= 1 else None


@bp.get("/screen")
def form():
    return _form()[0]


@bp.post("/screen")
def screen():
    output = request.form.get("format") or "html"
    threshold = _threshold()
    if output not in FORMATS or threshold is None:
        return _form(_("阈值须为 0 到 1 之间的数，格式须为网页、CSV 或 XLSX"), 400)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _form(_("请选择要筛查的 CSV 或 XLSX 文件"), 400, threshold=threshold, format=output)
    try:
        parsed = batch.read(upload.read(), upload.filename)
    except batch.ScreenFileError as exc:
        return _form(localize(exc.message), 400, threshold=threshold, format=output)
    session = get_session()
    index = indexing.get_index()
    index.refresh_to(event_counter(session))
    rows = batch.screen(index, parsed, threshold)
    lists = lists_in_force(session, {r.best.enterprise_id for r in rows if r.best})
    if output == "html":
        return render_template(
            "public/screen.html",
            rows=rows,
            lists=lists,
            threshold=threshold,
            format=output,
            max_rows=batch.MAX_ROWS,
            localize=localize,
            watch=batch.watch_lists(rows, lists),
            flagged=sum(
                1 for r in rows if r.best and r.best.match and lists.get(r.best.enterprise_id)
            ),
        )
    cells = batch.table(rows, lists, localize)
    body = batch.write_csv(cells) if output == "csv" else batch.write_xlsx(cells)
    response = Response(body, mimetype=_TYPES[output])
    response.headers["Content-Disposition"] = f'attachment; filename="screening.{output}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/screen/watchlist")
def save() -> ResponseReturnValue:
    """Save a report's firms as a new watchlist: the report page carries both firm lists
    (bounded here, as no upload is kept to re-read) and the subscriber's fields; the rest is
    `/watchlists/new`'s own path."""
    values = {name: request.form.get(name, "") for name in ("url", "email")}
    scope = request.form.get("scope", "")
    firms = request.form.get(f"firms_{scope}", "") if scope in SCOPES else ""
    lines = firms.splitlines()
    error = None
    if scope not in SCOPES:
        error = _("请选择要关注的经营者：匹配的经营者或全部行")
    elif len(lines) > MAX_FIRMS or any(len(line) > MAX_LINE_CHARS for line in lines):
        error = _("最多关注 %(n)s 个经营者，每行不超过 %(m)s 个字符", n=MAX_FIRMS, m=MAX_LINE_CHARS)
    if error:
        page = render_template(
            "public/watchlist_new.html", values=values | {"firms": ""}, errors={"firms": error}
        )
        return page, 400, watchlists.HEADERS
    return watchlists.create(values | {"firms": firms}, request.form.get("secret", ""))
