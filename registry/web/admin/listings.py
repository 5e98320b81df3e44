"""List entries (名单记录): create, edit, workflow (submit, publish, return, remove, annul)."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from sqlalchemy import select
from wtforms import SelectChoice

from registry import rules
from registry.database import get_session
from registry.models import Enterprise, Ground, Listing, Petition, Sanction
from registry.services import listings as service
from registry.services.worklists import linkable_sanctions
from registry.web.admin.blueprint import bp
from registry.web.admin.campaigns import campaign_choices, chosen_campaign
from registry.web.admin.common import register_transitions, workflow_verbs
from registry.web.admin.forms import ListingForm
from registry.web.admin.pages import edit_form, record_form, record_page
from registry.web.admin.policy import actor, load, requires


def _listing_form(enterprise: Enterprise, **kwargs) -> ListingForm:
    """Grounds come from the catalogue (active ones); decisions from this firm, own authority."""
    db = get_session()
    form = ListingForm(**kwargs)
    grounds = db.scalars(
        select(Ground).where(Ground.active.is_(True)).order_by(Ground.position, Ground.code)
    ).all()
    form.ground.choices = [SelectChoice(g.id, f"{g.code} {g.title}") for g in grounds]
    sanctions = linkable_sanctions(db, actor(), enterprise)
    form.sanction.choices = [SelectChoice(0, _("（无）"))] + [
        SelectChoice(s.id, f"{s.decision_no}（{s.decided_on.isoformat()}）") for s in sanctions
    ]
    form.campaign_id.choices = campaign_choices()
    return form


def _values(form: ListingForm) -> dict:
    db = get_session()
    return {
        "ground": db.get(Ground, form.ground.data),
        "decided_on": form.decided_on.data,
        "sanction": db.get(Sanction, form.sanction.data) if form.sanction.data else None,
        "facts": form.facts.data or "",
        "source_expires_on": form.source_expires_on.data,
        "campaign": chosen_campaign(form.campaign_id.data),
    }


@bp.route("/enterprises/<int:enterprise_id>/listings/new", methods=["GET", "POST"])
@requires("create")
def listing_new(enterprise_id: int):
    enterprise = load(Enterprise, enterprise_id, shared=True)
    form = _listing_form(enterprise)
    return record_form(
        "listing",
        form,
        lambda db: service.create_listing(db, actor(), enterprise, **_values(form)),
        rule_errors=True,
        done=_("已新建名单记录（草稿）。"),
        enterprise=enterprise,
    )


@bp.get("/listings/<int:listing_id>")
@requires("read")
def listing(listing_id: int):
    record = load(Listing, listing_id)
    today = rules.today()
    return record_page(
        "listing",
        record,
        deadline=rules.listing_deadline(record.decided_on),
        overdue=rules.is_overdue(record.decided_on, record.listed_on, today),
        effective_state=rules.effective_state(record, today),
        petitions=get_session()
        .scalars(select(Petition).where(Petition.listing_id == record.id).order_by(Petition.id))
        .all(),
    )


@bp.route("/listings/<int:listing_id>/edit", methods=["GET", "POST"])
@requires("edit")
def listing_edit(listing_id: int):
    record = load(Listing, listing_id, "edit")
    form = _listing_form(record.enterprise, obj=record if request.method == "GET" else None)
    if request.method == "GET":
        form.ground.data = record.ground_id
        form.sanction.data = record.sanction_id or 0
        form.campaign_id.data = record.campaign_id or 0
    return edit_form(
        "listing",
        form,
        record,
        service.update_listing,
        _values,
        rule_errors=True,
        enterprise=record.enterprise,
    )


register_transitions(
    "listing",
    Listing,
    workflow_verbs(
        service,
        "listing",
        ("submit", "return", "publish", "remove", "annul"),
        remove=lambda form: {
            "report_filed_on": form.report_filed_on.data,
            "filing_confirmed": bool(form.filing_confirmed.data),
        },
    ),
    "/listings",
    "admin.listing",
)
