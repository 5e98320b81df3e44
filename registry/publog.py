"""The publication log (公示日志): a SHA-256 hash chain of everything published.

Every publication event — a listing published, removed, expired or annulled, a notice
published — appends one entry in the same transaction as the change:

- ``payload``: the canonical JSON of what was published (the fields of the 2018 MIIT notice:
  name, USCC, licence, decision date, ground, listing authority, plus list, state, dates and
  the action), with ``sort_keys``, ``ensure_ascii=False`` and separators ``(",", ":")``;
- ``content_hash`` = SHA-256 of the payload's UTF-8 bytes;
- ``entry_hash`` = SHA-256 of the canonical JSON of ``{"number", "prev_hash", "content_hash"}``;
- ``prev_hash`` = the previous entry's ``entry_hash`` (64 zeros for entry 1).

The log is also a Merkle tree as RFC 9162 section 2.1 defines (registry/merkle.py): leaf
number - 1 is SHA-256(0x00 || the 32 bytes of ``entry_hash``) — the entry hash already
commits to the number, the previous entry and the payload. The perfect subtrees (table
log_node, leaves at level 0) are written with the entries that complete them, so a tree
head or a proof reads O(log n) rows. Signed tree heads are signed on request from the
stored tree (registry/signing.py): timestamp is the last entry's time, so every host gives
the same head, byte for byte.

Numbers come from the "publog" counter row (``next_seq``), whose row lock is held until
commit: two reviewers publishing at once queue on that row and still give one chain, and
commit order equals number order. Anyone holding a copy of ``/log.json`` can recompute every
hash; ``registry verify-log`` does the same against the database. No Flask here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import Table, func, or_, select
from sqlalchemy.orm import Session

from registry import merkle, rules, signing, visibility
from registry.db import utcnow
from registry.models import (
    Authority,
    Event,
    Ground,
    Listing,
    LogEntry,
    LogNode,
    Notice,
    SequenceCounter,
)
from registry.sequence import current_transaction, next_seq, take_numbers
from registry.services.rows import insert_rows

T = TypeVar("T")
GENESIS_HASH = "0" * 64
SEQUENCE = "publog"
PUBLICATION_EVENTS = frozenset(
    {
        ("listing", "publish"),
        ("listing", "remove"),
        ("listing", "expire"),
        ("listing", "annul"),
        ("notice", "publish"),
    }
)


# json.dumps with these arguments builds an encoder per call; one made once writes the same
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical_json(value: Any) -> str:
    """The text an entry's hashes are taken over: keys sorted, no spaces, UTF-8 text, as
    `json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))` writes
    it. orjson writes the same text in a fifth of the time (every string escape, key order
    and integer alike), but not the same floats (1e+16 against 1e16, NaN against null): a
    value holding a float, or one orjson refuses (an integer past 64 bits, a key that is
    not text), is written by json."""
    if _without_float(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:  # (orjson.JSONEncodeError is one)
            pass
    return _CANONICAL.encode(value)


_NOT_FLOAT = frozenset((str, int, bool, type(None)))  # most values, told by their type


def _without_float(value: Any) -> bool:
    if type(value) in _NOT_FLOAT:
        return True
    if isinstance(value, dict):
        items: Iterable[Any] = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return not isinstance(value, float)
    return all(type(item) in _NOT_FLOAT or _without_float(item) for item in items)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_hash(number: int, prev_hash: str, content_hash: str) -> str:
    return sha256_hex(
        canonical_json({"number": number, "prev_hash": prev_hash, "content_hash": content_hash})
    )


def is_publication(entity_type: str, action: str) -> bool:
    return (entity_type, action) in PUBLICATION_EVENTS


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _day(value: datetime | None) -> str | None:
    return rules.today(value).isoformat() if value is not None else None


def listing_record(listing: Listing) -> dict[str, Any]:
    """The published fields of one listing (2018 notice), as they stand now."""
    enterprise = listing.enterprise
    return listing_record_values(
        name=enterprise.name,
        uscc=enterprise.uscc,
        licences=[licence.number for licence in enterprise.licences],
        province=enterprise.province_code,
        listing={key: getattr(listing, key) for key in _LISTING_KEYS},
        ground=listing.ground,
        authority=listing.authority,
        decision_no=visibility.public_decision_no(listing.sanction),
    )


# The listing's own columns in its published fields.
_LISTING_KEYS = ("list_code", "state", "decided_on", "listed_on", "expires_on", "ended_at")


def listing_record_values(
    *,
    name: str,
    uscc: str | None,
    licences: list[str],
    province: str | None,
    listing: Mapping[str, Any],
    ground: Ground,
    authority: Authority,
    decision_no: str | None,
) -> dict[str, Any]:
    """`listing_record` from the firm's fields and the listing's column values (a row being
    inserted holds them too)."""
    return {
        "name": name,
        "uscc": uscc,
        "licence": licences,
        "province": province,
        "list": listing["list_code"],
        "state": listing["state"],
        "ground": ground.code,
        "ground_title": ground.title,
        "authority": authority.code,
        "authority_name": authority.name,
        "decided_on": _iso(listing["decided_on"]),
        "listed_on": _iso(listing["listed_on"]),
        "expires_on": _iso(listing["expires_on"]),
        "ended_on": _day(listing["ended_at"]),
        "decision_no": decision_no,
    }


def notice_record(notice: Notice) -> dict[str, Any]:
    return {
        "slug": notice.slug,
        "title": notice.title,
        "kind": notice.kind,
        "authority": notice.authority.code,
        "authority_name": notice.authority.name,
        "published_at": _iso(notice.published_at),
        "body_sha256": sha256_hex(notice.body_md or ""),
        "listings": [
            {
                "id": listing.id,
                "name": listing.enterprise.name,
                "uscc": listing.enterprise.uscc,
                "list": listing.list_code,
                "ground": listing.ground.code,
                "decided_on": _iso(listing.decided_on),
            }
            for listing in notice.listings
        ],
    }


def build_record(entity_type: str, entity: Any) -> dict[str, Any]:
    if entity_type == "listing":
        return listing_record(entity)
    if entity_type == "notice":
        return notice_record(entity)
    raise ValueError(f"not a publication: {entity_type}")  # pragma: no cover


def build_payload(
    entity_type: str, entity_id: int, action: str, at: datetime, record: dict[str, Any]
) -> dict[str, Any]:
    return record | {
        "record": entity_type,
        "id": entity_id,
        "action": action,
        "logged_at": at.isoformat(),
    }


def append(session: Session, event: Event, entity: Any) -> LogEntry:
    """Append the entry for a publication event, in the caller's transaction."""
    (entry,) = append_many(session, [(event, entity, None)])
    session.flush()
    return entry


def append_many(
    session: Session, items: list[tuple[Event, Any, dict[str, Any] | None]]
) -> list[LogEntry]:
    """Entries for several publication events, in order: the same chain as appending them
    one by one. Each item is (event, entity, record): `record` is the published fields as
    they stood at that event (None: as the entity stands now). Added, not flushed."""
    entries = [
        LogEntry(**values, event=event)
        for values, (event, _, _) in zip(
            chain_values(
                session,
                [
                    (
                        event.entity_type,
                        event.action,
                        event.authority_id,
                        entity.id,
                        build_record(event.entity_type, entity) if record is None else record,
                    )
                    for event, entity, record in items
                ],
            ),
            items,
            strict=True,
        )
    ]
    session.add_all(entries)
    return entries


def insert_many(
    session: Session, items: list[tuple[dict[str, Any], Any, dict[str, Any] | None]]
) -> int:
    """The batch form of `append_many` for Events inserted as rows: each item is (event
    values including its database ``id``, entity, record). Inserted at once, without ORM
    objects; returns how many entries were written."""
    return insert_records(
        session,
        [
            (
                event,
                build_record(event["entity_type"], entity) if record is None else record,
            )
            for event, entity, record in items
        ],
    )


def insert_records(session: Session, items: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """Entries for Events inserted as rows, given as (event values including their ``id``,
    the published fields as they stood at that event); returns how many were written."""
    entries = record_rows(session, items)
    insert_entries(session, entries)
    return len(entries)


def record_rows(
    session: Session, items: list[tuple[dict[str, Any], dict[str, Any]]]
) -> list[dict[str, Any]]:
    """`insert_records`'s entries, numbered, chained and their tree nodes stored, for the
    caller to insert (`insert_entries`) once their Events are."""
    if not items:
        return []
    rows = chain_values(
        session,
        [
            (
                event["entity_type"],
                event["action"],
                event["authority_id"],
                event["entity_id"],
                record,
            )
            for event, record in items
        ],
    )
    for values, (event, _) in zip(rows, items, strict=True):
        values["event_id"] = event["id"]
    return rows


def insert_entries(session: Session, entries: list[dict[str, Any]]) -> None:
    """INSERT the entries `record_rows` made."""
    insert_rows(session, cast(Table, LogEntry.__table__), entries)


def chain_values(
    session: Session, items: list[tuple[str, str, int | None, int, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The column values of the next entries of the chain, one per (entity type, action,
    authority id, entity id, published fields), numbered and hashed in order (the event
    link is the caller's). Takes the numbers: the counter row stays locked until commit."""
    if not items:
        return []
    # row lock: serialises appends until commit
    last = _take_numbers(session, len(items))
    number = last - len(items) + 1
    cached = session.info.get("publog_head")  # (number, hash) appended earlier in this transaction
    if number == 1:
        prev_hash = GENESIS_HASH
    elif (
        cached is not None and cached[0] == number - 1 and cached[2] is current_transaction(session)
    ):
        prev_hash = cached[1]
    else:
        prev_hash = session.scalar(select(LogEntry.entry_hash).where(LogEntry.number == number - 1))
        if prev_hash is None:
            raise RuntimeError(f"publication log broken: entry {number - 1} is missing")
    at = utcnow().replace(microsecond=0)
    rows = []
    for entity_type, action, authority_id, entity_id, record in items:
        payload = canonical_json(build_payload(entity_type, entity_id, action, at, record))
        content_hash = sha256_hex(payload)
        digest = entry_hash(number, prev_hash, content_hash)
        rows.append(
            {
                "number": number,
                "at": at,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "action": action,
                "authority_id": authority_id,
                "payload": payload,
                "prev_hash": prev_hash,
                "content_hash": content_hash,
                "entry_hash": digest,
            }
        )
        prev_hash = digest
        number += 1
    session.info["publog_head"] = (number - 1, prev_hash, current_transaction(session))
    grow_tree(session, rows[0]["number"] - 1, [leaf_of(row["entry_hash"]) for row in rows])
    return rows


def leaf_of(entry_hash_hex: str) -> bytes:
    """The Merkle leaf hash of an entry: MTH leaf over the raw bytes of its entry hash."""
    return merkle.leaf_hash(bytes.fromhex(entry_hash_hex))


def grow_tree(session: Session, first_index: int, leaves: list[bytes]) -> None:
    """Store the leaves appended at `first_index` and the perfect subtrees they complete."""
    # the left siblings from before the batch: the perfect subtrees that make up [0, first)
    frontier = [
        (level, (first_index >> level) - 1)
        for level in range(first_index.bit_length())
        if first_index >> level & 1
    ]
    stored = fetch_nodes(session, frontier)
    rows = [
        {"level": level, "position": position, "hash": value.hex()}
        for level, position, value in merkle.parents(first_index, leaves, _getter(stored))
    ]
    insert_rows(session, cast(Table, LogNode.__table__), rows)


class TreeBroken(RuntimeError):
    """A stored subtree the tree needs is missing."""


def fetch_nodes(session: Session, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored hashes at these (level, position) pairs, in one query (grouped by level:
    a row-value IN is not answered from the primary key on SQLite)."""
    by_level: dict[int, list[int]] = {}
    for level, position in set(keys):
        by_level.setdefault(level, []).append(position)
    found: dict[tuple[int, int], bytes] = {}
    if not by_level:
        return found
    condition = or_(
        *(
            (LogNode.level == level) & LogNode.position.in_(sorted(positions))
            for level, positions in sorted(by_level.items())
        )
    )
    for level, position, value in session.execute(
        select(LogNode.level, LogNode.position, LogNode.hash).where(condition)
    ):
        found[(level, position)] = bytes.fromhex(value)
    return found


def _getter(found: dict[tuple[int, int], bytes]) -> merkle.NodeSource:
    def get(level: int, position: int) -> bytes:
        try:
            return found[(level, position)]
        except KeyError:
            raise TreeBroken(f"subtree {level}/{position} is missing") from None

    return get


def from_tree(session: Session, algorithm: Callable[[merkle.NodeSource], T]) -> T:
    """Run a merkle algorithm on the stored tree, reading its nodes in one go."""
    return algorithm(_getter(fetch_nodes(session, merkle.nodes_needed(algorithm))))


def tree_size(session: Session) -> int:
    return session.scalar(select(func.max(LogEntry.number))) or 0


def tree_head(session: Session) -> signing.TreeHead:
    """The head of the whole log: size, root hash, and the last entry's time in ms."""
    top = head(session)
    if top is None:
        return signing.TreeHead(0, 0, merkle.EMPTY_ROOT)
    at = top.at if top.at.tzinfo is not None else top.at.replace(tzinfo=UTC)
    root = from_tree(session, lambda nodes: merkle.root(nodes, top.number))
    return signing.TreeHead(top.number, int(at.timestamp() * 1000), root)


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    return from_tree(session, lambda nodes: merkle.inclusion_path(nodes, index, size))


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    return from_tree(session, lambda nodes: merkle.consistency_path(nodes, first, second))


def root_at(session: Session, size: int) -> bytes:
    return from_tree(session, lambda nodes: merkle.root(nodes, size))


def _take_numbers(session: Session, count: int) -> int:
    """Take `count` consecutive log numbers (gapless); returns the last."""
    return next_seq(session, SEQUENCE) if count == 1 else take_numbers(session, SEQUENCE, count)


def head(session: Session) -> LogEntry | None:
    return session.scalar(select(LogEntry).order_by(LogEntry.number.desc()).limit(1))


def entry_json(entry: LogEntry) -> dict[str, Any]:
    """One entry as published in /log.json: everything needed to recompute its hashes."""
    return {
        "number": entry.number,
        "at": entry.at.isoformat(),
        "record": entry.entity_type,
        "id": entry.entity_id,
        "action": entry.action,
        "payload": entry.payload,
        "prev_hash": entry.prev_hash,
        "content_hash": entry.content_hash,
        "entry_hash": entry.entry_hash,
    }


@dataclass(frozen=True)
class ChainProblem:
    number: int | None
    message: str

    def __str__(self) -> str:
        where = f"entry {self.number}" if self.number is not None else "log"
        return f"{where}: {self.message}"


def check_entry(entry: LogEntry, expected_number: int, prev_hash: str) -> list[ChainProblem]:
    """Recompute one entry against its predecessor's hash."""
    problems: list[ChainProblem] = []
    n = entry.number

    def bad(message: str) -> None:
        problems.append(ChainProblem(n, message))

    if n != expected_number:
        bad(f"expected entry number {expected_number} (entries missing or renumbered)")
    if entry.prev_hash != prev_hash:
        bad("prev_hash does not match the previous entry's hash")
    if sha256_hex(entry.payload) != entry.content_hash:
        bad("content_hash does not match the payload")
    if entry_hash(n, entry.prev_hash, entry.content_hash) != entry.entry_hash:
        bad("entry_hash does not match number, prev_hash and content_hash")
    try:
        data = json.loads(entry.payload)
    except ValueError:
        bad("payload is not JSON")
        return problems
    if not isinstance(data, dict) or canonical_json(data) != entry.payload:
        bad("payload is not canonical JSON")
        return problems
    if (data.get("record"), data.get("id"), data.get("action")) != (
        entry.entity_type,
        entry.entity_id,
        entry.action,
    ):
        bad("record, id or action columns differ from the payload")
    if data.get("logged_at") != entry.at.isoformat():
        bad("timestamp differs from the payload's logged_at")
    return problems


def iter_entries(session: Session, batch: int = 1000) -> Iterator[LogEntry]:
    yield from session.scalars(
        select(LogEntry).order_by(LogEntry.number).execution_options(yield_per=batch)
    )


def verify(session: Session) -> tuple[int, list[ChainProblem]]:
    """Recompute the whole chain; returns (entries checked, problems found)."""
    problems: list[ChainProblem] = []
    prev_hash = GENESIS_HASH
    count = 0
    leaves: list[bytes] = []
    for count, entry in enumerate(iter_entries(session), start=1):
        problems.extend(check_entry(entry, count, prev_hash))
        prev_hash = entry.entry_hash
        leaves.append(leaf_of(entry.entry_hash))
    problems.extend(check_tree(session, leaves))
    counter = session.scalar(select(SequenceCounter.value).where(SequenceCounter.name == SEQUENCE))
    if counter is not None and counter != count:
        problems.append(
            ChainProblem(
                None, f"{counter} entries were appended but {count} are present (deleted?)"
            )
        )
    problems.extend(_missing_entries(session))
    return count, problems


def check_tree(session: Session, leaves: list[bytes]) -> list[ChainProblem]:
    """Every stored subtree equals the one recomputed from the entries, none is missing and
    none is extra."""
    expected = merkle.build(leaves)
    problems: list[ChainProblem] = []
    seen = 0
    for level, position, value in session.execute(
        select(LogNode.level, LogNode.position, LogNode.hash)
        .order_by(LogNode.level, LogNode.position)
        .execution_options(yield_per=5000)
    ):
        want = expected.get((level, position))
        number = (position << level) + 1
        if want is None:
            problems.append(ChainProblem(None, f"tree node {level}/{position} has no entries"))
        else:
            seen += 1
            if want.hex() != value:
                what = "leaf hash" if level == 0 else f"tree node {level}/{position}"
                problems.append(ChainProblem(number, f"{what} does not match the entries"))
    if seen != len(expected):
        missing = len(expected) - seen
        problems.append(ChainProblem(None, f"{missing} tree nodes are missing"))
    return problems


def _missing_entries(session: Session) -> list[ChainProblem]:
    """Every publication Event since the log began has its entry."""
    first_event = session.scalar(
        select(func.min(Event.seq)).join(LogEntry, LogEntry.event_id == Event.id)
    )
    if first_event is None:
        return []
    pairs = [
        (Event.entity_type == entity_type) & (Event.action == action)
        for entity_type, action in sorted(PUBLICATION_EVENTS)
    ]
    missing = session.execute(
        select(Event.id, Event.entity_type, Event.entity_id, Event.action)
        .outerjoin(LogEntry, LogEntry.event_id == Event.id)
        .where(Event.seq >= first_event, or_(*pairs), LogEntry.number.is_(None))
        .order_by(Event.seq)
        .limit(100)
    ).all()
    return [
        ChainProblem(
            None,
            f"publication event {row.id} ({row.entity_type}:{row.entity_id} "
            f"{row.action}) has no log entry",
        )
        for row in missing
    ]
