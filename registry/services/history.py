"""Writing the append-only history (操作记录) and the optimistic-locking checks."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from registry.errors import ConflictError
from registry.models import Event, SequenceCounter
from registry.rules import Actor, is_cross_authority

SKIPPED_COLUMNS = frozenset({"password_hash", "session_token", "updated_at", "created_at"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _snapshot_keys(cls: type) -> tuple[str, ...]:
    keys = _SNAPSHOT_KEYS.get(cls)
    if keys is None:
        keys = _SNAPSHOT_KEYS[cls] = tuple(
            attr.key for attr in inspect(cls).column_attrs if attr.key not in SKIPPED_COLUMNS
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


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in after.items() if before.get(k) != v}


# Event numbers are reserved in growing blocks per transaction (1, 2, 4, ... up to
# MAX_BLOCK): a request that writes a few events costs one counter UPDATE, an import of
# thousands a handful. Unused numbers of a block are skipped; readers only need
# "seq > last applied", which gaps do not disturb. Other sequences (the publication log)
# must stay gapless and take exactly one number at a time.
MAX_BLOCK = 1024


def _take(session: Session, name: str, count: int) -> int:
    """Advance counter `name` by `count`; returns the new value. The row stays locked
    until commit, so numbers are handed out in commit order."""
    return session.execute(
        update(SequenceCounter)
        .where(SequenceCounter.name == name)
        .values(value=SequenceCounter.value + count)
        .returning(SequenceCounter.value)
        # No ORM object of the counter is ever loaded: don't match the identity map.
        .execution_options(synchronize_session=False)
    ).scalar_one()


def take_numbers(session: Session, name: str, count: int) -> int:
    """Take `count` consecutive numbers of a gapless sequence at once; returns the last."""
    return _take(session, name, count)


def current_transaction(session: Session) -> Any:
    """The innermost transaction: caches of numbers taken in it die with it, so a rolled
    back savepoint never hands out numbers its counter UPDATE no longer holds."""
    return session.get_nested_transaction() or session.get_transaction()


def next_seq(session: Session, name: str = "event") -> int:
    """Take the next number of a sequence. Only "event" uses reserved blocks."""
    if name != "event":
        return _take(session, name, 1)
    block = session.info.get("event_block")
    transaction = current_transaction(session)
    if block is None or block[0] > block[1] or block[2] is not transaction:
        size = 1 if block is None or block[2] is not transaction else min(2 * block[3], MAX_BLOCK)
        end = _take(session, name, size)
        block = [end - size + 1, end, transaction, size]
    number = block[0]
    block[0] += 1
    session.info["event_block"] = block
    return number


def next_seqs(session: Session, count: int) -> list[int]:
    """The next `count` event numbers, in order: what is left of this transaction's block
    first, the rest with one counter UPDATE (the batch version of `next_seq`)."""
    numbers: list[int] = []
    block = session.info.get("event_block")
    if block is not None and block[2] is current_transaction(session):
        while block[0] <= block[1] and len(numbers) < count:
            numbers.append(block[0])
            block[0] += 1
    missing = count - len(numbers)
    if missing:
        end = _take(session, "event", missing)
        numbers.extend(range(end - missing + 1, end + 1))
        # spent: the next next_seq takes a fresh block
        session.info["event_block"] = [end + 1, end, current_transaction(session), MAX_BLOCK]
    return numbers


def entity_type(entity: Any) -> str:
    """The table name an Event of `entity` records (cached per class)."""
    cls = type(entity)
    name = _ENTITY_TYPES.get(cls)
    if name is None:
        name = _ENTITY_TYPES[cls] = inspect(cls).local_table.name
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
    return {
        "seq": seq,
        "actor_id": actor.user_id,
        "actor_label": actor.username,
        "authority_id": record_authority,
        "entity_type": entity_type(entity),
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
    from registry import publog  # the publication log, same transaction (SPEC section 6)

    if publog.is_publication(event.entity_type, action):
        publog.append(session, event, entity)
    return event


def check_version(entity: Any, expected_version: int | None) -> None:
    """The form carried the version it was loaded at; a newer one means someone saved in between."""
    if expected_version is not None and entity.version_id != expected_version:
        raise ConflictError(
            "此记录已被他人修改，请刷新后重试 / someone else saved this record in the meantime; "
            "reload it and apply your change again"
        )


def flush(session: Session) -> None:
    """Flush, turning an optimistic-locking failure into a ConflictError."""
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError(
            "此记录已被他人修改，请刷新后重试 / someone else saved this record in the meantime"
        ) from None
