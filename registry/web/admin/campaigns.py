"""The catalogue of enforcement campaigns (专项行动目录): national, so only the ministry's
admins change it (each change an Event); clerks pick a campaign on sanctions and listings."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectChoice

from registry.database import get_session
from registry.models import Authority, Campaign
from registry.services import campaigns as service
from registry.web.admin.blueprint import bp
from registry.web.admin.common import catalogue_pages
from registry.web.admin.forms import CampaignForm
from registry.web.admin.policy import requires

FIELDS = ("name", "starts_on", "ends_on", "lead_authority_id", "legal_basis", "description")


def campaign_choices() -> list[SelectChoice]:
    """For the campaign select of sanction and listing forms: none (0), then newest first."""
    rows = get_session().execute(
        select(Campaign.id, Campaign.name).order_by(Campaign.starts_on.desc(), Campaign.id)
    )
    return [SelectChoice(0, _("（无）"))] + [SelectChoice(i, name) for i, name in rows]


def chosen_campaign(campaign_id: int | None) -> Campaign | None:
    return get_session().get(Campaign, campaign_id) if campaign_id else None


@bp.get("/campaigns")
@requires("read")
def campaigns():
    items = get_session().scalars(select(Campaign).order_by(Campaign.starts_on.desc())).all()
    return render_template("admin/campaigns.html", items=items)


def _form(campaign: Campaign | None) -> CampaignForm:
    form = CampaignForm(obj=campaign if request.method == "GET" else None)
    authorities = get_session().execute(
        select(Authority.id, Authority.name).order_by(Authority.level.desc(), Authority.code)
    )
    form.lead_authority_id.choices = [SelectChoice(i, name) for i, name in authorities]
    if campaign is not None:  # the slug is in public URLs: fixed once created
        del form.slug
    return form


def _values(form: CampaignForm, campaign: Campaign | None) -> dict[str, Any]:
    values = {name: getattr(form, name).data for name in FIELDS}
    if campaign is None:
        values["slug"] = form.slug.data or ""
    return values


catalogue_pages(
    "campaign",
    Campaign,
    _form,
    _values,
    service.save_campaign,
    done=lambda saved: _("已保存专项行动“%(name)s”。", name=saved.name),
    ministry_only=_l("专项行动目录由工业和信息化部维护。"),
)
