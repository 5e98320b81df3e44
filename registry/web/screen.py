"""`/screen`: check a file of counterparties against the lists; nothing is kept.

GET shows the upload form; POST reads the file (CSV or XLSX, up to 10,000 rows), screens
every row (registry.screening.batch) and answers the report as a page, a CSV or an XLSX,
as chosen on the form. The file and the report live only in this request. A file that
cannot be screened is a 400 with the reason on the form, decided before any screening;
rows with problems get a message with their row number in the report.

The page is streamed: the form and a progress bar first, a further progress step after
every PROGRESS_EVERY rows, then the report. Each step is a new element of one status
region, of which the CSS shows the latest, so the progress needs no script and no job
state outside this request; `X-Accel-Buffering: no` keeps nginx from holding the steps
back. The report carries its own table, signed with the app's secret, so its CSV or XLSX
is downloaded as shown, without the file being uploaded or screened again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from flask import (
    Blueprint,
    Response,
    current_app,
    get_template_attribute,
    render_template,
    request,
    stream_with_context,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup

from registry.database import get_session
from registry.imports.parse import ParsedFile
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
PROGRESS_EVERY = 250
# Where the streamed parts go in the rendered page; escaping keeps it out of user text.
_SLOT = "<!--screen-stream-->"
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
    if output == "html":
        return _streamed(parsed, threshold)
    rows = batch.screen(index, parsed, threshold)
    lists = lists_in_force(session, {r.best.enterprise_id for r in rows if r.best})
    return _download(batch.table(rows, lists, localize), output)


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SETTINGS"].SECRET_KEY, salt="screen-report")


def _download(cells: list[list[str]], output: str) -> Response:
    body = batch.write_csv(cells) if output == "csv" else batch.write_xlsx(cells)
    response = Response(body, mimetype=_TYPES[output])
    response.headers["Content-Disposition"] = f'attachment; filename="screening.{output}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _report(rows: list[batch.ScreenRow], threshold: float) -> str:
    lists = lists_in_force(get_session(), {r.best.enterprise_id for r in rows if r.best})
    return render_template(
        "public/_screen_report.html",
        rows=rows,
        lists=lists,
        threshold=threshold,
        localize=localize,
        watch=batch.watch_lists(rows, lists),
        flagged=sum(1 for r in rows if r.best and r.best.match and lists.get(r.best.enterprise_id)),
        signed=_signer().dumps(batch.table(rows, lists, localize)),
    )


def _streamed(parsed: ParsedFile, threshold: float) -> Response:
    """The report page, sent as the rows are screened (see the module's docstring)."""
    total = len(parsed.rows)
    page = render_template(
        "public/screen.html",
        threshold=threshold,
        format="html",
        max_rows=batch.MAX_ROWS,
        total=total,
        slot=Markup(_SLOT),  # nosec B704 - a constant of ours, not user text
    )
    head, between, tail = page.split(_SLOT)
    step = get_template_attribute("public/_screen_progress.html", "progress")

    def parts() -> Iterator[str]:
        yield head
        rows: list[batch.ScreenRow] = []
        try:
            for row in batch.screen_rows(indexing.get_index(), parsed, threshold):
                rows.append(row)
                if len(rows) % PROGRESS_EVERY == 0 or len(rows) == total:
                    yield step(len(rows), total, finishing=len(rows) == total)
            report = _report(rows, threshold)
            yield step(total, total)
        except Exception:  # the status line is sent: the page must say the report is missing
            current_app.logger.exception("screening a file stopped after %d rows", len(rows))
            report = render_template("public/_screen_failed.html")
        yield between
        yield report
        yield tail

    response = Response(stream_with_context(parts()), mimetype="text/html")
    response.headers["X-Accel-Buffering"] = "no"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/screen/download")
def download() -> ResponseReturnValue:
    """A report page's table as CSV or XLSX, as it was shown: the page carries it signed."""
    output = request.form.get("format", "")
    try:
        cells = _signer().loads(request.form.get("report", ""))
    except BadSignature:
        cells = None
    if output not in ("csv", "xlsx") or not isinstance(cells, list):
        return _form(_("报告无法下载：请重新上传文件筛查"), 400)
    return _download(cells, output)


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
