"""Writing a checked import (a :class:`~registry.imports.validate.Plan`) through the services.

Every record goes through the same verbs and checks as the forms, each with its Event: the
firm (matched by USCC, else licence; a new name for a known firm becomes a former name), its
licence, the penalty decision when a decision number is given (linked when the same firm's
decision is already known, e.g. a D2 listing for not carrying out a B3 penalty), and the
listing, submitted by a system actor of the listing authority: the import is the submission.
With a publisher (a reviewer) each listing is then published under the four-eyes rule.
The records are written as rows, a chunk at a time (registry.services.bulk_import).

Nothing here commits: the caller commits once, so the batch stands or falls as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date

from sqlalchemy.orm import Session

from registry import publog, rules
from registry.db import utcnow
from registry.errors import DomainError, ValidationError
from registry.imports.validate import Plan, PlannedRow
from registry.messages import Message, _
from registry.models import Authority
from registry.rules import Actor
from registry.sequence import reserving
from registry.services.accounts import system_actor_for
from registry.services.bulk_import import BulkImport, Decision, Firm
from registry.services.lookups import Holder, Lookups

CHUNK = 2000


class ImportApplyError(DomainError):
    """A row the checks let through but a service refused; nothing of the batch stands.
    `reason` is what the service said; `message` names the row too (a Message, translated
    where it is shown; `str()` is the Chinese text)."""

    def __init__(self, row: int, reason: str | tuple[str, ...]) -> None:
        self.row = row
        self.reason = reason
        self.message = _("第%(row)s行：%(reason)s", row=row, reason=reason)
        super().__init__(self.message)

    def __str__(self) -> Message:  # the Message itself, so that callers can translate it
        return self.message


def _reason(exc: DomainError) -> str | tuple[str, ...]:
    """What a service's error says, its Messages kept so that they are translated where the
    import's error is shown: every field's message of a ValidationError."""
    if isinstance(exc, ValidationError):
        return tuple(exc.errors.values())
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        return message
    if exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc)


@dataclass
class ImportResult:
    enterprises: int = 0
    former_names: int = 0
    licences: int = 0
    sanctions: int = 0
    sanctions_linked: int = 0
    listings: int = 0
    published: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def import_actor(authority: Authority, label: str = "import") -> Actor:
    """The system actor that submits on behalf of the listing authority."""
    return system_actor_for(authority, label)


def apply_plan(
    session: Session,
    plan: Plan,
    *,
    publisher: Actor | None = None,
    on: date | None = None,
    label: str = "import",
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
    batch_id: int | None = None,
) -> ImportResult:
    """Create the good rows of `plan`; rows already in the database count as unchanged.

    The rows are written `chunk` at a time. `batch_id`: the ImportBatch the new listings
    belong to."""
    on = on or rules.today()
    result = ImportResult(unchanged=len(plan.unchanged))
    state = _ImportState(session, plan, publisher, on, label, result)
    writer = BulkImport(session, state, on, batch_id)
    # the chunks' Event and log numbers taken ahead, not awaited chunk by chunk
    with reserving(session, "event", publog.SEQUENCE):
        for rows in plan.chunks(chunk):
            writer.at = utcnow()  # the chunk's publication time
            for row in rows:
                try:
                    state.add_row(writer, row)
                except DomainError as exc:
                    raise ImportApplyError(row.number, _reason(exc)) from exc
            writer.write()
            state.release(rows)
            if progress is not None:
                progress(len(rows))
    return result


class _ImportState(Lookups):
    """What the chunks of one import share: actors, the firms, licences and decisions
    named so far. As the builders' lookups it answers from these maps and from what
    validate() preloaded instead of a query per record."""

    def __init__(
        self,
        session: Session,
        plan: Plan,
        publisher: Actor | None,
        on: date,
        label: str,
        result: ImportResult,
    ) -> None:
        super().__init__(session)
        self.plan = plan
        self.publisher = publisher
        self.on = on
        self.label = label
        self.result = result
        self.actors: dict[int, Actor] = {}
        self.firms: dict[str, Firm] = {}  # by firm key
        self.usccs: dict[str, Firm] = {}  # new firms
        self.licences: set[str] = set()
        self.new_decisions: dict[str, Decision] = {}  # by decision key
        self.stored_decisions: dict[int, Decision] = {}  # by id
        # validate() matched every USCC of the file against the database
        self.known = plan.known_firms

    def actor(self, authority: Authority) -> Actor:
        actor = self.actors.get(authority.id)
        if actor is None:
            actor = self.actors[authority.id] = import_actor(authority, self.label)
        return actor

    def add_row(self, writer: BulkImport, row: PlannedRow) -> None:
        actor = self.actor(row.authority)
        firm = self._firm(writer, row, actor)
        decision = self._decision(writer, row, actor, firm)
        writer.create_listing(
            actor,
            firm,
            {
                "ground": row.ground,
                "decided_on": row.decided_on,
                "facts": row.facts,
                "source_expires_on": row.source_expires_on,
            },
            decision=decision,
            authority=row.authority,
            campaign=row.campaign,
            publisher=self.publisher,
        )
        self.result.listings += 1
        if self.publisher is not None:
            self.result.published += 1

    def _firm(self, writer: BulkImport, row: PlannedRow, actor: Actor) -> Firm:
        """The row's firm: known (a new name becomes a former name) or new; its licence."""
        result = self.result
        firm = self.firms.get(row.firm_key)
        if firm is None and row.enterprise is not None:
            firm = Firm.of(row.enterprise)
        if firm is None:
            firm = writer.create_firm(
                actor, {"name": row.name, "uscc": row.uscc, "province_code": row.province_code}
            )
            if firm.uscc:
                self.usccs[firm.uscc] = firm
            result.enterprises += 1
        elif writer.add_former_name(actor, firm, row.name):
            result.former_names += 1
        self.firms[row.firm_key] = firm
        if row.add_licence:
            # the check made the number's canonical form (licence_key) from the same text
            canonical = writer.add_licence(actor, firm, row.licence_no or "", row.licence_key)
            self.licences.add(canonical)
            result.licences += 1
        return firm

    def _decision(
        self, writer: BulkImport, row: PlannedRow, actor: Actor, firm: Firm
    ) -> Decision | None:
        """The row's penalty decision, submitted: stored, new in this import, or created."""
        result = self.result
        if row.sanction is not None:
            decision = self.stored_decisions.get(row.sanction.id)
            if decision is None:
                decision = self.stored_decisions[row.sanction.id] = Decision.of(row.sanction)
            if decision.row["state"] == "draft":
                writer.change_decision(actor, decision, "submit")
            result.sanctions_linked += 1
            return decision
        if not row.decision_key:
            return None
        decision = self.new_decisions.get(row.decision_key)
        if decision is not None:
            result.sanctions_linked += 1
            return decision
        decided_on, facts = self.plan.new_sanctions[row.decision_key]
        decision = writer.create_decision(
            actor,
            firm,
            {
                "decision_no": row.decision_no,
                "decided_on": decided_on,
                "facts": facts,
                "campaign": row.campaign,
            },
        )
        self.new_decisions[row.decision_key] = decision
        result.sanctions += 1
        return decision

    def release(self, rows: list[PlannedRow]) -> None:
        """Once a chunk is written, forget the firms and new decisions no later row names:
        these maps then hold about a chunk, not the whole file. A new firm has one firm
        key and a new decision one firm (validate() saw to it)."""
        done = rows[-1].number
        last_firm_row, last_decision_row = self.plan.last_firm_row, self.plan.last_decision_row
        for row in rows:
            if last_firm_row[row.firm_key] <= done:
                firm = self.firms.pop(row.firm_key, None)
                if firm is not None and firm.uscc:
                    self.usccs.pop(firm.uscc, None)
            if row.decision_key and last_decision_row[row.decision_key] <= done:
                self.new_decisions.pop(row.decision_key, None)

    def uscc_owner(self, uscc: str) -> Holder | None:
        return self.usccs.get(uscc) or self.known.get(uscc)

    # validate() refused the licences and decision numbers already in the database
    def licence_registered(self, canonical: str) -> bool:
        return canonical in self.licences

    def decision_holder(self, canonical: str) -> object | None:
        return self.new_decisions.get(canonical)
