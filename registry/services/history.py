"""Writing the append-only history (操作记录) and the optimistic-locking checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.exc import StaleDataError

from registry import publog
from registry.errors import ConflictError
from registry.messages import _
from registry.models import Event
from registry.rules import Actor, check_may, is_cross_authority
from registry.sequence import next_seq

E = TypeVar("E")

# Secrets and keyed hashes never enter the history (the access code's hash, the rate
# limits' address key).
SKIPPED_COLUMNS = frozenset(
    {
        "password_hash",
        "session_token",
        "updated_at",
        "created_at",
        "access_code_hash",
        "address_key",
    }
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, _DATES):
        return _iso(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, _SEQUENCES):
        return [_jsonable(v) for v in value]
    return value


_DATES = (datetime, date)
_SEQUENCES = (list, tuple)


def _iso(value: date) -> str:
    """`value.isoformat()`, remembered: a batch's steps repeat a few days and timestamps
    (a chunk's publication time), and a timestamp's text takes a microsecond to make. The
    key keeps apart what compares equal but reads differently (the same instant in
    another zone, a repeated wall-clock hour)."""
    key: Any = (value, value.tzinfo, value.fold) if isinstance(value, datetime) else value
    found = _ISO.get(key)
    if found is None:
        if len(_ISO) >= 4096:
            _ISO.clear()
        found = _ISO[key] = value.isoformat()
    return found


_ISO: dict[Any, str] = {}


def _snapshot_keys(cls: type) -> tuple[str, ...]:
    keys = _SNAPSHOT_KEYS.get(cls)
    if keys is None:
        mapper: Mapper[Any] = inspect(cls)
        keys = _SNAPSHOT_KEYS[cls] = tuple(
            attr.key for attr in mapper.column_attrs if attr.key not in SKIPPED_COLUMNS
        )
    return keys


_SNAPSHOT_KEYS: dict[type, tuple[str, ...]] = {}
_PLAIN = (str, int, float, bool, type(None))


def snapshot(obj: Any) -> dict[str, Any]:
    """The record's column values as JSON, for the before/after of an Event."""
    out = {}
    for key in _snapshot_keys(type(obj)):
        value = getattr(obj, key)
        out[key] = value if isinstance(value, _PLAIN) else _jsonable(value)
    return out


def snapshot_of_row(cls: type, row: dict[str, Any]) -> dict[str, Any]:
    """`snapshot` of a record of `cls` given as its column values (a row being inserted)."""
    out = {}
    for key in _snapshot_keys(cls):
        value = row[key]
        out[key] = value if isinstance(value, _PLAIN) else _jsonable(value)
    return out


def jsonable_values(values: dict[str, Any]) -> dict[str, Any]:
    """Column values as a snapshot holds them (dates as ISO text)."""
    return {k: v if isinstance(v, _PLAIN) else _jsonable(v) for k, v in values.items()}


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in after.items() if before.get(k) != v}


def entity_type(entity: Any) -> str:
    """The table name an Event of `entity` records."""
    return entity_type_of(type(entity))


def entity_type_of(cls: type) -> str:
    """The table name an Event of a record of `cls` records (cached per class)."""
    name = _ENTITY_TYPES.get(cls)
    if name is None:
        # a plain str: the Table's name is a quoted_name, a str subclass the SQLite driver
        # binds only after asking it for an adapter, and each asking raises an AttributeError
        name = _ENTITY_TYPES[cls] = str(inspect(cls).local_table.name)
    return name


_ENTITY_TYPES: dict[type, str] = {}


def event_values(
    actor: Actor,
    entity: Any,
    action: str,
    *,
    seq: int,
    after: dict[str, Any],
    before: dict[str, Any] | None = None,
    reason: str = "",
    authority_id: int | None = None,
) -> dict[str, Any]:
    """The column values of the Event of one change, from the snapshots before and after it."""
    record_authority = (
        authority_id if authority_id is not None else getattr(entity, "authority_id", None)
    )
    return event_row(
        actor,
        entity_type(entity),
        record_authority,
        action,
        seq=seq,
        after=after,
        before=before,
        reason=reason,
    )


def event_row(
    actor: Actor,
    table_name: str,
    record_authority: int | None,
    action: str,
    *,
    seq: int,
    after: dict[str, Any],
    before: dict[str, Any] | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """`event_values` of a record named by its table and authority (a row, no object)."""
    return {
        "seq": seq,
        "actor_id": actor.user_id,
        "actor_label": actor.username,
        "authority_id": record_authority,
        "entity_type": table_name,
        "entity_id": after["id"],
        "action": action,
        "reason": reason,
        "before": before,
        "after": after
        if before is None
        else changed(before, after) | {"version_id": after.get("version_id")},
        "cross_authority": record_authority is not None
        and is_cross_authority(actor, record_authority),
    }


def record_event(
    session: Session,
    actor: Actor,
    entity: Any,
    action: str,
    *,
    before: dict[str, Any] | None = None,
    reason: str = "",
    authority_id: int | None = None,
) -> Event:
    """Append one Event for `entity` and flush it."""
    if getattr(entity, "id", None) is None:
        session.flush()
    event = Event(
        **event_values(
            actor,
            entity,
            action,
            seq=next_seq(session),
            after=snapshot(entity),
            before=before,
            reason=reason,
            authority_id=authority_id,
        )
    )
    session.add(event)
    session.flush()  # visible to the caller's queries at once (sessions do not autoflush)
    # the publication log is appended in the same transaction
    if publog.is_publication(event.entity_type, action):
        publog.append(session, event, entity)
    return event


def check_version(entity: Any, expected_version: int | None) -> None:
    """The form carried the version it was loaded at; a newer one means someone saved in between."""
    if expected_version is not None and entity.version_id != expected_version:
        raise ConflictError(_("此记录已被他人修改，请刷新后重试"))


def flush(session: Session) -> None:
    """Flush, turning an optimistic-locking failure into a ConflictError."""
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError(_("此记录已被他人修改，请刷新后重试")) from None


def record_new(
    session: Session, actor: Actor, entity: E, action: str = "create", **event: Any
) -> E:
    """Add a new record, flush it and append the Event of its creation."""
    session.add(entity)
    flush(session)
    record_event(session, actor, entity, action, **event)
    return entity


@contextmanager
def recorded(
    session: Session, actor: Actor, entity: Any, action: str, *, reason: str = ""
) -> Iterator[None]:
    """The change made in the block, recorded: the snapshot before it, then a flush and
    the Event of `action`. Nothing is recorded when the block raises."""
    before = snapshot(entity)
    yield
    flush(session)
    record_event(session, actor, entity, action, before=before, reason=reason)


def check_change(actor: Actor, entity: Any, action: str, expected_version: int | None) -> None:
    """The actor may do `action` to this authority's record, as loaded at `expected_version`."""
    check_may(actor, action, entity.authority_id)
    check_version(entity, expected_version)
