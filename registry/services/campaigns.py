"""The catalogue of enforcement campaigns (专项行动): kept by the ministry's admins, with an
Event for every change. Sanctions and listings name a campaign by its id; forms, the import
and URLs find it by slug or name."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry import text
from registry.campaigns import is_slug
from registry.errors import ValidationError
from registry.messages import _
from registry.models import Authority, Campaign
from registry.rules import Actor, check_national
from registry.services.history import check_version, flush, record_event, snapshot

FIELDS = ("name", "starts_on", "ends_on", "lead_authority_id", "legal_basis", "description")


def name_key(value: str) -> str:
    """How names are compared: NFKC, simplified, without spaces."""
    return text.normalize(value).replace(" ", "")


def _check_name(
    session: Session, name: str, current: Campaign | None, errors: dict[str, Any]
) -> None:
    if not name or len(name) > 200:
        errors["name"] = _("名称为1–200个字符")
        return
    for other_id, other in session.execute(select(Campaign.id, Campaign.name)):
        if name_key(other) == name_key(name) and (current is None or other_id != current.id):
            errors["name"] = _("已有同名专项行动")


def _clean(session: Session, values: dict[str, Any], current: Campaign | None) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    cleaned = {key: values[key] for key in FIELDS if key in values}
    if "name" in cleaned:
        cleaned["name"] = text.clean_display(cleaned["name"] or "")
        _check_name(session, cleaned["name"], current, errors)
    for key in ("legal_basis", "description"):
        if key in cleaned:
            cleaned[key] = (cleaned[key] or "").strip()
    if len(cleaned.get("legal_basis", "")) > 200:
        errors["legal_basis"] = _("依据或通知文号不超过200个字符")
    starts_on = cleaned.get("starts_on", current.starts_on if current else None)
    ends_on = cleaned.get("ends_on", current.ends_on if current else None)
    if not isinstance(starts_on, date):
        errors["starts_on"] = _("请填写开始日期")
    elif ends_on is not None and (not isinstance(ends_on, date) or ends_on < starts_on):
        errors["ends_on"] = _("结束日期不能早于开始日期")
    if "lead_authority_id" in cleaned or current is None:
        lead = cleaned.get("lead_authority_id")
        if not isinstance(lead, int) or session.get(Authority, lead) is None:
            errors["lead_authority_id"] = _("请选择牵头机构")
    if errors:
        raise ValidationError(errors)
    return cleaned


def save_campaign(
    session: Session,
    actor: Actor,
    campaign: Campaign | None,
    *,
    expected_version: int | None = None,
    **values: Any,
) -> Campaign:
    """Create (campaign=None, with a slug) or change a catalogue row (ministry admins).

    The slug is part of public URLs and import files, so it is fixed once created."""
    check_national(actor, "manage_catalogue")
    if campaign is None:
        slug = str(values.pop("slug", "") or "").strip().lower()
        errors: dict[str, Any] = {}
        if not is_slug(slug):
            errors["slug"] = _("标识为小写字母、数字和连字符，不超过60个字符")
        elif session.scalar(select(func.count()).where(Campaign.slug == slug)):
            errors["slug"] = _("标识已存在")
        try:
            cleaned = _clean(session, values, None)
        except ValidationError as exc:
            raise ValidationError(errors | exc.errors) from None
        if errors:
            raise ValidationError(errors)
        campaign = Campaign(slug=slug, **cleaned)
        session.add(campaign)
        flush(session)
        record_event(session, actor, campaign, "create")
        return campaign
    cleaned = _clean(session, values, campaign)
    check_version(campaign, expected_version)
    before = snapshot(campaign)
    for key, value in cleaned.items():
        setattr(campaign, key, value)
    flush(session)
    record_event(session, actor, campaign, "update", before=before)
    return campaign


def find_campaign(session: Session, campaign_id: int | None) -> Campaign | None:
    """The campaign a form or service names by id (None for none); unknown ids are errors."""
    if campaign_id is None:
        return None
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise ValidationError({"campaign_id": _("未知的专项行动")})
    return campaign
