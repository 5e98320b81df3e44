"""The command's import of a CSV as a stream (registry.imports.open_path): its rows are
checked a chunk at a time as they are read, and the good ones spooled to a temporary file
to be written. The check finds what the check of the whole file held at once finds, the
writing writes what it writes, and a file changed after its check does not change what is
written: the rows written are the rows checked."""

from __future__ import annotations

import hashlib
from dataclasses import fields

import pytest
from sqlalchemy import func, select

from registry.imports import ImportFileError, apply_plan, open_path, read_path, validate
from registry.models import Event, Listing
from registry.text import clean_display
from tests.test_import import generated_rows, invoke, table_counts, to_csv


def mixed_rows() -> list[dict[str, str]]:
    """Over two check chunks of rows, with problems whose first row is in another chunk:
    duplicates, a licence and a decision number of two firms, a bad check character."""
    rows = generated_rows(1200, seed=17)
    rows.append(dict(rows[3]))  # the same listing as row 5
    twin = dict(rows[900])
    twin["uscc"] = rows[10]["uscc"]  # another firm's USCC, with this firm's licence
    rows.append(twin)
    decided = next(r for r in rows[:400] if r["decision_no"])
    other = dict(rows[1000])
    other["decision_no"] = decided["decision_no"]  # another firm's decision number
    rows.append(other)
    broken = rows[700]["uscc"]
    rows[700]["uscc"] = broken[:17] + ("0" if broken[17] != "0" else "1")
    return rows


def described(plan) -> tuple:
    problems = [(p.row, p.column, str(p.message), p.severity) for p in plan.problems]
    rows = [
        tuple(getattr(row, f.name) for f in fields(row))
        for chunk in plan.chunks(300)
        for row in chunk
    ]
    counts = (plan.total, plan.planned, plan.warning_count, sorted(plan.unchanged))
    return problems, rows, counts, plan.new_sanctions, dict(plan.authorities)


def last_events(session) -> list[tuple]:
    """The last Events: record, action and values but ids and times (a PostgreSQL sequence
    is not rolled back)."""
    found = session.execute(
        select(Event.entity_type, Event.action, Event.after).order_by(Event.id.desc()).limit(300)
    )
    return [
        (kind, action, {k: v for k, v in after.items() if not k.endswith(("id", "_at"))})
        for kind, action, after in found
    ]


@pytest.mark.parametrize("part_first", [False, True])
def test_a_streamed_check_plans_what_the_whole_file_check_plans(session, tmp_path, part_first):
    path = tmp_path / "list.csv"
    rows = mixed_rows()
    if part_first:  # some of the firms, licences, decisions and listings already stored
        path.write_bytes(to_csv(rows[200:500]))
        apply_plan(session, validate(session, read_path(path)))
    path.write_bytes(to_csv(rows))
    whole = validate(session, read_path(path))
    streamed = validate(session, open_path(path), spool=True)
    assert whole.errors and whole.planned > 800
    assert described(streamed) == described(whole)
    parsed = open_path(path)
    aside = validate(session, parsed, spool=True, parse_aside=True)  # two forked parse in turn
    assert described(aside) == described(whole)
    assert parsed.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_streamed_import_writes_what_the_whole_file_import_writes(session, tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(to_csv(generated_rows(700, seed=23)))
    before = table_counts(session)
    plan = validate(session, open_path(path), spool=True)
    result = apply_plan(session, plan, chunk=250)
    streamed = table_counts(session)
    events = last_events(session)
    session.rollback()
    assert table_counts(session) == before
    plan = validate(session, read_path(path))
    assert apply_plan(session, plan, chunk=250) == result
    assert table_counts(session) == streamed
    assert last_events(session) == events


def test_a_file_changed_after_its_check_changes_nothing_written(session, tmp_path):
    path = tmp_path / "list.csv"
    rows = generated_rows(40, seed=29)
    path.write_bytes(to_csv(rows))
    plan = validate(session, open_path(path), spool=True)
    assert not plan.errors
    checked = clean_display(rows[30]["facts"]).strip()  # as the check reads a cell
    rows[30]["facts"] = "检查之后改过的事实"
    path.write_bytes(to_csv(rows))
    apply_plan(session, plan)
    facts = set(session.scalars(select(Listing.facts)))
    assert checked in facts and "检查之后改过的事实" not in facts


@pytest.mark.parametrize(
    ("aside", "before"),
    # the broken record in the first chunk, in the second (the second forked parser's),
    # in the third (the first's)
    [(False, 5), (True, 5), (True, 700), (True, 1200)],
)
def test_a_broken_record_past_the_header_is_a_file_error(session, tmp_path, aside, before):
    path = tmp_path / "list.csv"
    data = to_csv(generated_rows(before, seed=31)) + b"x," + b"a" * 200_000 + b"\n"  # > limit
    path.write_bytes(data)
    with pytest.raises(ImportFileError) as whole:
        read_path(path)
    with pytest.raises(ImportFileError) as streamed:
        validate(session, open_path(path), spool=aside, parse_aside=aside)
    assert str(streamed.value.message) == str(whole.value.message)
    assert session.scalar(select(func.count(Listing.id))) == table_counts(session)["listing"]


def _held_open(path) -> int:
    """How many of this process's file descriptors are open on `path`."""
    import os

    fds = os.listdir("/proc/self/fd")
    return sum(1 for fd in fds if os.path.realpath(f"/proc/self/fd/{fd}") == str(path))


@pytest.mark.parametrize("broken", [False, True])
def test_a_file_a_forked_process_read_is_closed_here_too(session, tmp_path, broken):
    """The parent never reads the stream the forked parser read: its own handle on the file
    is closed when the check ends, well or not, not left to the garbage collector."""
    path = tmp_path / "list.csv"
    data = to_csv(generated_rows(30, seed=41))
    path.write_bytes(data + (b"x," + b"a" * 200_000 + b"\n" if broken else b""))
    parsed = open_path(path)
    assert _held_open(path) == 1
    if broken:
        with pytest.raises(ImportFileError):
            validate(session, parsed, spool=True, parse_aside=True)
    else:
        validate(session, parsed, spool=True, parse_aside=True)
    assert _held_open(path) == 0


def test_closing_a_stream_never_read_closes_its_file(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(to_csv(generated_rows(3, seed=43)))
    parsed = open_path(path)
    assert _held_open(path) == 1
    parsed.close()
    parsed.close()  # again: nothing left to do
    assert _held_open(path) == 0


@pytest.mark.parametrize("spool", [False, True])
def test_the_command_writes_the_same_either_way(app, session, tmp_path, monkeypatch, spool):
    """A file over SPOOL_BYTES has its good rows spooled, a smaller one held: the same
    records, and the batch names the file's SHA-256 and size either way."""
    import hashlib

    from registry import cli
    from registry.models import ImportBatch

    monkeypatch.setattr(cli, "SPOOL_BYTES", 0 if spool else 10**9)
    rows = generated_rows(60, seed=37)
    rows[7]["ground"] = "Z9"
    path = tmp_path / "list.csv"
    path.write_bytes(to_csv(rows))
    before = table_counts(session)
    result = invoke(app, path, "--skip-bad")
    assert result.exit_code == 0, result.output
    assert "row 9 · ground · error" in result.output
    after = table_counts(session)
    assert after["listing"] - before["listing"] == 59
    batch = session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
    assert batch.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert batch.size == path.stat().st_size and batch.counts["listings"] == 59
