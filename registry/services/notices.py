"""Exposure and removal notices (曝光公告 / 移出公告)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import rules
from registry.errors import ValidationError
from registry.messages import _
from registry.models import Listing, Notice
from registry.rules import Actor, RuleViolation, check_may
from registry.services.history import record_new, recorded
from registry.services.workflow import StepOptions, check_draft_edit, check_step, stamp, transition

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,118}$")


def _check_listings(actor: Actor, kind: str, listings: Sequence[Listing]) -> None:
    for listing in listings:
        if not rules.may_read(actor, listing.authority_id):
            raise RuleViolation("forbidden", _("不能引用其他机构的记录"))
        if kind == "removal" and listing.state not in ("removed", "expired", "annulled"):
            raise RuleViolation(
                "notice_listing_state",
                _("移出公告只能包含已移出的记录"),
            )


def create_notice(
    session: Session,
    actor: Actor,
    *,
    slug: str,
    title: str,
    body_md: str = "",
    kind: str = "exposure",
    listings: Sequence[Listing] = (),
) -> Notice:
    check_may(actor, "create", actor.authority_id)
    errors: dict[str, str] = {}
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        errors["slug"] = _("网址标识为3–120位小写字母、数字或连字符")
    elif session.scalar(select(Notice.id).where(Notice.slug == slug)) is not None:
        errors["slug"] = _("网址标识已被使用")
    if not title.strip():
        errors["title"] = _("请填写标题")
    if kind not in ("exposure", "removal"):
        errors["kind"] = _("未知的公告类型")
    if errors:
        raise ValidationError(errors)
    _check_listings(actor, kind, listings)
    notice = Notice(
        authority_id=actor.authority_id,
        slug=slug,
        title=title.strip(),
        body_md=body_md,
        kind=kind,
        listings=list(listings),
        created_by_id=actor.user_id,
    )
    return record_new(session, actor, notice)


def update_notice(
    session: Session,
    actor: Actor,
    notice: Notice,
    *,
    expected_version: int | None = None,
    **values: Any,
) -> Notice:
    check_draft_edit(actor, notice, expected_version)
    with recorded(session, actor, notice, "update"):
        if "title" in values:
            if not values["title"].strip():
                raise ValidationError({"title": _("请填写标题")})
            notice.title = values["title"].strip()
        if "body_md" in values:
            notice.body_md = values["body_md"]
        if "listings" in values:
            _check_listings(actor, notice.kind, values["listings"])
            notice.listings = list(values["listings"])
    return notice


def transition_notice(
    session: Session, actor: Actor, notice: Notice, action: str, **options: Unpack[StepOptions]
) -> Notice:
    """submit / return / publish a notice (four eyes on publish)."""
    return transition(session, actor, notice, action, change, **options)


def change(actor: Actor, notice: Notice, action: str, reason: str = "") -> None:
    """Check and apply a step to the object only; a notice is published only once every
    listing it names is."""
    new_state = check_step(actor, notice, action, reason, rules.NOTICE_TRANSITIONS)
    if action == "publish" and any(
        item.state in ("draft", "submitted") for item in notice.listings
    ):
        raise RuleViolation("notice_unpublished_listing", _("公告包含尚未公示的记录"))
    stamp(actor, notice, action, new_state)
