"""The bulk import path (a flush per chunk) writes what the services write one record at a
time: the same records, Events (entity, action, actor, before/after) and publication-log
entries (payloads, chain order)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from registry import publog, rules
from registry.imports import apply_plan, read_bytes, validate
from registry.models import (
    Enterprise,
    Event,
    FormerName,
    Licence,
    Listing,
    LogEntry,
    LogNode,
    Sanction,
)
from registry.services.history import snapshot
from tests.import_reference import apply_plan_per_record
from tests.test_import import generated_rows, row, to_csv, valid_uscc

# Assigned by the database or the clock: differ between two runs of the same import.
VOLATILE = frozenset(
    {
        "id",
        "enterprise_id",
        "sanction_id",
        "submitted_at",
        "published_at",
        "logged_at",
        "recorded_at",
    }
)


def _strip(values: dict | None) -> dict | None:
    if values is None:
        return None
    return {k: v for k, v in values.items() if k not in VOLATILE}


def capture(session, seq: int, log: int) -> dict:
    """What an import wrote after event `seq` and log entry `log`, ids and times aside."""
    session.flush()
    events = session.scalars(select(Event).where(Event.seq > seq).order_by(Event.seq)).all()
    entries = session.scalars(
        select(LogEntry).where(LogEntry.number > log).order_by(LogEntry.number)
    ).all()
    records = {}
    for model in (Enterprise, Licence, Sanction, Listing):
        ids = {e.entity_id for e in events if e.entity_type == model.__tablename__}
        stored = session.scalars(select(model).where(model.id.in_(ids))).all()
        snaps = [_strip(snapshot(r)) for r in stored]
        records[model.__tablename__] = sorted(
            snaps, key=lambda s: json.dumps(s, sort_keys=True, ensure_ascii=False)
        )
    return {
        "events": [
            (
                e.entity_type,
                e.action,
                e.actor_id,
                e.actor_label,
                e.authority_id,
                e.reason,
                e.cross_authority,
                _strip(e.before),
                _strip(e.after),
            )
            for e in events
        ],
        "log": [
            (e.entity_type, e.action, e.authority_id, _strip(json.loads(e.payload)))
            for e in entries
        ],
        "records": records,
    }


def marks(session) -> tuple[int, int]:
    return (
        session.scalar(select(func.coalesce(func.max(Event.seq), 0))),
        session.scalar(select(func.coalesce(func.max(LogEntry.number), 0))),
    )


@pytest.mark.parametrize("publish", [True, False])
def test_bulk_path_writes_what_the_services_write(session, make, publish):
    reviewer = make.actor("reviewer", "MIIT") if publish else None
    # Already stored: a firm with a submitted B3 penalty (linked by the D2 row below).
    b3_day = rules.today() - timedelta(days=200)
    first = row(uscc=valid_uscc(31), decided_on=b3_day.isoformat())
    apply_plan(session, validate(session, read_bytes(to_csv([first]))))
    rows = [
        *generated_rows(24, seed=21),
        # the stored firm under a new name (a former name), on the dishonesty list for not
        # carrying out the stored penalty (the decision is linked and published with it)
        row(
            uscc=valid_uscc(31),
            name="深圳市测试更名通信有限公司",
            list="dishonest",
            ground="D2",
            facts="逾期不履行行政处罚决定",
        ),
        # a firm known only by its licence number, with a second listing in the same file
        row(uscc="", licence_no="粤B2-20190456", decision_no="粤通管罚〔2026〕933号"),
        row(uscc="", licence_no="粤B2-20190456", ground="B2", decision_no=""),
        # two listings sharing one new decision
        row(uscc=valid_uscc(32), decision_no="粤通管罚〔2026〕934号"),
        row(
            uscc=valid_uscc(32),
            list="dishonest",
            ground="D2",
            decision_no="粤通管罚〔2026〕934号",
        ),
        # joint punishment, lasting as long as the source decision
        row(
            uscc=valid_uscc(33),
            list="dishonest",
            ground="D4",
            decision_no="",
            source_expires_on=(rules.today() + timedelta(days=700)).isoformat(),
        ),
    ]
    data = to_csv(rows)

    savepoint = session.begin_nested()
    start = marks(session)
    plan = validate(session, read_bytes(data), publisher=reviewer)
    assert not plan.errors, [str(p) for p in plan.errors]
    reference_result = apply_plan_per_record(session, plan, publisher=reviewer)
    reference = capture(session, *start)
    savepoint.rollback()
    # The counters rolled back with the savepoint: forget the numbers cached from them.
    session.info.pop("event_block", None)
    session.info.pop("publog_head", None)

    start = marks(session)
    plan = validate(session, read_bytes(data), publisher=reviewer)
    result = apply_plan(session, plan, publisher=reviewer, chunk=7)  # chunks split firms
    bulk = capture(session, *start)

    assert result == reference_result
    assert result.former_names == 1 and result.sanctions_linked >= 2
    assert len(bulk["events"]) == len(reference["events"]) > 3 * len(rows)
    for got, want in zip(bulk["events"], reference["events"], strict=True):
        assert got == want
    assert bulk["records"] == reference["records"]
    assert bulk["log"] == reference["log"]
    assert len(bulk["log"]) == (len(rows) if publish else 0)
    count, problems = publog.verify(session)
    assert not problems, [str(p) for p in problems]


def test_bulk_path_stores_json_as_text_the_database_s_json_functions_read(session, make):
    """The Events' snapshots and a decision's measures are stored as JSON text (SQLite's
    TEXT, not the bytes they are sent as), which the database's own JSON functions read."""
    reviewer = make.actor("reviewer", "MIIT")
    seq, _ = marks(session)
    rows = [
        *generated_rows(20, seed=23),
        row(uscc=valid_uscc(43), decision_no="粤通管罚〔2026〕943号"),
    ]
    plan = validate(session, read_bytes(to_csv(rows)), publisher=reviewer)
    assert apply_plan(session, plan, publisher=reviewer, chunk=8).sanctions >= 1
    session.flush()
    if session.get_bind().dialect.name == "sqlite":
        kind, field, number = "typeof({})", "json_extract({}, '$.{}')", "{}"
        text_kinds = {"text"}
    else:
        kind, field, number = "json_typeof({})", "({}->>'{}')", "CAST({} AS TEXT)"
        text_kinds = {"object", "array"}
    events = session.execute(
        text(
            f"SELECT action, {kind.format('after')}, {kind.format('before')}, "
            f"{field.format('after', 'id')}, {field.format('before', 'id')}, "
            f"{number.format('entity_id')} FROM event WHERE seq > :seq"
        ),
        {"seq": seq},
    ).all()
    assert len(events) > 5 * len(rows)
    assert {after for _, after, *_ in events} <= text_kinds
    # a creation's before: SQL NULL on SQLite, JSON null on PostgreSQL
    assert {before for _, _, before, *_ in events} <= text_kinds | {None, "null"}
    for action, _, _, after_id, before_id, entity_id in events:
        found = after_id if action == "create" else before_id
        assert str(found) == str(entity_id), action
    measures = session.execute(
        text(f"SELECT {kind.format('measures')} FROM sanction WHERE decision_no = :number"),
        {"number": "粤通管罚〔2026〕943号"},
    ).all()
    assert [measured for (measured,) in measures] == ["text" if "text" in text_kinds else "array"]


def test_bulk_import_twice_is_idempotent_and_keeps_the_chain(session, make):
    reviewer = make.actor("reviewer", "MIIT")
    data = to_csv(generated_rows(30, seed=22))
    plan = validate(session, read_bytes(data), publisher=reviewer)
    result = apply_plan(session, plan, publisher=reviewer, chunk=8)
    assert result.published == 30
    again = validate(session, read_bytes(data), publisher=reviewer)
    assert len(again.unchanged) == 30 and not again.rows
    listings = session.scalars(
        select(Listing).where(Listing.published_by_id == reviewer.user_id)
    ).all()
    assert {(lst.state, lst.version_id) for lst in listings} == {("published", 3)}
    assert not publog.verify(session)[1]


def test_bulk_import_lets_go_of_the_records_of_written_chunks(session, make):
    """Each chunk's listings, and the new firms, licences and decisions no later row names,
    leave the session once written: memory follows the chunk, not the file."""
    reviewer = make.actor("reviewer", "MIIT")
    plan = validate(session, read_bytes(to_csv(generated_rows(30, seed=23))), publisher=reviewer)
    held: list[tuple[int, int, int]] = []

    def count_held(_rows: int) -> None:
        objects = list(session.identity_map.values())
        held.append(
            (
                sum(isinstance(o, Listing) for o in objects),
                sum(isinstance(o, Enterprise) for o in objects),
                sum(isinstance(o, Licence) for o in objects),
            )
        )

    result = apply_plan(session, plan, publisher=reviewer, chunk=8, progress=count_held)
    assert result.listings == 30 and result.enterprises >= 20
    assert len(held) == 4
    assert held[-1] == (0, 0, 0)
    assert all(listings == 0 for listings, _, _ in held)
    # what was let go is stored and reads back as written
    assert session.scalar(select(func.count()).select_from(Listing)) >= 30
    assert not publog.verify(session)[1]


# --- the database after the bulk path equals the one after the per-record path -------------

# Clock readings: a column or snapshot key keeps only whether it is set.
CLOCK = frozenset({"at", "created_at", "updated_at", "submitted_at", "published_at", "recorded_at"})
# Columns and snapshot keys holding the id of a record of the named table.
REFERENCES = {"enterprise_id": "enterprise", "sanction_id": "sanction", "event_id": "event"}
WRITTEN = (Enterprise, FormerName, Licence, Sanction, Listing, Event)


def _ids_before(session) -> dict[str, int]:
    return {
        model.__tablename__: session.scalar(select(func.coalesce(func.max(model.id), 0)))
        for model in WRITTEN
    }


def written(session, since: dict[str, int], log_since: int) -> tuple[dict, dict]:
    """What an import wrote after the ids `since` and log entry `log_since`: (the rows as
    stored, the same with every new record's id replaced by its rank in its table and the
    clock readings by whether they are set), for the domain tables, Events, log entries and
    the Merkle tree's nodes."""
    session.flush()
    raw: dict[str, list[dict]] = {}
    for model in WRITTEN:
        table = model.__table__
        query = select(table).where(table.c.id > since[table.name]).order_by(table.c.id)
        raw[table.name] = [dict(r) for r in session.execute(query).mappings()]
    entries = select(LogEntry.__table__).where(LogEntry.number > log_since)
    raw["log_entry"] = [
        dict(r) for r in session.execute(entries.order_by(LogEntry.number)).mappings()
    ]
    nodes = select(LogNode.__table__).order_by(LogNode.level, LogNode.position)
    raw["log_node"] = [dict(r) for r in session.execute(nodes).mappings()]
    rank = {
        name: {r["id"]: i for i, r in enumerate(rows)}
        for name, rows in raw.items()
        if name in {m.__tablename__ for m in WRITTEN}
    }

    def ranked(table: str, value):
        return ("new", rank[table][value]) if value in rank.get(table, {}) else value

    def plain(values: dict | None, table: str) -> dict | None:
        if values is None:
            return None
        out = {}
        for key, value in values.items():
            if key in CLOCK:
                value = value is not None
            elif key == "id":
                value = ranked(table, value)
            elif key in REFERENCES and value is not None:
                value = ranked(REFERENCES[key], value)
            out[key] = value
        return out

    relative = {}
    for name, rows in raw.items():
        if name == "log_node":
            relative[name] = [(r["level"], r["position"]) for r in rows]
            continue
        if name == "log_entry":
            relative[name] = [
                plain(r, "log_entry")
                | {"entity_id": ranked(r["entity_type"], r["entity_id"])}
                | {"payload": plain(json.loads(r["payload"]), r["entity_type"])}
                | {"prev_hash": None, "content_hash": None, "entry_hash": None}
                for r in rows
            ]
            continue
        relative[name] = [plain(r, name) for r in rows]
        if name == "event":
            for event, r in zip(relative[name], rows, strict=True):
                event["entity_id"] = ranked(r["entity_type"], r["entity_id"])
                event["before"] = plain(r["before"], r["entity_type"])
                event["after"] = plain(r["after"], r["entity_type"])
    return raw, relative


@pytest.mark.parametrize("chunk", [40, 5000])
def test_bulk_path_leaves_the_database_the_per_record_path_leaves(
    session, make, monkeypatch, chunk
):
    """A few hundred generated rows (new firms, licences, decisions shared by listings, a
    stored firm under a new name whose stored decision is published with the new listing),
    imported and published: the same rows, Events (kinds, payloads, numbers in the same
    contiguous run) and log entries as the services writing one record at a time; with the
    same ids (SQLite hands out the same ones again), the same hashes and Merkle nodes."""
    reviewer = make.actor("reviewer", "MIIT")
    stored_day = (rules.today() - timedelta(days=200)).isoformat()
    apply_plan(
        session,
        validate(session, read_bytes(to_csv([row(uscc=valid_uscc(41), decided_on=stored_day)]))),
    )
    rows = [
        *generated_rows(300, seed=31),
        row(uscc=valid_uscc(41), name="深圳市另一名称通信有限公司", list="dishonest", ground="D2"),
        row(uscc=valid_uscc(42), decision_no="粤通管罚〔2026〕941号"),
        row(
            uscc=valid_uscc(42), list="dishonest", ground="D2", decision_no="粤通管罚〔2026〕941号"
        ),
    ]
    data = to_csv(rows)
    # one clock for both runs' log entries: their payloads and hashes can be compared
    monkeypatch.setattr(publog, "utcnow", lambda: datetime(2026, 12, 4, 8, 0, tzinfo=UTC))

    savepoint = session.begin_nested()
    since, (seq, log) = _ids_before(session), marks(session)
    plan = validate(session, read_bytes(data), publisher=reviewer)
    assert not plan.errors, [str(p) for p in plan.errors]
    reference_result = apply_plan_per_record(session, plan, publisher=reviewer)
    reference_raw, reference = written(session, since, log)
    savepoint.rollback()
    session.info.pop("event_block", None)
    session.info.pop("publog_head", None)

    assert (_ids_before(session), marks(session)) == (since, (seq, log))
    plan = validate(session, read_bytes(data), publisher=reviewer)
    result = apply_plan(session, plan, publisher=reviewer, chunk=chunk)
    bulk_raw, bulk = written(session, since, log)

    assert result == reference_result
    assert result.former_names == 1 and result.sanctions_linked == 2
    assert len(bulk["event"]) > 5 * len(rows)
    assert [e["seq"] for e in bulk["event"]] == list(range(seq + 1, seq + 1 + len(bulk["event"])))
    for name in reference:
        assert len(bulk[name]) == len(reference[name]), name
        for got, want in zip(bulk[name], reference[name], strict=True):
            assert got == want, name
    if session.get_bind().dialect.name == "sqlite":
        for name in ("log_entry", "log_node"):
            assert bulk_raw[name] == reference_raw[name]
        assert [e["id"] for e in bulk_raw["event"]] == [e["id"] for e in reference_raw["event"]]
    count, problems = publog.verify(session)
    assert not problems, [str(p) for p in problems]
