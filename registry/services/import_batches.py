"""Import batches (导入批次): the record of one imported file, opened before its rows are
written (the new listings point to it) and closed with its counts and row report, when its
one Event is recorded. The caller commits with the rows, so a failed import leaves no batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from registry.messages import _
from registry.models import Authority, ImportBatch
from registry.rules import Actor, RuleViolation, check_may
from registry.services.history import flush, record_event

# Problems kept in the batch's row report; a file with more keeps the first ones and the count.
REPORT_LIMIT = 1000


def open_batch(
    session: Session,
    actor: Actor,
    authority: Authority,
    *,
    sha256: str,
    size: int,
    filename: str = "",
    source: str = "web",
    total_rows: int = 0,
    publisher: Actor | None = None,
) -> ImportBatch:
    """A new batch of `authority` imported by `actor` (a user, or the CLI's system actor)."""
    if actor.role != "system":
        check_may(actor, "import", authority.id)
    batch = ImportBatch(
        authority_id=authority.id,
        created_by_id=actor.user_id,
        actor_label=actor.username,
        source=source,
        filename=filename[:255],
        sha256=sha256,
        size=size,
        total_rows=total_rows,
        published_by_id=publisher.user_id if publisher is not None else None,
        counts={},
        problems=[],
    )
    session.add(batch)
    flush(session)
    return batch


def close_batch(
    session: Session,
    actor: Actor,
    batch: ImportBatch,
    counts: Mapping[str, int],
    problems: Iterable[Mapping[str, Any]],
    problem_count: int | None = None,
) -> ImportBatch:
    """Store what the import made and its row report; record the batch's Event.
    `problem_count`: how many problems there were, when `problems` are the first ones."""
    report = list(problems)
    batch.counts = dict(counts) | {
        "problems": len(report) if problem_count is None else problem_count
    }
    batch.problems = [dict(p) for p in report[:REPORT_LIMIT]]
    flush(session)
    record_event(session, actor, batch, "import")
    return batch


def check_not_importer(actor: Actor, batch: ImportBatch | None) -> None:
    """Four eyes for imported listings: the importer does not publish their own batch."""
    if batch is not None and actor.user_id is not None and batch.created_by_id == actor.user_id:
        raise RuleViolation("four_eyes", _("不能发布自己导入的记录（双人复核）"))


def report_rows(problems: Iterable[Any]) -> list[dict[str, Any]]:
    """The row report of an import's problems (registry.imports.ImportProblem): row, column,
    severity and the message's Chinese text."""
    return [
        {"row": p.row, "column": p.column, "severity": p.severity, "message": str(p.message)}
        for p in problems
    ]
