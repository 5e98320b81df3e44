"""The import written through the ordinary services one record at a time (a flush and an
Event per change): the reference the bulk path of :mod:`registry.imports.apply` is compared
with, record by record, in test_import_bulk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy.orm import Session

from registry import rules
from registry.errors import DomainError
from registry.imports.apply import ImportApplyError, ImportResult, import_actor
from registry.imports.validate import Plan
from registry.models import Enterprise, Sanction
from registry.rules import Actor
from registry.services import enterprises as enterprise_service
from registry.services import listings as listing_service
from registry.services import sanctions as sanction_service


def apply_plan_per_record(
    session: Session,
    plan: Plan,
    *,
    publisher: Actor | None = None,
    on: date | None = None,
    label: str = "import",
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """The same import through the services one record at a time (a flush per change):
    the reference the bulk path is tested against."""
    on = on or rules.today()
    result = ImportResult(unchanged=len(plan.unchanged))
    actors: dict[int, Actor] = {}
    firms: dict[str, Enterprise] = {}
    new_sanctions: dict[str, Sanction] = {}
    for row in plan.rows:
        actor = actors.get(row.authority.id)
        if actor is None:
            actor = actors[row.authority.id] = import_actor(row.authority, label)
        try:
            firm = firms.get(row.firm_key) or row.enterprise
            if firm is None:
                firm = enterprise_service.create_enterprise(
                    session,
                    actor,
                    name=row.name,
                    uscc=row.uscc,
                    province_code=row.province_code,
                )
                result.enterprises += 1
            elif enterprise_service.add_former_name(session, actor, firm, row.name) is not None:
                result.former_names += 1
            firms[row.firm_key] = firm
            if row.add_licence:
                enterprise_service.add_licence(session, actor, firm, number=row.licence_no)
                result.licences += 1

            sanction = row.sanction
            if row.decision_key and sanction is None:
                sanction = new_sanctions.get(row.decision_key)
                if sanction is None:
                    decided_on, facts = plan.new_sanctions[row.decision_key]
                    sanction = sanction_service.record_sanction(
                        session,
                        actor,
                        firm,
                        decision_no=row.decision_no,
                        decided_on=decided_on,
                        facts=facts,
                        campaign=row.campaign,
                        on=on,
                    )
                    sanction_service.submit_sanction(session, actor, sanction)
                    new_sanctions[row.decision_key] = sanction
                    result.sanctions += 1
                else:
                    result.sanctions_linked += 1
            elif sanction is not None:
                if sanction.state == "draft":
                    sanction_service.submit_sanction(session, actor, sanction)
                result.sanctions_linked += 1

            listing = listing_service.create_listing(
                session,
                actor,
                firm,
                ground=row.ground,
                decided_on=row.decided_on,
                sanction=sanction,
                facts=row.facts,
                source_expires_on=row.source_expires_on,
                campaign=row.campaign,
                on=on,
            )
            listing_service.submit_listing(session, actor, listing, on=on)
            result.listings += 1
            if publisher is not None:
                listing_service.publish_listing(session, publisher, listing)
                result.published += 1
        except DomainError as exc:
            raise ImportApplyError(row.number, str(exc)) from exc
        if progress is not None:
            progress(1)
    return result
