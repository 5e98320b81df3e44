"""Objections (异议) and credit-repair requests (信用修复申请) against a listing."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from registry.database import get_session
from registry.errors import ValidationError
from registry.models import Listing, Petition
from registry.rules import RuleViolation
from registry.services import petitions as service
from registry.web.admin import bp
from registry.web.admin.common import history, save_form
from registry.web.admin.forms import DecidePetitionForm, PetitionForm, apply_errors
from registry.web.admin.policy import actor, load, requires
from registry.web.messages import error_message


@bp.route("/listings/<int:listing_id>/petitions/new", methods=["GET", "POST"])
@requires("record_petition")
def petition_new(listing_id: int):
    listing = load(Listing, listing_id, "record_petition")
    form = PetitionForm()
    if form.validate_on_submit():
        db = get_session()
        try:
            petition = service.record_petition(
                db,
                actor(),
                listing,
                kind=form.kind.data,
                petitioner=form.petitioner.data,
                contact=form.contact.data or "",
                received_on=form.received_on.data,
                statement=form.statement.data or "",
            )
        except ValidationError as exc:
            apply_errors(form, exc.errors)
        except RuleViolation as exc:
            form.form_errors.append(error_message(exc))
        else:
            db.commit()
            flash(_("已登记申请。"), "success")
            return redirect(url_for("admin.petition", petition_id=petition.id))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/petition_form.html", form=form, listing=listing), status


@bp.get("/petitions/<int:petition_id>")
@requires("read")
def petition(petition_id: int):
    record = load(Petition, petition_id)
    return render_template(
        "admin/petition.html",
        petition=record,
        form=DecidePetitionForm(formdata=None, version_id=record.version_id),
        events=history("petition", [record.id]),
    )


@bp.post("/petitions/<int:petition_id>/decide")
@requires("decide_petition")
def petition_decide(petition_id: int):
    record = load(Petition, petition_id, "decide_petition")
    form = DecidePetitionForm()
    status = 400
    if form.validate_on_submit():
        status, _saved = save_form(
            form,
            lambda db: service.decide_petition(
                db,
                actor(),
                record,
                outcome_state=form.outcome_state.data,
                outcome=form.outcome.data,
                decided_on=form.decided_on.data,
                expected_version=form.version_id.data,
            ),
            rule_errors=True,
        )
        if status == 200:
            flash(_("已处理申请。"), "success")
            return redirect(url_for("admin.petition", petition_id=record.id))
    return render_template(
        "admin/petition.html", petition=record, form=form, events=history("petition", [record.id])
    ), status
