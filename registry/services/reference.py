"""Reference data: authorities and the catalogue of listing grounds."""

from __future__ import annotations

import csv
import tomllib
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import NotFoundError, ValidationError
from registry.messages import _
from registry.models import REMOVAL_RULES, TERM_KINDS, Authority, Ground
from registry.rules import Actor, check_national
from registry.services.history import check_version, flush, record_event, snapshot


def load_seed_grounds() -> list[dict[str, Any]]:
    data = tomllib.loads(resources.files("registry").joinpath("grounds.toml").read_text("utf-8"))
    grounds: list[dict[str, Any]] = data["ground"]
    return grounds


def load_seed_authorities() -> list[dict[str, str]]:
    text = resources.files("registry").joinpath("data/authorities.csv").read_text("utf-8-sig")
    return list(csv.DictReader(text.splitlines()))


def seed(session: Session, actor: Actor) -> dict[str, int]:
    """Insert missing authorities and grounds; never overwrite what an admin changed."""
    added = {"authorities": 0, "grounds": 0}
    by_code = {a.code: a for a in session.scalars(select(Authority))}
    rows = load_seed_authorities()
    for row in rows:
        if row["code"] not in by_code:
            authority = Authority(
                code=row["code"], name=row["name"], short=row["short"], level=row["level"]
            )
            session.add(authority)
            by_code[row["code"]] = authority
            added["authorities"] += 1
    session.flush()
    for row in rows:
        if row["parent"] and by_code[row["code"]].parent_id is None:
            by_code[row["code"]].parent_id = by_code[row["parent"]].id
    existing = set(session.scalars(select(Ground.code)))
    for position, row in enumerate(load_seed_grounds()):
        if row["code"] in existing:
            continue
        ground = Ground(
            code=row["code"],
            list_code=row["list"],
            title=row["title"],
            legal_basis=row.get("legal_basis", ""),
            term_kind=row["term_kind"],
            term_months=row.get("term_months"),
            removal_rule=row["removal_rule"],
            removal_note=row.get("removal_note", ""),
            position=position,
        )
        session.add(ground)
        session.flush()
        record_event(session, actor, ground, "seed")
        added["grounds"] += 1
    session.flush()
    from registry.services.repair_rules import seed_rules

    added["repair_rules"] = seed_rules(session, actor)
    session.flush()
    return added


def authority_by_code(session: Session, code: str) -> Authority:
    authority = session.scalar(select(Authority).where(Authority.code == code.strip().upper()))
    if authority is None:
        raise NotFoundError(_("未知的电信管理机构代码：%(code)s", code=repr(code)))
    return authority


def ground_by_code(session: Session, code: str) -> Ground:
    ground = session.scalar(select(Ground).where(Ground.code == code.strip().upper()))
    if ground is None:
        raise NotFoundError(_("未知的列入事由：%(code)s", code=repr(code)))
    return ground


GROUND_FIELDS = (
    "title",
    "legal_basis",
    "term_kind",
    "term_months",
    "removal_rule",
    "removal_note",
    "active",
)


def save_ground(
    session: Session,
    actor: Actor,
    ground: Ground | None,
    *,
    expected_version: int | None = None,
    **values: Any,
) -> Ground:
    """Create (ground=None, with code and list) or change a catalogue row (admin only)."""
    check_national(actor, "manage_catalogue")
    errors: dict[str, str] = {}
    if values.get("term_kind", ground.term_kind if ground else None) not in TERM_KINDS:
        errors["term_kind"] = _("未知的期限类型")
    if values.get("removal_rule", ground.removal_rule if ground else None) not in REMOVAL_RULES:
        errors["removal_rule"] = _("未知的移出规则")
    term_kind = values.get("term_kind", ground.term_kind if ground else None)
    term_months = values.get("term_months", ground.term_months if ground else None)
    if term_kind == "fixed" and (not isinstance(term_months, int) or term_months <= 0):
        errors["term_months"] = _("固定期限须为正的月数")
    if term_kind != "fixed":
        values["term_months"] = None
    if ground is None:
        code = str(values.pop("code", "")).strip().upper()
        list_code = values.pop("list_code", "")
        if not code or len(code) > 10:
            errors["code"] = _("代码为1–10个字符")
        elif session.scalar(select(Ground.id).where(Ground.code == code)) is not None:
            errors["code"] = _("代码已存在")
        if list_code not in ("bad", "dishonest"):
            errors["list_code"] = _("名单类型须为 bad 或 dishonest")
        if not str(values.get("title", "")).strip():
            errors["title"] = _("请填写事由")
        if errors:
            raise ValidationError(errors)
        ground = Ground(
            code=code, list_code=list_code, **{k: values[k] for k in values if k in GROUND_FIELDS}
        )
        session.add(ground)
        flush(session)
        record_event(session, actor, ground, "create")
        return ground
    if errors:
        raise ValidationError(errors)
    check_version(ground, expected_version)
    before = snapshot(ground)
    for key in GROUND_FIELDS:
        if key in values:
            setattr(ground, key, values[key])
    flush(session)
    record_event(session, actor, ground, "update", before=before)
    return ground
