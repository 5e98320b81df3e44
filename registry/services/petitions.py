"""Objections (异议) and credit-repair requests (信用修复申请) against a listing."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from registry import rules
from registry.errors import ValidationError
from registry.messages import _
from registry.models import Listing, Petition
from registry.rules import Actor, RuleViolation, check_may
from registry.services.history import check_change, record_new, recorded

PETITION_KINDS = ("objection", "credit_repair")
OUTCOMES = ("upheld", "rejected", "withdrawn")


def record_petition(
    session: Session,
    actor: Actor,
    listing: Listing,
    *,
    kind: str,
    petitioner: str,
    received_on: date,
    statement: str = "",
    contact: str = "",
    on: date | None = None,
) -> Petition:
    """Record a petition received by the listing's authority."""
    check_may(actor, "record_petition", listing.authority_id)
    on = on or rules.today()
    errors: dict[str, str] = {}
    if kind not in PETITION_KINDS:
        errors["kind"] = _("请选择异议或信用修复")
    if not petitioner.strip():
        errors["petitioner"] = _("请填写申请人")
    if not isinstance(received_on, date) or received_on > on:
        errors["received_on"] = _("收到日期不能晚于今天")
    if errors:
        raise ValidationError(errors)
    if listing.state not in ("submitted", "published"):
        raise RuleViolation(
            "petition_state",
            _("只能对已提交或已公示的记录提出申请"),
        )
    petition = Petition(
        authority_id=listing.authority_id,
        listing=listing,
        kind=kind,
        petitioner=petitioner.strip(),
        contact=contact.strip(),
        received_on=received_on,
        statement=statement.strip(),
        recorded_by_id=actor.user_id,
    )
    return record_new(session, actor, petition)


def decide_petition(
    session: Session,
    actor: Actor,
    petition: Petition,
    *,
    outcome_state: str,
    outcome: str,
    decided_on: date | None = None,
    expected_version: int | None = None,
) -> Petition:
    """A reviewer decides: upheld (then remove or annul the listing separately, each with
    its Event), rejected, or withdrawn by the petitioner."""
    check_change(actor, petition, "decide_petition", expected_version)
    if petition.state != "received":
        raise RuleViolation("petition_decided", _("该申请已处理"))
    if outcome_state not in OUTCOMES:
        raise ValidationError({"outcome_state": _("请选择处理结果")})
    if not outcome.strip():
        raise ValidationError({"outcome": _("请填写处理意见")})
    decided_on = decided_on or rules.today()
    if decided_on < petition.received_on:
        raise ValidationError({"decided_on": _("处理日期早于收到日期")})
    with recorded(session, actor, petition, "decide", reason=outcome.strip()):
        petition.state = outcome_state
        petition.outcome = outcome.strip()
        petition.decided_on = decided_on
        petition.decided_by_id = actor.user_id
    return petition
