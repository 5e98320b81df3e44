"""What the records under the four-eyes workflow (notices, sanctions, listings) share:
editing a draft, and the checks and stamps of submit / return / publish."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict, TypeVar, Unpack

from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.models.workflow import Workflow
from registry.rules import (
    Actor,
    check_editable,
    check_four_eyes,
    check_may,
    check_reason,
    next_state,
)
from registry.services.history import check_change, check_version, recorded

W = TypeVar("W", bound=Workflow)


class StepOptions(TypedDict, total=False):
    """What a workflow step takes besides the record and the action: the reason (required by
    return, remove and annul) and the version the form was loaded at."""

    reason: str
    expected_version: int | None


def check_draft_edit(actor: Actor, record: Workflow, expected_version: int | None) -> None:
    """The actor may edit the authority's record, it is still a draft, and the form was
    loaded at its current version."""
    check_may(actor, "edit", record.authority_id)
    check_editable(record.state)
    check_version(record, expected_version)


def check_step(
    actor: Actor,
    record: Workflow,
    action: str,
    reason: str,
    transitions: dict[tuple[str, str], str],
) -> str:
    """The state `action` leads to, once its reason (where one is needed) and, on publish,
    four eyes are checked."""
    return check_step_from(actor, record.state, record.submitted_by_id, action, reason, transitions)


def check_step_from(
    actor: Actor,
    state: str,
    submitted_by_id: int | None,
    action: str,
    reason: str,
    transitions: dict[tuple[str, str], str],
) -> str:
    """`check_step` of a record given as its state and submitter."""
    check_reason(action, reason)
    new_state = next_state(state, action, transitions)
    if action == "publish":
        check_four_eyes(actor, submitted_by_id)
    return new_state


def stamp(actor: Actor, record: Workflow, action: str, new_state: str) -> None:
    """Set a checked step on the object: the new state and who submitted or published it."""
    for key, value in stamp_values(actor, action, new_state).items():
        setattr(record, key, value)


def stamp_values(actor: Actor, action: str, new_state: str) -> dict[str, Any]:
    """The columns a checked step sets: the new state and who submitted or published it."""
    if action == "submit":
        return {"submitted_by_id": actor.user_id, "state": new_state}
    if action == "publish":
        return {"published_by_id": actor.user_id, "published_at": utcnow(), "state": new_state}
    return {"state": new_state}


def transition(
    session: Session,
    actor: Actor,
    record: W,
    action: str,
    change: Callable[[Actor, W, str, str], None],
    **options: Unpack[StepOptions],
) -> W:
    """Check that the actor may do `action` to the record as loaded, then apply
    `change(actor, record, action, reason)` and record its Event."""
    reason = options.get("reason", "")
    check_change(actor, record, action, options.get("expected_version"))
    with recorded(session, actor, record, action, reason=reason):
        change(actor, record, action, reason)
    return record
