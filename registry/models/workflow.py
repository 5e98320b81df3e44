"""The columns every record under the four-eyes workflow (draft → submitted → published)
carries: its state, who created, submitted and published it, and when it was published."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from registry.db import Tracked, UTCDateTime
from registry.models.account import User
from registry.models.authority import Owned

# Places of the workflow columns (see registry.db): a table with its own submission or
# ending columns gives them SUBMITTED_PLACE or ENDED_PLACE, after the submitter and after
# the publication, where the migrations created them.
STATE_PLACE = 10
CREATED_BY_PLACE = 20
SUBMITTED_BY_PLACE = 30
SUBMITTED_PLACE = 40
PUBLISHED_BY_PLACE = 50
PUBLISHED_AT_PLACE = 60
ENDED_PLACE = 70


def _user_id(place: int) -> Mapped[int | None]:
    return mapped_column(ForeignKey("user_account.id"), sort_order=place)


def _user(mapped: Any, column: str) -> Mapped[User | None]:
    """The user named by `column` of the mapped class (a declared_attr's `cls`, which type
    checkers take for an instance)."""
    return relationship(User, foreign_keys=f"{mapped.__name__}.{column}")


class Workflow(Owned, Tracked):
    """State and actors of a notice, sanction or listing; the state values allowed are each
    table's own CHECK constraint."""

    state: Mapped[str] = mapped_column(String(10), default="draft", sort_order=STATE_PLACE)
    created_by_id: Mapped[int | None] = _user_id(CREATED_BY_PLACE)
    submitted_by_id: Mapped[int | None] = _user_id(SUBMITTED_BY_PLACE)
    published_by_id: Mapped[int | None] = _user_id(PUBLISHED_BY_PLACE)
    published_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), sort_order=PUBLISHED_AT_PLACE
    )

    @declared_attr
    def created_by(cls) -> Mapped[User | None]:
        return _user(cls, "created_by_id")

    @declared_attr
    def submitted_by(cls) -> Mapped[User | None]:
        return _user(cls, "submitted_by_id")

    @declared_attr
    def published_by(cls) -> Mapped[User | None]:
        return _user(cls, "published_by_id")
