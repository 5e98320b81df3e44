"""Numbered sequences kept in counter rows: event numbers and the publication log's.

A number is taken by updating its counter row in the writing transaction; the row lock is
held until commit, so numbers are handed out (and become visible) in commit order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from registry.models import SequenceCounter

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


def hold(session: Session, name: str = "event") -> None:
    """Lock counter `name` until commit without taking a number: from then on no other
    writer can take one (and on SQLite none can write at all) before this commit."""
    _take(session, name, 0)


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
    number: int = block[0]
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
