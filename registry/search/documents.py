"""From the database to index documents: which firms a change touched, and what each
firm's document holds. Reads only; what is public is decided by registry.visibility."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from registry import text, visibility
from registry.models import Enterprise, Event, Licence, Listing, Sanction
from registry.search.analysis import NAME_SEPARATOR

# Tables whose rows belong to one firm: a change to any of them re-indexes that firm.
_OWNED_BY_FIRM = {"listing": Listing, "sanction": Sanction, "licence": Licence}


def max_seq(session: Session) -> int:
    return session.scalar(select(func.max(Event.seq))) or 0


def touched_since(session: Session, after: int) -> tuple[int, set[int]]:
    """(highest seq, ids of firms touched by events with seq > after)."""
    rows = session.execute(
        select(Event.seq, Event.entity_type, Event.entity_id).where(Event.seq > after)
    ).all()
    if not rows:
        return after, set()
    firms: set[int] = set()
    by_table: dict[str, set[int]] = defaultdict(set)
    for _, entity_type, entity_id in rows:
        if entity_type in ("enterprise", "former_name"):
            firms.add(entity_id)
        elif entity_type in _OWNED_BY_FIRM:
            by_table[entity_type].add(entity_id)
    for table, ids in by_table.items():
        model = _OWNED_BY_FIRM[table]
        for chunk in _chunks(sorted(ids)):
            firms.update(
                session.scalars(select(model.enterprise_id).where(model.id.in_(chunk))).all()
            )
    return max(seq for seq, _, _ in rows), firms


def indexable_ids(session: Session, on: date) -> list[int]:
    """Firms with at least one listing in force on `on`."""
    return list(
        session.scalars(
            select(Listing.enterprise_id)
            .where(visibility.listing_in_force(on))
            .distinct()
            .order_by(Listing.enterprise_id)
        )
    )


def documents(session: Session, ids: Iterable[int], on: date) -> Iterator[tuple[int, Any]]:
    """(firm id, document or None) for each id; None when nothing about it is public."""
    for chunk in _chunks(sorted(set(ids))):
        listings: dict[int, list[Listing]] = defaultdict(list)
        for listing in session.scalars(
            select(Listing)
            .where(Listing.enterprise_id.in_(chunk), visibility.listing_in_force(on))
            .options(selectinload(Listing.ground), selectinload(Listing.sanction))
            .order_by(Listing.id)
        ):
            listings[listing.enterprise_id].append(listing)
        decisions: dict[int, set[str]] = defaultdict(set)
        for firm_id, number in session.execute(
            select(Sanction.enterprise_id, Sanction.decision_no_canonical).where(
                Sanction.enterprise_id.in_(chunk), visibility.sanction_public()
            )
        ):
            decisions[firm_id].add(number)
        firms = {
            firm.id: firm
            for firm in session.scalars(
                select(Enterprise)
                .where(Enterprise.id.in_(chunk))
                .options(selectinload(Enterprise.former_names), selectinload(Enterprise.licences))
            )
        }
        for firm_id in chunk:
            firm = firms.get(firm_id)
            if firm is None or not listings[firm_id]:
                yield firm_id, None
            else:
                yield firm_id, _document(firm, listings[firm_id], decisions[firm_id])


def _document(firm: Enterprise, listings: list[Listing], decisions: set[str]) -> dict[str, Any]:
    names = [text.normalize(firm.name)]
    for former in firm.former_names:
        normalised = text.normalize(former.name)
        if normalised and normalised not in names:
            names.append(normalised)
    joined = NAME_SEPARATOR.join(names)
    return {
        "kind": "firm",
        "eid": str(firm.id),
        "names": joined,
        "words": joined,
        "names_norm": joined,
        "name": firm.name,
        "uscc": firm.uscc or "",
        "licences": " ".join(sorted({lic.number_canonical for lic in firm.licences})),
        "decisions": " ".join(sorted(decisions)),
        "province": firm.province_code or "",
        "listings": [
            {
                "id": listing.id,
                "list": listing.list_code,
                "ground": listing.ground.code,
                "year": listing.decided_on.year,
                "decided_on": listing.decided_on.isoformat(),
                "expires_on": listing.expires_on.isoformat() if listing.expires_on else None,
            }
            for listing in listings
        ],
    }


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
