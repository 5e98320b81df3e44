"""Penalty decisions (行政处罚决定): create, edit, workflow."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext as _

from registry.models import Enterprise, Sanction
from registry.services import sanctions as service
from registry.web.admin.blueprint import bp
from registry.web.admin.campaigns import campaign_choices, chosen_campaign
from registry.web.admin.common import form_page, history, register_transitions, workflow_verbs
from registry.web.admin.forms import SanctionForm, WorkflowForm
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
    return form_page(
        form,
        lambda db: service.record_sanction(db, actor(), enterprise, **_values(form)),
        done=_("已登记处罚决定（草稿）。"),
        saved_url=lambda sanction: url_for("admin.sanction", sanction_id=sanction.id),
        template="admin/sanction_form.html",
        enterprise=enterprise,
        sanction=None,
    )


@bp.get("/sanctions/<int:sanction_id>")
@requires("read")
def sanction(sanction_id: int):
    record = load(Sanction, sanction_id)
    return render_template(
        "admin/sanction.html",
        sanction=record,
        form=WorkflowForm(formdata=None, version_id=record.version_id),
        events=history("sanction", [record.id]),
    )


@bp.route("/sanctions/<int:sanction_id>/edit", methods=["GET", "POST"])
@requires("edit")
def sanction_edit(sanction_id: int):
    record = load(Sanction, sanction_id, "edit")
    form = _sanction_form(obj=record if request.method == "GET" else None)
    if request.method == "GET":
        form.campaign_id.data = record.campaign_id or 0
    return form_page(
        form,
        lambda db: service.update_sanction(
            db, actor(), record, expected_version=form.version_id.data, **_values(form)
        ),
        done=_("已保存。"),
        saved_url=lambda _saved: url_for("admin.sanction", sanction_id=record.id),
        template="admin/sanction_form.html",
        enterprise=record.enterprise,
        sanction=record,
    )


register_transitions(
    "sanction",
    Sanction,
    workflow_verbs(service, "sanction", ("submit", "return", "publish", "annul")),
    "/sanctions",
    "admin.sanction",
)
