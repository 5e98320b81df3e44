"""Numbers taken ahead for a writer of many chunks (registry.sequence.reserving)."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select, update

from registry.models import SequenceCounter
from registry.sequence import next_seq, next_seqs, reserving, take_numbers


def _value(session, name: str) -> int:
    return session.scalar(select(SequenceCounter.value).where(SequenceCounter.name == name))


@pytest.fixture
def counter_updates(session):
    """The UPDATEs of the counter rows sent on the session's connection."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE SEQUENCE_COUNTER"):
            seen.append(statement)

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", before)
    yield seen
    event.remove(connection, "before_cursor_execute", before)


def test_reserved_numbers_are_consecutive_and_the_counters_end_at_the_last_used(
    session, counter_updates
):
    """Fifty chunks' takes cost a handful of counter UPDATEs, not fifty per counter; the
    numbers are the ones the takes one by one would have given, and on leaving the
    counters stand at the last number handed out (the log's sequence stays gapless)."""
    log_start, event_start = _value(session, "publog"), _value(session, "event")
    logs, events = [], []
    with reserving(session, "event", "publog"):
        for _ in range(50):
            last = take_numbers(session, "publog", 7)
            logs.extend(range(last - 6, last + 1))
            events.extend(next_seqs(session, 11))
    assert logs == list(range(log_start + 1, log_start + 1 + 350))
    assert events == list(range(event_start + 1, event_start + 1 + 550))
    assert _value(session, "publog") == log_start + 350
    assert _value(session, "event") == event_start + 550
    # a doubling reservation per counter (7 then 14, 28 ... for the log), and the give-back
    assert len(counter_updates) <= 2 * 7 + 2
    counter_updates.clear()
    assert next_seq(session) == event_start + 551
    take_numbers(session, "publog", 7)
    take_numbers(session, "publog", 7)
    assert len(counter_updates) == 3  # outside the block: one UPDATE per take again
    assert _value(session, "publog") == log_start + 364


def test_numbers_not_handed_out_are_given_back_when_the_block_raises(session):
    """An error inside the block: the counter is set back to the last number handed out
    before the caller rolls the transaction back (or goes on with it)."""
    start = _value(session, "publog")
    with pytest.raises(ValueError, match="bad row"), reserving(session, "publog"):
        take_numbers(session, "publog", 5)
        take_numbers(session, "publog", 6)  # the reservation doubles: 10 more
        raise ValueError("bad row")
    assert _value(session, "publog") == start + 11
    assert take_numbers(session, "publog", 1) == start + 12


def test_a_take_in_a_savepoint_of_a_reservation_raises(session):
    """A savepoint's rollback would take back the counter UPDATE behind numbers handed out
    from the reservation: taking inside one is refused, not silently gapped."""
    start = _value(session, "publog")
    with reserving(session, "publog"):
        take_numbers(session, "publog", 2)
        savepoint = session.begin_nested()
        with pytest.raises(RuntimeError, match="savepoint"):
            take_numbers(session, "publog", 1)
        savepoint.rollback()
        take_numbers(session, "publog", 1)
    assert _value(session, "publog") == start + 3


def test_a_counter_moved_under_a_reservation_is_refused(session):
    """The reservation relies on the counter row staying locked by its transaction: if
    the counter moved anyway, the next UPDATE's numbers would not follow the reserved
    ones, and the reservation says so instead of handing out a gap or duplicates."""
    with pytest.raises(RuntimeError, match="moved"), reserving(session, "publog"):
        take_numbers(session, "publog", 3)
        session.execute(
            update(SequenceCounter)
            .where(SequenceCounter.name == "publog")
            .values(value=SequenceCounter.value + 100)
        )
        take_numbers(session, "publog", 4)


def test_the_block_s_own_error_is_raised_when_its_give_back_fails(session):
    """An error inside the block stays the error raised, even when the numbers cannot be
    given back after it (the caller rolls the transaction back either way)."""
    with pytest.raises(ValueError, match="bad row"), reserving(session, "publog"):
        take_numbers(session, "publog", 3)
        take_numbers(session, "publog", 4)  # 6 more reserved: 2 left to give back
        session.execute(
            update(SequenceCounter)
            .where(SequenceCounter.name == "publog")
            .values(value=SequenceCounter.value + 100)
        )
        raise ValueError("bad row")
