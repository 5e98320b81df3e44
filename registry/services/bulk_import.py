"""Writing a batch import's records as rows, without ORM objects.

Each new record's columns come from the services' own builders and checks
(`enterprise_values`, `licence_values`, `sanction_values`, `check_new_listing`,
`check_submit`, `check_publish_facts`, `change_values`), its id is taken before the INSERT
(a block per table: PostgreSQL's sequence, SQLite's max(id) under the write lock the import
holds from its first chunk), and every step's Event is kept as values. `write` then sends
a chunk with one executemany per table: the records in their final state, the Events
numbered in step order, the publication-log entries chained as if appended one by one.
What the database holds afterwards is what the services writing one record at a time
leave (a record created, submitted and published is inserted at version 3; its three
Events carry the snapshots of each step). A stored decision the import submits or
publishes gets one versioned UPDATE with its final values.

Nothing here commits: the caller commits once, so the batch stands or falls as a whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import count
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from registry import publog, visibility
from registry.db import utcnow
from registry.errors import ConflictError
from registry.messages import _
from registry.models import (
    Authority,
    Campaign,
    Enterprise,
    Event,
    FormerName,
    Ground,
    Licence,
    Listing,
    Sanction,
)
from registry.rules import Actor, next_state
from registry.sequence import hold, next_seqs
from registry.services.enterprises import enterprise_values, former_name_to_add, licence_values
from registry.services.history import (
    entity_type_of,
    event_row,
    jsonable_values,
    snapshot,
    snapshot_of_row,
)
from registry.services.listings import (
    ListingFacts,
    SanctionLink,
    check_new_listing,
    check_publish_facts,
    check_submit,
    publication_row_values,
    submission_values,
)
from registry.services.lookups import Lookups
from registry.services.rows import insert_rows
from registry.services.sanctions import change_values, sanction_values
from registry.text import normalize

# Parents first: a licence, former name or decision needs its firm, a listing its decision.
_INSERT_ORDER = (Enterprise, FormerName, Licence, Sanction, Listing)
# ids taken at once from a PostgreSQL sequence (unused ones are a gap, as after a rollback)
ID_BLOCK = 1024
# Events sent in one executemany
EVENT_BATCH = 2000
# the columns a workflow step changes on a stored decision
_DECISION_STEP_COLUMNS = ("state", "submitted_by_id", "published_by_id", "published_at")


@dataclass(slots=True)
class Firm:
    """A firm an import names: stored (`stored`) or created by it."""

    id: int
    name: str
    uscc: str | None
    province_code: str | None
    authority_id: int
    stored: Enterprise | None = None
    # licence numbers in id order, and normalised former names: of a stored firm read on
    # first use, then kept up to date with what the import adds
    licences: list[str] | None = None
    former: set[str] | None = None

    @classmethod
    def of(cls, firm: Enterprise) -> Firm:
        return cls(firm.id, firm.name, firm.uscc, firm.province_code, firm.authority_id, firm)


@dataclass(slots=True)
class Decision:
    """A penalty decision an import names: its current columns and snapshot."""

    row: dict[str, Any]
    snap: dict[str, Any]
    stored: Sanction | None = None
    in_database: bool = False
    loaded_version: int = 0  # the version the database holds, while in_database

    @classmethod
    def of(cls, sanction: Sanction) -> Decision:
        columns = cast(Table, Sanction.__table__).columns
        row = {column.key: getattr(sanction, column.key) for column in columns}
        return cls(row, snapshot(sanction), sanction, True, sanction.version_id)

    @property
    def id(self) -> int:
        return cast(int, self.row["id"])


@dataclass(slots=True)
class _Step:
    actor: Actor
    table: str
    authority_id: int | None
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    record: dict[str, Any] | None = None  # the published fields, for a publication


@dataclass
class BulkImport:
    """The rows of an import's current chunk, and what its chunks share (ids, decisions)."""

    session: Session
    lookups: Lookups
    on: date
    batch_id: int | None = None
    _rows: dict[type, list[dict[str, Any]]] = field(default_factory=dict)
    _steps: list[_Step] = field(default_factory=list)
    _ids: dict[str, Iterator[int]] = field(default_factory=dict)
    _changed: dict[int, Decision] = field(default_factory=dict)  # stored, changed
    _new_decisions: list[Decision] = field(default_factory=list)
    _stored_firms: dict[int, Enterprise] = field(default_factory=dict)
    _templates: dict[type, dict[str, Any]] = field(default_factory=dict)  # the chunk's defaults
    _held: bool = False
    at: datetime = field(default_factory=utcnow)

    # --- the verbs of an import row ---------------------------------------------------

    def create_firm(self, actor: Actor, values: dict[str, Any]) -> Firm:
        """create_enterprise: a new firm of the actor's authority."""
        row = self._new(Enterprise, enterprise_values(actor, values, self.lookups))
        self._step(actor, Enterprise, row, "create", None)
        return Firm(
            row["id"],
            row["name"],
            row["uscc"],
            row["province_code"],
            row["authority_id"],
            None,
            [],
            set(),
        )

    def add_former_name(self, actor: Actor, firm: Firm, name: str) -> bool:
        """add_former_name: keep `name` unless it is the firm's or already known."""
        found = former_name_to_add(actor, firm.name, self._former(firm), name)
        if found is None:
            return False
        kept, normal = found
        row = self._new(FormerName, {"enterprise_id": firm.id, "name": kept, "used_until": None})
        self._former(firm).add(normal)
        self._step(actor, FormerName, row, "create", actor.authority_id)
        return True

    def add_licence(
        self, actor: Actor, firm: Firm, number: str, canonical: str | None = None
    ) -> str:
        """add_licence; returns the licence's canonical number (`canonical`: the number's,
        when the caller has it)."""
        values = licence_values(
            actor, firm.authority_id, number=number, lookups=self.lookups, canonical=canonical
        )
        row = self._new(Licence, {"enterprise_id": firm.id, **values})
        self._licences(firm).append(row["number"])
        self._step(actor, Licence, row, "create", firm.authority_id)
        return cast(str, row["number_canonical"])

    def create_decision(
        self,
        actor: Actor,
        firm: Firm,
        values: dict[str, Any],
    ) -> Decision:
        """record_sanction, then submit_sanction."""
        columns = sanction_values(actor, values, self.on, self.lookups)
        campaign: Campaign | None = columns.pop("campaign", None)
        columns["campaign_id"] = campaign.id if campaign is not None else None
        row = self._new(Sanction, {"enterprise_id": firm.id, **columns})
        decision = Decision(row, self._step(actor, Sanction, row, "create", None))
        self._new_decisions.append(decision)
        self.change_decision(actor, decision, "submit")
        return decision

    def change_decision(self, actor: Actor, decision: Decision, action: str) -> None:
        """transition_sanction (submit, publish) of a decision stored or created here."""
        row = decision.row
        values = change_values(
            actor, row["authority_id"], row["state"], row["submitted_by_id"], action
        )
        row.update(values)
        row["version_id"] += 1
        before = decision.snap
        decision.snap = before | jsonable_values(values) | {"version_id": row["version_id"]}
        self._steps.append(
            _Step(actor, "sanction", row["authority_id"], action, before, decision.snap)
        )
        if decision.in_database:
            self._changed[decision.id] = decision

    def create_listing(
        self,
        actor: Actor,
        firm: Firm,
        values: dict[str, Any],
        *,
        decision: Decision | None,
        authority: Authority,
        campaign: Campaign | None,
        publisher: Actor | None,
    ) -> None:
        """create_listing and submit_listing; publish_listing (its decision first) when
        there is a publisher. `values`: ground, decided_on, facts, source_expires_on."""
        ground: Ground = values["ground"]
        link = None
        if decision is not None:
            sanction = decision.row
            link = SanctionLink(
                sanction["authority_id"],
                sanction["measures"],
                sanction["state"],
                sanction["enterprise_id"] == firm.id,
            )
        facts = ListingFacts(
            actor.authority_id,
            "draft",
            ground.list_code,
            ground,
            values["decided_on"],
            values["source_expires_on"],
            None,
            link,
        )
        check_new_listing(actor, facts, campaign, self.on)
        row = self._new(
            Listing,
            {
                "authority_id": actor.authority_id,
                "enterprise_id": firm.id,
                "list_code": ground.list_code,
                "ground_id": ground.id,
                "sanction_id": decision.id if decision is not None else None,
                "decided_on": values["decided_on"],
                "facts": (values["facts"] or "").strip(),
                "source_expires_on": values["source_expires_on"],
                "campaign_id": campaign.id if campaign is not None else None,
                "created_by_id": actor.user_id,
                "import_batch_id": self.batch_id,
            },
        )
        snap = self._step(actor, Listing, row, "create", None)
        state = check_submit(actor, facts, self.on)
        snap = self._change(actor, row, snap, "submit", submission_values(actor) | {"state": state})
        if publisher is None:
            return
        facts = facts._replace(state=state, submitted_by_id=row["submitted_by_id"])
        if check_publish_facts(publisher, facts, self.at) and decision is not None:
            self.change_decision(publisher, decision, "publish")
        published = publication_row_values(
            publisher, ground, values["source_expires_on"], self.at
        ) | {"state": next_state(state, "publish")}
        self._change(publisher, row, snap, "publish", published)
        self._steps[-1].record = publog.listing_record_values(
            name=firm.name,
            uscc=firm.uscc,
            licences=list(self._licences(firm)),
            province=firm.province_code,
            listing=row,
            ground=ground,
            authority=authority,
            decision_no=None
            if decision is None
            else visibility.public_decision_no_of(
                decision.row["state"], decision.row["decision_no"]
            ),
        )

    # --- writing --------------------------------------------------------------------------

    def write(self) -> None:
        """Send the chunk: records, changed stored decisions, Events, log entries.

        What must be read first is read first (the Events' numbers, the log's numbers and
        the tree's frontier); the INSERTs then follow each other without a statement whose
        result is awaited between them, so that a connection kept in another process
        (registry.dbpipe) inserts them while this one builds the next chunk."""
        session = self.session
        steps, self._steps = self._steps, []
        event_table = cast(Table, Event.__table__)
        events = []
        published = []
        for step, seq in zip(steps, next_seqs(session, len(steps)), strict=True):
            event = event_row(
                step.actor,
                step.table,
                step.authority_id,
                step.action,
                seq=seq,
                after=step.after,
                before=step.before,
            )
            event["id"] = self._take_id(event_table)
            events.append(event)
            if step.record is not None:
                published.append((event, step.record))
        entries = publog.record_rows(session, published)
        for cls in _INSERT_ORDER:
            rows = self._rows.pop(cls, None)
            if rows:
                insert_rows(session, cast(Table, cls.__table__), rows)
        for decision in self._changed.values():
            self._update_stored(decision)
        self._changed.clear()
        for decision in self._new_decisions:
            decision.in_database = True
            decision.loaded_version = decision.row["version_id"]
        self._new_decisions.clear()
        # EVENT_BATCH Events at a time: their JSON and parameters are not all held at once
        for start in range(0, len(events), EVENT_BATCH):
            insert_rows(session, event_table, events[start : start + EVENT_BATCH])
        publog.insert_entries(session, entries)
        for firm in self._stored_firms.values():  # their collections grew
            session.expire(firm, ["former_names", "licences"])
        self._stored_firms.clear()
        self._templates.clear()

    def _update_stored(self, decision: Decision) -> None:
        """One versioned UPDATE of a stored decision to its final values."""
        table = cast(Table, Sanction.__table__)
        row = decision.row
        values = {key: row[key] for key in _DECISION_STEP_COLUMNS}
        values |= {"version_id": row["version_id"], "updated_at": utcnow()}
        result = self.session.execute(
            update(table)
            .where(table.c.id == decision.id, table.c.version_id == decision.loaded_version)
            .values(**values)
        )
        if cast(CursorResult[Any], result).rowcount != 1:
            raise ConflictError(_("此记录已被他人修改，请刷新后重试"))
        decision.loaded_version = row["version_id"]
        if decision.stored is not None:  # the object validate() loaded reads as stored
            for key, value in values.items():
                set_committed_value(decision.stored, key, value)

    # --- rows, ids and steps --------------------------------------------------------------

    def _new(self, cls: type, values: dict[str, Any]) -> dict[str, Any]:
        """The full row of a new record of `cls`: its id, `values`, the column defaults."""
        table = cast(Table, cls.__table__)  # type: ignore[attr-defined]
        template = self._templates.get(cls)
        if template is None:
            template = self._templates[cls] = _defaults(table)
        row = template | values
        for key in _fresh(table):  # a list or dict default: one each, as the ORM gives
            if key not in values:
                row[key] = type(template[key])()
        row["id"] = self._take_id(table)
        self._rows.setdefault(cls, []).append(row)
        return row

    def _step(
        self,
        actor: Actor,
        cls: type,
        row: dict[str, Any],
        action: str,
        authority_id: int | None,
    ) -> dict[str, Any]:
        """The Event of creating `row`; returns its snapshot."""
        snap = snapshot_of_row(cls, row)
        if authority_id is None:
            authority_id = row.get("authority_id")
        self._steps.append(_Step(actor, entity_type_of(cls), authority_id, action, None, snap))
        return snap

    def _change(
        self,
        actor: Actor,
        row: dict[str, Any],
        before: dict[str, Any],
        action: str,
        values: dict[str, Any],
    ) -> dict[str, Any]:
        """A workflow step of a listing created here: its row at the next version."""
        row.update(values)
        row["version_id"] += 1
        after = before | jsonable_values(values) | {"version_id": row["version_id"]}
        self._steps.append(_Step(actor, "listing", row["authority_id"], action, before, after))
        return after

    def _take_id(self, table: Table) -> int:
        pool = self._ids.get(table.name)
        if pool is not None:
            found = next(pool, None)
            if found is not None:
                return found
        pool = self._ids[table.name] = self._allocate(table)
        return next(pool)

    def _allocate(self, table: Table) -> Iterator[int]:
        """New ids of `table`: a block of its PostgreSQL sequence; on SQLite every id from
        max(id) + 1 on, which no one else can take: the event counter is held (and with it
        the database's write lock) until commit, and until then every row of the tables
        written here is this writer's (the caller's own records, the batch's, are written
        before the first chunk or after the last)."""
        session = self.session
        if session.get_bind().dialect.name == "postgresql":
            ids = session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                ),
                {"t": table.name, "n": ID_BLOCK},
            ).all()
            return iter(sorted(ids))
        if not self._held:
            hold(session)
            self._held = True
        highest = session.scalar(select(func.max(table.c.id))) or 0
        return count(highest + 1)

    def _licences(self, firm: Firm) -> list[str]:
        if firm.licences is None:
            assert firm.stored is not None
            firm.licences = [licence.number for licence in firm.stored.licences]
        if firm.stored is not None:
            self._stored_firms[firm.id] = firm.stored
        return firm.licences

    def _former(self, firm: Firm) -> set[str]:
        if firm.former is None:
            assert firm.stored is not None
            firm.former = {normalize(former.name) for former in firm.stored.former_names}
        if firm.stored is not None:
            self._stored_firms[firm.id] = firm.stored
        return firm.former


def _fresh(table: Table) -> tuple[str, ...]:
    """The columns of `table` whose default is a new empty list or dict."""
    found = _FRESH.get(table.name)
    if found is None:
        found = _FRESH[table.name] = tuple(
            key for key, value in _defaults(table).items() if isinstance(value, list | dict)
        )
    return found


_FRESH: dict[str, tuple[str, ...]] = {}


def _defaults(table: Table) -> dict[str, Any]:
    """Every column of `table` with the Python-side default an INSERT through the ORM
    would give it now (None: NULL); the timestamps are the same for a chunk's records."""
    row: dict[str, Any] = {}
    for column in table.columns:
        default: Any = column.default
        if default is not None and default.is_callable:
            row[column.key] = default.arg(None)
        elif default is not None and default.is_scalar:
            row[column.key] = default.arg
        else:
            row[column.key] = None
    return row
