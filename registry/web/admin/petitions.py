"""Objections (异议) and credit-repair requests (信用修复申请) against a listing."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import gettext as _

from registry.models import Listing, Petition
from registry.services import petitions as service
from registry.web.admin.blueprint import bp
from registry.web.admin.common import form_page, history
from registry.web.admin.forms import DecidePetitionForm, PetitionForm
from registry.web.admin.pages import record_form, record_page
from registry.web.admin.policy import actor, load, requires


def _values(form: PetitionForm) -> dict[str, Any]:
    return {
        "kind": form.kind.data,
        "petitioner": form.petitioner.data,
        "contact": form.contact.data or "",
        "received_on": form.received_on.data,
        "statement": form.statement.data or "",
    }


@bp.route("/listings/<int:listing_id>/petitions/new", methods=["GET", "POST"])
@requires("record_petition")
def petition_new(listing_id: int):
    listing = load(Listing, listing_id, "record_petition")
    form = PetitionForm()
    return record_form(
        "petition",
        form,
        lambda db: service.record_petition(db, actor(), listing, **_values(form)),
        rule_errors=True,
        done=_("已登记申请。"),
        listing=listing,
    )


@bp.get("/petitions/<int:petition_id>")
@requires("read")
def petition(petition_id: int):
    record = load(Petition, petition_id)
    return record_page(
        "petition", record, DecidePetitionForm(formdata=None, version_id=record.version_id)
    )


@bp.post("/petitions/<int:petition_id>/decide")
@requires("decide_petition")
def petition_decide(petition_id: int):
    record = load(Petition, petition_id, "decide_petition")
    form = DecidePetitionForm()
    return form_page(
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
        done=_("已处理申请。"),
        saved_url=lambda _saved: url_for("admin.petition", petition_id=record.id),
        template="admin/petition.html",
        petition=record,
        events=history("petition", [record.id]),
    )
