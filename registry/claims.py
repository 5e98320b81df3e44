"""Claims on the rows of a delivery queue (the mail outbox, webhook deliveries): a sender
takes a pending row for a while with a conditional UPDATE, so two processes never send it
at once, and a sender that dies lets the claim lapse instead of holding the row."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.orm import Session


def unclaimed(model: Any, now: datetime) -> ColumnElement[bool]:
    """The rows of `model` that no sender holds at `now`."""
    return or_(model.claimed_until.is_(None), model.claimed_until < now)


def claim(session: Session, model: Any, row_id: int, now: datetime, seconds: float) -> bool:
    """Take the pending row for `seconds` unless another sender holds it; committed at once."""
    result = session.execute(
        update(model)
        .where(model.id == row_id, model.state == "pending", unclaimed(model, now))
        .values(claimed_until=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0))
