"""Open-data downloads: `/data` and `/data/listings.csv|.json|.xlsx` (streamed)."""

from __future__ import annotations

import io

from flask import Blueprint, Response, render_template, stream_with_context

from registry import exports, rules, visibility
from registry.database import get_session
from registry.web.api import allow_cors

bp = Blueprint("data", __name__, url_prefix="/data")
bp.after_request(allow_cors)


def _disposition(on, ext: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="listings-{on.isoformat()}.{ext}"'}


@bp.get("")
@bp.get("/")
def index():
    session = get_session()
    today = rules.today()
    counts = dict(session.execute(visibility.in_force_by_list(today)).all())
    return render_template("data/index.html", counts=counts, today=today, columns=exports.COLUMNS)


@bp.get("/listings.csv")
def listings_csv():
    today = rules.today()
    records = exports.rows(get_session(), today, release=True)
    return Response(
        stream_with_context(exports.iter_csv(records)),
        mimetype="text/csv",
        headers=_disposition(today, "csv"),
    )


@bp.get("/listings.json")
def listings_json():
    today = rules.today()
    records = exports.rows(get_session(), today, release=True)
    return Response(
        stream_with_context(exports.iter_json(records, today)),
        mimetype="application/json",
    )


@bp.get("/listings.xlsx")
def listings_xlsx():
    """Rows stream into openpyxl's write-only sheet; only the compressed file is held."""
    today = rules.today()
    buffer = io.BytesIO()
    exports.write_xlsx(exports.rows(get_session(), today), buffer)
    return Response(
        buffer.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=_disposition(today, "xlsx"),
    )
