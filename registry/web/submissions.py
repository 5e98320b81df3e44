"""Public submissions: `/objections/new`, `/repairs/new`, `/tips/new` and `/track`.

No account and no JavaScript needed. Every form carries a CSRF token and a honeypot; the
services check the content, the attachments (as evidence is checked) and the rate limits
(429 with Retry-After). The answer to a submission shows the tracking number and the
access code once, and is never cached; `/track` takes both by POST (the code stays out of
addresses and logs) and shows nothing at all for a wrong pair.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.exceptions import TooManyRequests
from wtforms import SelectChoice

from registry import rules, visibility
from registry.database import get_session
from registry.errors import ValidationError
from registry.models import Authority, Listing
from registry.rules import RuleViolation
from registry.services import evidence, submissions
from registry.services.repair_rules import rule_for
from registry.web import catalogue
from registry.web.admin.forms import apply_errors
from registry.web.messages import error_message
from registry.web.submission_forms import PetitionForm, TipForm, TrackForm

bp = Blueprint("submissions", __name__)
NO_STORE = {"Cache-Control": "no-store"}


def _limits(kind: str) -> submissions.IntakeLimits:
    """The settings that bound a submission; a tip-off has its own time limits."""
    settings = current_app.config["SETTINGS"]
    days = "TIP" if kind == "tip" else "OBJECTION"
    return submissions.IntakeLimits(
        settings.SECRET_KEY,
        settings.SUBMISSIONS_PER_ADDRESS,
        settings.SUBMISSIONS_PER_TARGET,
        settings.SUBMISSION_MAX_FILES,
        settings.MAX_UPLOAD_BYTES,
        settings.EVIDENCE_DIR,
        accept_days=getattr(settings, f"{days}_ACCEPT_DAYS"),
        decide_days=getattr(settings, f"{days}_DECIDE_DAYS"),
    )


def _public_listing() -> Listing:
    """The listing of `?listing=`, when the public sees it; else 404."""
    raw = request.args.get("listing", "")
    if not raw.isdigit() or int(raw) > 2**31 - 1:
        abort(404, _("没有这条公示中的名单记录。"))
    listing = get_session().get(Listing, int(raw))
    if listing is None or not visibility.listing_is_in_force(listing, rules.today()):
        abort(404, _("没有这条公示中的名单记录。"))
    return listing


def _files(form: Any) -> list[tuple[str, bytes]]:
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    return [
        (f.filename or "", f.stream.read(limit + 1))
        for f in request.files.getlist(form.files.name)
        if f and (f.filename or f.content_length)
    ]


def _file(form: Any, intake: submissions.Intake, authority: Authority, listing: Listing | None):
    """Run the service for a valid form; the page to answer, or None for field errors."""
    if form.is_robot():
        abort(400, _("表单无效，请返回重试。"))
    intake.files = _files(form)
    db = get_session()
    try:
        submission, code = submissions.file_submission(
            db,
            intake,
            authority=authority,
            listing=listing,
            address=request.remote_addr or "",
            limits=_limits(intake.kind),
        )
    except ValidationError as exc:
        apply_errors(form, exc.errors)
        return None
    except submissions.RateLimited as exc:
        raise TooManyRequests(error_message(exc), retry_after=exc.retry_after) from None
    except evidence.UploadTooLarge as exc:
        abort(413, error_message(exc))
    except RuleViolation as exc:
        abort(404 if exc.code == "listing_not_public" else 400, error_message(exc))
    db.commit()
    page = render_template(
        "public/submission_received.html",
        submission=submission,
        code=submissions.format_code(code),
    )
    return page, 200, NO_STORE


def _petition_page(kind: str) -> ResponseReturnValue:
    listing = _public_listing()
    rule = rule_for(get_session(), listing) if kind == "repair" else None
    if kind == "repair" and rule is None:
        abort(404, _("该列入事由不适用网上信用修复。"))
    form = PetitionForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            intake = submissions.Intake(
                kind=kind,
                name=form.name.data or "",
                capacity=form.capacity.data or "",
                email=form.email.data or "",
                phone=form.phone.data or "",
                statement=form.statement.data or "",
            )
            answer = _file(form, intake, listing.authority, listing)
            if answer is not None:
                return answer
    page = render_template(
        "public/petition_form.html", form=form, kind=kind, listing=listing, rule=rule
    )
    return page, status, NO_STORE


@bp.route("/objections/new", methods=["GET", "POST"])
def objection_new() -> ResponseReturnValue:
    return _petition_page("objection")


@bp.route("/repairs/new", methods=["GET", "POST"])
def repair_new() -> ResponseReturnValue:
    return _petition_page("repair")


def _authorities() -> list[Authority]:
    return list(get_session().scalars(select(Authority).order_by(Authority.id)))


@bp.route("/tips/new", methods=["GET", "POST"])
def tip_new() -> ResponseReturnValue:
    authorities = {a.code: a for a in _authorities()}
    form = TipForm()
    form.authority.choices = [SelectChoice(code, a.name) for code, a in authorities.items()]
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            intake = submissions.Intake(
                kind="tip",
                name=form.name.data or "",
                email=form.email.data or "",
                phone=form.phone.data or "",
                statement=form.statement.data or "",
                subject_name=form.subject_name.data or "",
                subject_uscc=form.subject_uscc.data or "",
            )
            answer = _file(form, intake, authorities[form.authority.data], None)
            if answer is not None:
                return answer
    return render_template("public/tip_form.html", form=form), status, NO_STORE


@bp.route("/track", methods=["GET", "POST"])
def track() -> ResponseReturnValue:
    form = TrackForm()
    found = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            found = submissions.track(get_session(), form.number.data, form.code.data)
            status = 200 if found is not None else 404
    page = render_template(
        "public/track.html", form=form, submission=found, searched=request.method == "POST"
    )
    return page, status, NO_STORE


def repairable_ground_ids() -> frozenset[int]:
    """Grounds whose listings may be repaired online (for the links on a firm's page)."""
    return catalogue.get(get_session()).repairable_ground_ids


@bp.app_template_filter("shanghai_day")
def shanghai_day(value: datetime | None) -> str:
    return rules.today(value).isoformat() if value is not None else ""


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(repairable_ground_ids)
