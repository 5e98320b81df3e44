"""Operators (电信业务经营者) and their licences."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import text
from registry.errors import ValidationError
from registry.messages import _
from registry.models import (
    ENTERPRISE_KINDS,
    LICENCE_STATUSES,
    Authority,
    Enterprise,
    FormerName,
    Licence,
)
from registry.rules import Actor, check_may
from registry.services.history import check_change, flush, record_new, recorded
from registry.services.lookups import Lookups


def _clean(values: dict[str, Any], current: Enterprise | None, lookups: Lookups) -> dict[str, Any]:
    """Check and normalise an operator's fields."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    if "name" in values or current is None:
        name = text.clean_display(values.get("name") or "")
        if len(name) < 2:
            errors["name"] = _("请填写经营者名称")
        elif len(name) > 200:
            errors["name"] = _("名称过长")
        cleaned["name"] = name
    if "uscc" in values:
        raw = (values.get("uscc") or "").strip()
        if raw:
            try:
                uscc = text.validate_uscc(raw)
            except ValueError as exc:
                errors["uscc"] = str(exc)
            else:
                clash = lookups.uscc_owner(uscc)
                if clash is not None and clash is not current:
                    errors["uscc"] = _("该统一社会信用代码已登记：%(name)s", name=clash.name)
                cleaned["uscc"] = uscc
        else:
            cleaned["uscc"] = None
    if "province_code" in values:
        province = (values.get("province_code") or "").strip() or None
        if province is not None and province not in lookups.province_codes():
            errors["province_code"] = _("未知的省份代码")
        cleaned["province_code"] = province
    if "kind" in values:
        if values["kind"] not in ENTERPRISE_KINDS:
            errors["kind"] = _("未知的经营者类别")
        cleaned["kind"] = values["kind"]
    if "address" in values:
        cleaned["address"] = text.clean_display(values.get("address") or "")
    if errors:
        raise ValidationError(errors)
    return cleaned


def create_enterprise(session: Session, actor: Actor, **values: Any) -> Enterprise:
    """Register an operator under the actor's authority (name, uscc, province_code, kind, address)."""
    return record_new(session, actor, new_enterprise(actor, values, Lookups(session)))


def new_enterprise(actor: Actor, values: dict[str, Any], lookups: Lookups) -> Enterprise:
    """The operator `create_enterprise` registers, not yet added to a session."""
    return Enterprise(**enterprise_values(actor, values, lookups))


def enterprise_values(actor: Actor, values: dict[str, Any], lookups: Lookups) -> dict[str, Any]:
    """The checked columns of the operator `new_enterprise` builds."""
    check_may(actor, "create", actor.authority_id)
    return {"authority_id": actor.authority_id} | _clean({"uscc": None, **values}, None, lookups)


def update_enterprise(
    session: Session,
    actor: Actor,
    enterprise: Enterprise,
    *,
    expected_version: int | None = None,
    **values: Any,
) -> Enterprise:
    """Change an operator's data; a new name keeps the old one as a former name (曾用名)."""
    check_change(actor, enterprise, "edit", expected_version)
    cleaned = _clean(values, enterprise, Lookups(session))
    with recorded(session, actor, enterprise, "update"):
        if "name" in cleaned and cleaned["name"] != enterprise.name:
            _remember_name(session, enterprise, enterprise.name, used_until=None)
        for key, value in cleaned.items():
            setattr(enterprise, key, value)
    return enterprise


def _remember_name(
    session: Session, enterprise: Enterprise, name: str, used_until: date | None
) -> FormerName | None:
    """Keep `name` among the former names unless it is already there (in any script)."""
    former = former_name(enterprise, name, used_until)
    if former is not None:
        session.add(former)
        flush(session)
    return former


def former_name(enterprise: Enterprise, name: str, used_until: date | None) -> FormerName | None:
    """The former name to record, or None when the firm already has it (in any script)."""
    name = text.clean_display(name)
    if not name or text.normalize(name) in {
        text.normalize(f.name) for f in enterprise.former_names
    }:
        return None
    return FormerName(enterprise=enterprise, name=name, used_until=used_until)


def former_name_to_add(
    actor: Actor, current: str, known: set[str], name: str
) -> tuple[str, str] | None:
    """`new_former_name` of a firm given as its name and the normalised forms of its former
    names: (the name to keep, its normalised form), or None when there is none to add."""
    check_may(actor, "create", actor.authority_id)
    if text.normalize(name) == text.normalize(current):
        return None
    name = text.clean_display(name)
    normal = text.normalize(name)
    if not name or normal in known:
        return None
    return name, normal


def new_former_name(
    actor: Actor, enterprise: Enterprise, name: str, used_until: date | None = None
) -> FormerName | None:
    """The former name `add_former_name` records (not added), or None when there is none."""
    check_may(actor, "create", actor.authority_id)
    if text.normalize(name) == text.normalize(enterprise.name):
        return None
    return former_name(enterprise, name, used_until)


def add_former_name(
    session: Session,
    actor: Actor,
    enterprise: Enterprise,
    name: str,
    *,
    used_until: date | None = None,
) -> FormerName | None:
    """Record a former name (曾用名) unless it is the current one or already known.

    Any regulator may add one (e.g. a bureau's import names the firm differently): it only
    appends to the record, with an Event of the actor's authority.
    """
    former = new_former_name(actor, enterprise, name, used_until)
    if former is None:
        return None
    return record_new(session, actor, former, authority_id=actor.authority_id)


def add_licence(session: Session, actor: Actor, enterprise: Enterprise, **values: Any) -> Licence:
    """Record a licence of the operator; the values are those of `new_licence`."""
    licence = new_licence(actor, enterprise, lookups=Lookups(session), **values)
    return record_new(session, actor, licence, authority_id=enterprise.authority_id)


def new_licence(
    actor: Actor,
    enterprise: Enterprise,
    *,
    lookups: Lookups,
    issuer: Authority | None = None,
    **values: Any,
) -> Licence:
    """The licence `add_licence` records, not yet added to a session; `values` are those
    of `licence_values` (number, services, status, issued_on, expires_on)."""
    columns = licence_values(
        actor,
        enterprise.authority_id,
        lookups=lookups,
        issuer_id=issuer.id if issuer is not None else None,
        **values,
    )
    return Licence(enterprise=enterprise, issuer=issuer, **columns)


def licence_values(
    actor: Actor,
    firm_authority_id: int,
    *,
    number: str,
    lookups: Lookups,
    services: str = "",
    issuer_id: int | None = None,
    status: str = "valid",
    issued_on: date | None = None,
    expires_on: date | None = None,
    canonical: str | None = None,
) -> dict[str, Any]:
    """The checked columns (but the firm) of the licence `new_licence` builds for a firm of
    `firm_authority_id`. `canonical`: text.canonical_licence of the number, when the caller
    has it already (an import's check made it for every row)."""
    check_may(actor, "edit", firm_authority_id)
    errors: dict[str, str] = {}
    number = text.clean_display(number)
    if canonical is None:
        canonical = text.canonical_licence(number)
    if len(canonical) < 4:
        errors["number"] = _("请填写许可证编号")
    elif lookups.licence_registered(canonical):
        errors["number"] = _("该许可证编号已登记")
    if status not in LICENCE_STATUSES:
        errors["status"] = _("未知的许可证状态")
    if issued_on and expires_on and expires_on <= issued_on:
        errors["expires_on"] = _("有效期须晚于发证日期")
    if errors:
        raise ValidationError(errors)
    return {
        "number": number,
        "number_canonical": canonical,
        "services": services,
        "issuer_id": issuer_id,
        "status": status,
        "issued_on": issued_on,
        "expires_on": expires_on,
    }


def find_by_uscc(session: Session, uscc: str) -> Enterprise | None:
    return session.scalar(select(Enterprise).where(Enterprise.uscc == text.canonical_uscc(uscc)))


def find_by_licence(session: Session, number: str) -> Enterprise | None:
    licence = session.scalar(
        select(Licence).where(Licence.number_canonical == text.canonical_licence(number))
    )
    return licence.enterprise if licence else None
