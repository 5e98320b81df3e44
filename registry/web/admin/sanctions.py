"""Penalty decisions (行政处罚决定): create, edit, workflow."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _

from registry.models import Enterprise, Sanction
from registry.services import sanctions as service
from registry.web.admin.blueprint import bp
from registry.web.admin.campaigns import campaign_choices, chosen_campaign
from registry.web.admin.common import register_transitions, transition_verbs
from registry.web.admin.forms import SanctionForm
from registry.web.admin.pages import edit_form, record_form, record_page
from registry.web.admin.policy import actor, load, requires


def _values(form: SanctionForm) -> dict:
    return {
        "decision_no": form.decision_no.data,
        "decided_on": form.decided_on.data,
        "facts": form.facts.data or "",
        "legal_basis": form.legal_basis.data or "",
        "measures": form.measures.data or [],
        "fine_amount": form.fine_amount.data or None,
        "confiscated_amount": form.confiscated_amount.data or None,
        "campaign": chosen_campaign(form.campaign_id.data),
    }


def _sanction_form(**kwargs) -> SanctionForm:
    form = SanctionForm(**kwargs)
    form.campaign_id.choices = campaign_choices()
    return form


@bp.route("/enterprises/<int:enterprise_id>/sanctions/new", methods=["GET", "POST"])
@requires("create")
def sanction_new(enterprise_id: int):
    enterprise = load(Enterprise, enterprise_id, shared=True)
    form = _sanction_form()
    return record_form(
        "sanction",
        form,
        lambda db: service.record_sanction(db, actor(), enterprise, **_values(form)),
        done=_("已登记处罚决定（草稿）。"),
        enterprise=enterprise,
    )


@bp.get("/sanctions/<int:sanction_id>")
@requires("read")
def sanction(sanction_id: int):
    return record_page("sanction", load(Sanction, sanction_id))


@bp.route("/sanctions/<int:sanction_id>/edit", methods=["GET", "POST"])
@requires("edit")
def sanction_edit(sanction_id: int):
    record = load(Sanction, sanction_id, "edit")
    form = _sanction_form(obj=record if request.method == "GET" else None)
    if request.method == "GET":
        form.campaign_id.data = record.campaign_id or 0
    return edit_form(
        "sanction", form, record, service.update_sanction, _values, enterprise=record.enterprise
    )


register_transitions(
    "sanction",
    Sanction,
    transition_verbs(service.transition_sanction, ("submit", "return", "publish", "annul")),
    "/sanctions",
    "admin.sanction",
)
