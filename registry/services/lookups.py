"""What the services' builders ask the database while checking a new or changed record.

A form's request asks the session (:class:`Lookups`); the batch import answers the same
questions from the maps it preloaded and keeps up to date across its chunks (a subclass in
:mod:`registry.imports.apply`), so both go through the same builders and checks.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import Authority, Enterprise, Licence, Sanction


class Holder(Protocol):
    """Who holds a USCC, as a clash is reported: by name."""

    @property
    def name(self) -> str: ...


class Lookups:
    """Who holds a USCC, a licence or a decision number, and which provinces exist."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._province_codes: set[str] | None = None

    def uscc_owner(self, uscc: str) -> Holder | None:
        return self.session.scalar(select(Enterprise).where(Enterprise.uscc == uscc))

    def licence_registered(self, canonical: str) -> bool:
        return (
            self.session.scalar(select(Licence.id).where(Licence.number_canonical == canonical))
            is not None
        )

    def decision_holder(self, canonical: str) -> object | None:
        return self.session.scalar(
            select(Sanction).where(Sanction.decision_no_canonical == canonical)
        )

    def province_codes(self) -> set[str]:
        if self._province_codes is None:
            # Authority.province_code, computed from the codes alone (no ORM objects to load)
            self._province_codes = {
                code[:2] + "0000"
                for code in self.session.scalars(
                    select(Authority.code).where(Authority.level != "ministry")
                )
            }
        return self._province_codes
