"""The catalogue of credit repair rules (信用修复规则): seeded from repair_rules.toml,
changed by the ministry's admins with an Event."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.messages import _
from registry.models import Ground, Listing, RepairRule
from registry.rules import Actor, check_national
from registry.services.history import check_version, record_new, recorded

MAX_DAYS = 365


def load_seed_rules() -> list[dict[str, Any]]:
    text = resources.files("registry").joinpath("repair_rules.toml").read_text("utf-8")
    rules: list[dict[str, Any]] = tomllib.loads(text)["rule"]
    return rules


def seed_rules(session: Session, actor: Actor) -> int:
    """Add the seed rule of every ground that has none; never overwrite an admin's change."""
    grounds = {g.code: g for g in session.scalars(select(Ground))}
    covered = set(session.scalars(select(RepairRule.ground_id)))
    added = 0
    for row in load_seed_rules():
        ground = grounds.get(row["ground"])
        if ground is None or ground.id in covered:
            continue
        rule = RepairRule(
            ground=ground,
            proof=row.get("proof", ""),
            accept_days=row.get("accept_days", 3),
            decide_days=row.get("decide_days", 7),
            active=True,
        )
        record_new(session, actor, rule, "seed")
        added += 1
    return added


def rule_for(session: Session, listing: Listing) -> RepairRule | None:
    """The active repair rule of the listing's ground, or None (not repairable online)."""
    rule = session.scalar(select(RepairRule).where(RepairRule.ground_id == listing.ground_id))
    return rule if rule is not None and rule.active else None


def _check_days(errors: dict[str, str], name: str, value: Any) -> None:
    if not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        errors[name] = _("天数须在 1 到 %(max)d 之间", max=MAX_DAYS)


def save_rule(
    session: Session,
    actor: Actor,
    ground: Ground,
    *,
    proof: str,
    accept_days: int,
    decide_days: int,
    active: bool,
    expected_version: int | None = None,
) -> RepairRule:
    """Create or change the repair rule of a ground (the ministry's admins)."""
    check_national(actor, "manage_catalogue")
    errors: dict[str, str] = {}
    _check_days(errors, "accept_days", accept_days)
    _check_days(errors, "decide_days", decide_days)
    if active and not (proof or "").strip():
        errors["proof"] = _("请说明需要提交的证明材料")
    if errors:
        raise ValidationError(errors)
    values = {
        "proof": (proof or "").strip(),
        "accept_days": accept_days,
        "decide_days": decide_days,
        "active": bool(active),
    }
    rule = session.scalar(select(RepairRule).where(RepairRule.ground_id == ground.id))
    if rule is None:
        return record_new(session, actor, RepairRule(ground=ground, **values))
    check_version(rule, expected_version)
    with recorded(session, actor, rule, "update"):
        for key, value in values.items():
            setattr(rule, key, value)
    return rule
