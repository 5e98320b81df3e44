"""Administrative penalty decisions (行政处罚决定)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Unpack

from sqlalchemy.orm import Session

from registry import rules, text
from registry.errors import ValidationError
from registry.messages import _
from registry.models import MEASURES, Campaign, Enterprise, Sanction
from registry.rules import Actor, check_may
from registry.services.history import record_new, recorded
from registry.services.lookups import Lookups
from registry.services.workflow import (
    StepOptions,
    check_draft_edit,
    check_step_from,
    stamp_values,
    transition,
)

EDITABLE = (
    "decision_no",
    "decided_on",
    "facts",
    "legal_basis",
    "measures",
    "fine_amount",
    "confiscated_amount",
    "campaign",
)


def _amount(value: Any, field: str, errors: dict[str, str]) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        errors[field] = _("金额格式不正确")
        return None
    if amount < 0 or amount >= Decimal("1e12"):
        errors[field] = _("金额超出范围")
    return amount


def _clean(
    values: dict[str, Any], current: Sanction | None, on: date, lookups: Lookups
) -> dict[str, Any]:
    """Check and normalise a decision's fields."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    if "decision_no" in values:
        number = text.clean_display(values["decision_no"] or "")
        canonical = text.canonical_decision_no(number)
        if len(canonical) < 4:
            errors["decision_no"] = _("请填写处罚决定书文号")
        else:
            clash = lookups.decision_holder(canonical)
            if clash is not None and clash is not current:
                errors["decision_no"] = _("该文号已登记")
        cleaned.update(decision_no=number, decision_no_canonical=canonical)
    if "decided_on" in values:
        decided_on = values["decided_on"]
        if not isinstance(decided_on, date):
            errors["decided_on"] = _("请填写处理日期")
        elif decided_on > on:
            errors["decided_on"] = _("处理日期不能晚于今天")
        cleaned["decided_on"] = decided_on
    if "measures" in values:
        measures = list(dict.fromkeys(values["measures"] or []))
        unknown = [m for m in measures if m not in MEASURES]
        if unknown:
            errors["measures"] = _("未知的处罚措施：%(measures)s", measures=", ".join(unknown))
        cleaned["measures"] = [m for m in MEASURES if m in measures]
    for field in ("fine_amount", "confiscated_amount"):
        if field in values:
            cleaned[field] = _amount(values[field], field, errors)
    measures = cleaned.get("measures", current.measures if current else [])
    fine = cleaned.get("fine_amount", current.fine_amount if current else None)
    if "fine" in measures and not fine:
        errors["fine_amount"] = _("处罚措施含罚款，请填写罚款金额")
    for field in ("facts", "legal_basis"):
        if field in values:
            cleaned[field] = (values[field] or "").strip()
    if "campaign" in values:
        if values["campaign"] is not None and not isinstance(values["campaign"], Campaign):
            errors["campaign"] = _("未知的专项行动")
        cleaned["campaign"] = values["campaign"]
    if errors:
        raise ValidationError(errors)
    return cleaned


def record_sanction(
    session: Session, actor: Actor, enterprise: Enterprise, *, on: date | None = None, **values: Any
) -> Sanction:
    """Record a penalty decision as a draft of the actor's authority."""
    on = on or rules.today()
    return record_new(session, actor, new_sanction(actor, enterprise, values, on, Lookups(session)))


def new_sanction(
    actor: Actor, enterprise: Enterprise, values: dict[str, Any], on: date, lookups: Lookups
) -> Sanction:
    """The draft decision `record_sanction` records, not yet added to a session."""
    return Sanction(enterprise=enterprise, **sanction_values(actor, values, on, lookups))


def sanction_values(
    actor: Actor, values: dict[str, Any], on: date, lookups: Lookups
) -> dict[str, Any]:
    """The checked columns (but the firm; the campaign as an object) of the draft decision
    `new_sanction` builds."""
    check_may(actor, "create", actor.authority_id)
    values = {"measures": [], "decision_no": None, "decided_on": None, **values}
    return {"authority_id": actor.authority_id, "created_by_id": actor.user_id} | _clean(
        values, None, on, lookups
    )


def update_sanction(
    session: Session,
    actor: Actor,
    sanction: Sanction,
    *,
    expected_version: int | None = None,
    on: date | None = None,
    **values: Any,
) -> Sanction:
    check_draft_edit(actor, sanction, expected_version)
    cleaned = _clean(
        {k: v for k, v in values.items() if k in EDITABLE},
        sanction,
        on or rules.today(),
        Lookups(session),
    )
    with recorded(session, actor, sanction, "update"):
        for key, value in cleaned.items():
            setattr(sanction, key, value)
    return sanction


def transition_sanction(
    session: Session, actor: Actor, sanction: Sanction, action: str, **options: Unpack[StepOptions]
) -> Sanction:
    """submit / return / publish / annul a decision (four eyes on publish)."""
    return transition(session, actor, sanction, action, change, **options)


def change(actor: Actor, sanction: Sanction, action: str, reason: str = "") -> None:
    """Check and apply a state change (submit, return, publish, annul) to the object only."""
    values = change_values(
        actor, sanction.authority_id, sanction.state, sanction.submitted_by_id, action, reason
    )
    for key, value in values.items():
        setattr(sanction, key, value)


def change_values(
    actor: Actor,
    authority_id: int,
    state: str,
    submitted_by_id: int | None,
    action: str,
    reason: str = "",
) -> dict[str, Any]:
    """`change` of a decision given as its authority, state and submitter: the columns the
    checked step sets."""
    check_may(actor, action, authority_id)
    new_state = check_step_from(
        actor, state, submitted_by_id, action, reason, rules.SANCTION_TRANSITIONS
    )
    return stamp_values(actor, action, new_state)


def submit_sanction(
    session: Session, actor: Actor, sanction: Sanction, **options: Unpack[StepOptions]
) -> Sanction:
    return transition_sanction(session, actor, sanction, "submit", **options)


def publish_sanction(
    session: Session, actor: Actor, sanction: Sanction, **options: Unpack[StepOptions]
) -> Sanction:
    return transition_sanction(session, actor, sanction, "publish", **options)
