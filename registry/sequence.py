"""Numbered sequences kept in counter rows: event numbers and the publication log's.

A number is taken by updating its counter row in the writing transaction; the row lock is
held until commit, so numbers are handed out (and become visible) in commit order.

A writer of many chunks (an import) takes its numbers `reserving` them: a counter UPDATE
whose result must be awaited is a point where the writer waits for every statement sent
before it (registry.dbpipe runs them in another process), so the chunks draw from a
reservation that grows by doubling, and what is left of it is given back at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
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
    until commit, so numbers are handed out in commit order. Within `reserving(name)`
    the numbers come from the reservation."""
    if count:
        reservation: _Reservation | None = session.info.get(_RESERVED, {}).get(name)
        if reservation is not None:
            return reservation.take(session, count)
    return _advance(session, name, count)


def _advance(session: Session, name: str, count: int) -> int:
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


_RESERVED = "sequence_reserved"


class _Reservation:
    """Numbers of one counter taken ahead in one transaction: `next` to `end` are taken
    from the database and not yet handed out."""

    def __init__(self, name: str, transaction: Any) -> None:
        self.name = name
        self.transaction = transaction
        self.next = 0
        self.end = -1
        self.size = 0  # the last UPDATE's count

    def take(self, session: Session, count: int) -> int:
        if current_transaction(session) is not self.transaction:
            # a savepoint's rollback would take back numbers handed out from this
            raise RuntimeError(
                f"sequence {self.name}: numbers taken in a savepoint of a reservation"
            )
        left = self.end - self.next + 1
        if left < count:
            size = max(count - left, 2 * self.size)
            end = _advance(session, self.name, size)
            if self.size and end - size != self.end:
                raise RuntimeError(f"sequence {self.name}: the counter moved during a reservation")
            if not self.size:
                self.next = end - size + 1
            self.size = size
            self.end = end
        self.next += count
        return self.next - 1

    def give_back(self, session: Session) -> None:
        """The counter set back to the last number handed out (it was locked by this
        transaction since the first take, so it still stands at `end`)."""
        if self.next > self.end or current_transaction(session) is not self.transaction:
            return
        result = session.execute(
            update(SequenceCounter)
            .where(SequenceCounter.name == self.name, SequenceCounter.value == self.end)
            .values(value=self.next - 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise RuntimeError(f"sequence {self.name}: the counter moved during a reservation")
        self.end = self.next - 1


@contextmanager
def reserving(session: Session, *names: str) -> Iterator[None]:
    """Numbers of the counters `names` taken in this transaction are reserved ahead, in
    UPDATEs of growing counts (at least twice the last), instead of one UPDATE per take;
    on leaving, the numbers not handed out are given back, so that the counter ends at the
    last number used (a gapless sequence stays gapless). Not for a block that opens a
    savepoint: its takes raise."""
    reserved: dict[str, _Reservation] = session.info.setdefault(_RESERVED, {})
    session.connection()  # the transaction begun, if it was not: the reservation's own
    transaction = current_transaction(session)
    mine = [name for name in names if name not in reserved]  # an outer block's stay its own
    for name in mine:
        reserved[name] = _Reservation(name, transaction)
    try:
        yield
    except BaseException:
        # The block's error is the one raised. The transaction may be unusable after it;
        # the caller rolls it back, and the reservation's UPDATEs with it.
        with suppress(Exception):
            _end(session, reserved, mine, transaction)
        raise
    _end(session, reserved, mine, transaction)


def _end(
    session: Session, reserved: dict[str, _Reservation], mine: list[str], transaction: Any
) -> None:
    taken = [reserved.pop(name) for name in mine if name in reserved]
    if not reserved:
        session.info.pop(_RESERVED, None)
    if transaction.is_active:
        for reservation in taken:
            reservation.give_back(session)
