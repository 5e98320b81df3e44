"""Writing a checked import (a :class:`~registry.imports.validate.Plan`) through the services.

Every record goes through the same verbs as the forms, each with its Event: the firm
(matched by USCC, else licence; a new name for a known firm becomes a former name), its
licence, the penalty decision when a decision number is given (linked when the same firm's
decision is already known, e.g. a D2 listing for not carrying out a B3 penalty), and the
listing, submitted by a system actor of the listing authority: the import is the submission.
With a publisher (a reviewer) each listing is then published under the four-eyes rule.

Nothing here commits: the caller commits once, so the batch stands or falls as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from sqlalchemy import insert, inspect, update
from sqlalchemy.orm import MANYTOONE, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from registry import publog, rules
from registry.db import utcnow
from registry.errors import DomainError, ValidationError
from registry.imports.validate import Plan, PlannedRow
from registry.messages import Message, _
from registry.models import Authority, Enterprise, Event, FormerName, Licence, Listing, Sanction
from registry.rules import Actor
from registry.sequence import next_seqs
from registry.services import enterprises as enterprise_service
from registry.services import listings as listing_service
from registry.services import sanctions as sanction_service
from registry.services.accounts import system_actor_for
from registry.services.history import SKIPPED_COLUMNS, event_values, snapshot
from registry.services.lookups import Lookups

CHUNK = 500
# Columns a new record only gets at flush: taken from the flushed row into the snapshots
# made before it (they never change between a record's create and its later steps).
_FLUSH_KEYS = ("id", "enterprise_id", "ground_id", "sanction_id")


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

    Rows are built in chunks with the services' own checks and written with one flush per
    chunk, then their Events and publication-log entries with one more (see `_Batch`).
    `batch_id`: the ImportBatch the new listings belong to."""
    on = on or rules.today()
    result = ImportResult(unchanged=len(plan.unchanged))
    state = _ImportState(session, plan, publisher, on, label, result)
    state.batch_id = batch_id
    for start in range(0, len(plan.rows), chunk):
        rows = plan.rows[start : start + chunk]
        batch = _Batch(state)
        for row in rows:
            try:
                batch.add_row(row)
            except DomainError as exc:
                raise ImportApplyError(row.number, _reason(exc)) from exc
        batch.write()
        state.release(batch, rows, start + len(rows))
        if progress is not None:
            progress(len(rows))
    return result


class _ImportState(Lookups):
    """What the chunks of one import share: actors, the firms, licences and decisions
    created so far. As the builders' lookups it answers from these maps and from what
    validate() preloaded instead of a query per record."""

    batch_id: int | None = None

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
        self.firms: dict[str, Enterprise] = {}
        self.usccs: dict[str, Enterprise] = {}
        self.licences: set[str] = set()
        self.new_sanctions: dict[str, Sanction] = {}
        # validate() matched every USCC of the file against the database
        self.known = {r.uscc: r.enterprise for r in plan.rows if r.enterprise and r.uscc}
        # the index of the last row naming each firm and each new decision
        self.last_firm_row = {r.firm_key: i for i, r in enumerate(plan.rows)}
        self.last_decision_row = {
            r.decision_key: i for i, r in enumerate(plan.rows) if r.decision_key
        }

    def actor(self, authority: Authority) -> Actor:
        actor = self.actors.get(authority.id)
        if actor is None:
            actor = self.actors[authority.id] = import_actor(authority, self.label)
        return actor

    def release(self, batch: _Batch, rows: list[PlannedRow], done: int) -> None:
        """Once a chunk is written, forget and expunge the records no later row names (its
        listings; the new firms, their licences and the new decisions whose last row is
        written): the session and these maps then hold about a chunk, not the whole file.
        A new firm has one firm key and a new decision one firm (validate() saw to it)."""
        session = self.session
        gone: list = [obj for obj in batch.new if isinstance(obj, Listing)]
        for row in rows:
            if row.enterprise is None and self.last_firm_row[row.firm_key] < done:
                firm = self.firms.pop(row.firm_key, None)
                if firm is not None:
                    if firm.uscc:
                        self.usccs.pop(firm.uscc, None)
                    gone += [firm, *firm.licences]
            if (
                row.sanction is None
                and row.decision_key
                and self.last_decision_row[row.decision_key] < done
            ):
                sanction = self.new_sanctions.pop(row.decision_key, None)
                if sanction is not None:
                    gone.append(sanction)
        for obj in gone:
            if obj in session:
                session.expunge(obj)

    def uscc_owner(self, uscc: str) -> Enterprise | None:
        return self.usccs.get(uscc) or self.known.get(uscc)

    # validate() refused the licences and decision numbers already in the database
    def licence_registered(self, canonical: str) -> bool:
        return canonical in self.licences

    def decision_holder(self, canonical: str) -> Sanction | None:
        return self.new_sanctions.get(canonical)


@dataclass(slots=True)
class _Step:
    """One record written by a batch: its Event's action, actor and snapshot."""

    entity: Any
    action: str
    actor: Actor
    snap: dict[str, Any]
    authority_id: int | None = None
    licences: list[str] | None = None  # numbers, for a publication-log entry


class _Batch:
    """One chunk of rows: the records built in memory by the services' builders and
    checks (new_enterprise, new_licence, new_sanction + change, new_listing, mark_submitted,
    check_publish + mark_published), each step's snapshot taken as the services writing
    one record at a time would see it; then one flush for the records, and one for their Events (numbered in
    row order) and publication-log entries (one chain, as if appended one by one)."""

    def __init__(self, state: _ImportState) -> None:
        self.state = state
        self.new: list = []
        self.steps: list[_Step] = []
        self.versions: dict[int, tuple[object, int]] = {}  # id(obj) → (obj, version)
        self.initial: dict[int, dict] = {}  # id(obj) → snapshot of a stored record
        self.at = utcnow()

    def _touch(self, entity) -> None:
        """Before a stored record changes: its snapshot, the `before` of its first Event."""
        if entity.id is not None and id(entity) not in self.versions:
            self.initial.setdefault(id(entity), snapshot(entity))

    def _step(self, entity, action: str, actor: Actor, *, authority_id=None) -> None:
        known = self.versions.get(id(entity))
        if known is not None:
            version = known[1] + 1
        elif entity.id is None:  # new: defaults as the INSERT would set them
            _fill_defaults(entity)
            version = 1
        else:
            version = entity.version_id + 1
        snap = snapshot(entity)
        if "version_id" in snap:  # versioned records (not former names)
            snap["version_id"] = version
            self.versions[id(entity)] = (entity, version)
        licences = None
        if isinstance(entity, Listing) and action == "publish":
            licences = [licence.number for licence in entity.enterprise.licences]
        self.steps.append(_Step(entity, action, actor, snap, authority_id, licences))

    def add_row(self, row: PlannedRow) -> None:
        actor = self.state.actor(row.authority)
        firm = self._firm(row, actor)
        sanction = self._sanction(row, actor, firm)
        self._listing(row, actor, firm, sanction)

    def _firm(self, row: PlannedRow, actor: Actor) -> Enterprise:
        """The row's firm: known (a new name becomes a former name) or new; its licence."""
        state, result = self.state, self.state.result
        firm = state.firms.get(row.firm_key) or row.enterprise
        if firm is None:
            firm = enterprise_service.new_enterprise(
                actor,
                {"name": row.name, "uscc": row.uscc, "province_code": row.province_code},
                state,
            )
            self.new.append(firm)
            self._step(firm, "create", actor)
            if firm.uscc:
                state.usccs[firm.uscc] = firm
            result.enterprises += 1
        else:
            former = enterprise_service.new_former_name(actor, firm, row.name)
            if former is not None:
                self.new.append(former)
                self._step(former, "create", actor, authority_id=actor.authority_id)
                result.former_names += 1
        state.firms[row.firm_key] = firm
        if row.add_licence:
            licence = enterprise_service.new_licence(
                actor, firm, number=row.licence_no, lookups=state
            )
            state.licences.add(licence.number_canonical)
            self.new.append(licence)
            self._step(licence, "create", actor, authority_id=firm.authority_id)
            result.licences += 1
        return firm

    def _sanction(self, row: PlannedRow, actor: Actor, firm: Enterprise) -> Sanction | None:
        """The row's penalty decision, submitted: stored, new in this import, or created."""
        state, result = self.state, self.state.result
        sanction = row.sanction
        if row.decision_key and sanction is None:
            sanction = state.new_sanctions.get(row.decision_key)
            if sanction is None:
                decided_on, facts = state.plan.new_sanctions[row.decision_key]
                sanction = sanction_service.new_sanction(
                    actor,
                    firm,
                    {
                        "decision_no": row.decision_no,
                        "decided_on": decided_on,
                        "facts": facts,
                        "campaign": row.campaign,
                    },
                    state.on,
                    state,
                )
                self.new.append(sanction)
                self._step(sanction, "create", actor)
                sanction_service.change(actor, sanction, "submit")
                self._step(sanction, "submit", actor)
                state.new_sanctions[row.decision_key] = sanction
                result.sanctions += 1
            else:
                result.sanctions_linked += 1
        elif sanction is not None:
            if sanction.state == "draft":
                self._touch(sanction)
                sanction_service.change(actor, sanction, "submit")
                self._step(sanction, "submit", actor)
            result.sanctions_linked += 1
        return sanction

    def _listing(
        self, row: PlannedRow, actor: Actor, firm: Enterprise, sanction: Sanction | None
    ) -> None:
        """The listing, submitted; published (its decision first) when there is a publisher."""
        state, result = self.state, self.state.result
        listing = listing_service.new_listing(
            actor,
            firm,
            ground=row.ground,
            decided_on=row.decided_on,
            sanction=sanction,
            facts=row.facts,
            source_expires_on=row.source_expires_on,
            campaign=row.campaign,
            on=state.on,
        )
        listing.import_batch_id = state.batch_id
        self.new.append(listing)
        self._step(listing, "create", actor)
        listing.state = listing_service.mark_submitted(actor, listing, state.on)
        self._step(listing, "submit", actor)
        result.listings += 1
        publisher = state.publisher
        if publisher is not None:
            if listing_service.check_publish(publisher, listing, self.at):
                self._touch(listing.sanction)
                sanction_service.change(publisher, listing.sanction, "publish")
                self._step(listing.sanction, "publish", publisher)
            new_state = rules.next_state(listing.state, "publish")
            listing_service.mark_published(publisher, listing, self.at)
            listing.state = new_state
            self._step(listing, "publish", publisher)
            result.published += 1

    def write(self) -> None:
        session = self.state.session
        self._insert_new()
        session.flush()  # the changes to records that were already stored (ORM, versioned)
        self._set_versions()
        events: list[dict] = []
        publications = []
        previous: dict[int, dict] = {}
        numbers = next_seqs(session, len(self.steps))
        for step, seq in zip(self.steps, numbers, strict=True):
            entity = step.entity
            after = step.snap
            for key in _FLUSH_KEYS:
                if key in after and after[key] is None:
                    after[key] = getattr(entity, key)
            before = previous.get(id(entity)) or self.initial.get(id(entity))
            previous[id(entity)] = after
            event = event_values(
                step.actor,
                entity,
                step.action,
                seq=seq,
                after=after,
                before=before,
                authority_id=step.authority_id,
            )
            events.append(event)
            if publog.is_publication(event["entity_type"], step.action):
                record = None
                if step.licences is not None:
                    record = publog.build_record(event["entity_type"], entity) | {
                        "licence": step.licences
                    }
                publications.append((event, entity, record))
        # Rows, not ORM objects: tens of thousands of Events in an import; their ids (in
        # the order given) link the publication-log entries.
        ids = session.scalars(
            insert(Event.__table__).returning(Event.__table__.c.id, sort_by_parameter_order=True),
            events,
        ).all()
        for event, event_id in zip(events, ids, strict=True):
            event["id"] = event_id
        publog.insert_many(session, publications)

    def _insert_new(self) -> None:
        """INSERT the new records as rows, a statement per table in dependency order, then
        attach the objects to the session as stored and clean (their ids set): the unit of
        work would spend seconds on tens of thousands of objects for the same INSERTs."""
        by_class: dict[type, list] = {}
        for obj in self.new:
            by_class.setdefault(type(obj), []).append(obj)
        for cls in _INSERT_ORDER:
            objs = by_class.pop(cls, None)
            if objs:
                self._insert(cls, objs)
        if by_class:  # pragma: no cover - a builder returned a record of a new kind
            raise TypeError(f"import cannot insert {sorted(c.__name__ for c in by_class)}")

    def _insert(self, cls: type, objs: list) -> None:
        session = self.state.session
        columns, parents = _insert_plan(cls)
        rows = []
        for obj in objs:
            if obj in session:  # cascaded in by a stored parent's collection: rows only
                session.expunge(obj)
            for rel_key, pairs in parents:
                parent = getattr(obj, rel_key)
                if parent is not None:
                    for local, remote in pairs:
                        setattr(obj, local, getattr(parent, remote))
            known = self.versions.get(id(obj))
            if known is not None:
                obj.version_id = known[1]
            row = {}
            loaded = obj.__dict__
            for key, column, default in columns:
                value = loaded.get(key)
                if value is None:
                    if default is not None:
                        value = default(None)
                    # as loaded: an attribute left unset would be expired on attach
                    set_committed_value(obj, key, value)
                row[column] = value
            rows.append(row)
        table = cls.__table__
        ids = session.scalars(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        ).all()
        for obj, new_id in zip(objs, ids, strict=True):
            obj.id = new_id
            make_transient_to_detached(obj)
            session.add(obj)

    def _set_versions(self) -> None:
        """An INSERT starts a record at version 1 and a flush adds one per changed record;
        the services writing one record at a time count every step: set those counts."""
        fix: dict[tuple[type, int], list] = {}
        for obj, version in self.versions.values():
            if obj.version_id != version:
                fix.setdefault((type(obj), version), []).append(obj)
        session = self.state.session
        for (cls, version), objs in fix.items():
            session.execute(
                update(cls)
                .where(cls.id.in_([obj.id for obj in objs]))
                .values(version_id=version)
                .execution_options(synchronize_session=False)
            )
            for obj in objs:
                set_committed_value(obj, "version_id", version)


# Parents first: a licence, former name or decision needs its firm's id, a listing its
# firm's and decision's.
_INSERT_ORDER = (Enterprise, FormerName, Licence, Sanction, Listing)
_INSERT_PLANS: dict[type, tuple] = {}


def _insert_plan(cls: type) -> tuple[list, list]:
    """(columns as (attribute, column key, default callable or None) without the id,
    many-to-one relationships as (attribute, [(local attribute, parent attribute)]))."""
    plan = _INSERT_PLANS.get(cls)
    if plan is None:
        mapper = inspect(cls)
        columns = []
        for attr in mapper.column_attrs:
            column = attr.columns[0]
            if column.primary_key:
                continue
            default = column.default
            call = None
            if default is not None and default.is_callable:
                call = default.arg
            elif default is not None and default.is_scalar:
                call = (lambda value: lambda _ctx: value)(default.arg)
            columns.append((attr.key, column.key, call))
        parents = []
        for rel in mapper.relationships:
            if rel.direction is MANYTOONE:
                pairs = [
                    (mapper.get_property_by_column(local).key, remote.key)
                    for local, remote in rel.local_remote_pairs
                ]
                parents.append((rel.key, pairs))
        plan = _INSERT_PLANS[cls] = (columns, parents)
    return plan


def _fill_defaults(obj) -> None:
    """Set the Python-side column defaults an INSERT would, so a snapshot taken before
    the flush shows what a service's snapshot after its own flush shows."""
    mapper = inspect(obj).mapper
    for attr in mapper.column_attrs:
        if attr.key in SKIPPED_COLUMNS or attr.key == "version_id":
            continue
        column = attr.columns[0]
        default = column.default
        if default is None or getattr(obj, attr.key) is not None:
            continue
        if default.is_scalar:
            setattr(obj, attr.key, default.arg)
        elif default.is_callable:
            setattr(obj, attr.key, default.arg(None))
