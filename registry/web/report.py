"""The firm report (`/enterprises/<uscc>/report`, `.pdf`, `.json`) and its verification
(`/verify/<report-number>`, and `/verify` to check an uploaded PDF or JSON). Building and
checking are registry/report.py's; the PDF is registry/reportpdf.py's."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select

from registry import report, reportpdf, rules, text
from registry.database import get_session
from registry.db import utcnow
from registry.models import Enterprise
from registry.web.api import base_url
from registry.web.log import signing_key

bp = Blueprint("report", __name__)

MAX_UPLOAD = 5 * 1024 * 1024
_NUMBER_IN_PDF = re.compile(rb"[0-9A-Z]{18}-[0-9]{1,12}-[0-9]{14}-[0-9a-f]{12}")


def verify_url(number: str) -> str:
    return f"{base_url()}/verify/{number}"


def _firm(uscc: str) -> Enterprise:
    firm = session_firm(text.canonical_uscc(uscc)[:18])
    if firm is None:
        abort(404, description=_("未找到该经营者。"))
    return firm


def session_firm(uscc: str) -> Enterprise | None:
    return get_session().scalar(select(Enterprise).where(Enterprise.uscc == uscc))


def _document(uscc: str) -> dict[str, Any]:
    """The report named by `?number=` (rebuilt from the log), or a new one made now."""
    firm = _firm(uscc)
    session = get_session()
    number = request.args.get("number")
    if number is not None:
        document = report.rebuild(session, signing_key(), number[:100])
        if document is None or document["firm"]["uscc"] != firm.uscc:
            abort(404, description=_("没有这个编号的报告。"))
    else:
        document = report.current(session, signing_key(), firm, utcnow())
        if document is None:
            abort(404, description=_("该经营者目前没有公示中的记录。"))
    return document | {"verify_url": verify_url(document["report_number"])}


@bp.get("/enterprises/<uscc>/report")
def page(uscc: str):
    document = _document(uscc)
    return render_template(
        "public/report.html", report=document, labels=reportpdf, qr=_qr_svg(document)
    )


@bp.get("/enterprises/<uscc>/report.json")
def as_json(uscc: str):
    return _document(uscc)


@bp.get("/enterprises/<uscc>/report.pdf")
def as_pdf(uscc: str):
    document = _document(uscc)
    body = reportpdf.render(document, document["verify_url"])
    name = f"report-{document['report_number']}.pdf"
    return Response(
        body,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


def _qr_svg(document: dict[str, Any]) -> str:
    import segno

    return segno.make(document["verify_url"], error="m").svg_inline(scale=3)


@bp.get("/verify/<number>")
def verify_number(number: str):
    """Re-check a report against the log: does the log still give this report?"""
    session = get_session()
    document = report.rebuild(session, signing_key(), number[:100])
    if document is None:
        page = render_template(
            "public/verify.html", form=UploadForm(), verdict=None, number=number[:100]
        )
        return page, 404
    verdict = report.verify(session, signing_key(), document, rules.today())
    return render_template("public/verify.html", form=UploadForm(), verdict=verdict, number=number)


class UploadForm(FlaskForm):
    report = FileField(validators=[FileRequired()])


@bp.route("/verify", methods=["GET", "POST"])
def verify_upload():
    """A verifier form: an uploaded report (its PDF or its JSON twin) is genuine, changed,
    or superseded by later entries."""
    form = UploadForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("public/verify.html", form=form, verdict=None), status
    data = form.report.data.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        abort(413)
    verdict = check_upload(data)
    number = verdict.report["report_number"] if verdict.report else None
    return render_template("public/verify.html", form=form, verdict=verdict, number=number)


def check_upload(data: bytes) -> report.Verdict:
    """The verdict on an uploaded file: a PDF is rebuilt from the number it carries and
    compared byte for byte; a JSON report is rebuilt and compared field by field."""
    session = get_session()
    key = signing_key()
    if data.startswith(b"%PDF"):
        found = _NUMBER_IN_PDF.search(data)
        rebuilt = report.rebuild(session, key, found.group().decode()) if found else None
        if rebuilt is None:
            return report.Verdict("unknown", False, ("no such report",), None)
        same = reportpdf.render(rebuilt, verify_url(rebuilt["report_number"])) == data
        verdict = report.verify(session, key, rebuilt, rules.today())
        return verdict if same else report.Verdict("changed", False, (), rebuilt)
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return report.Verdict("unknown", False, ("not a report",), None)
    return report.verify(session, key, document, rules.today())
