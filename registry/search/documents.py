"""From the database to index documents: which firms a change touched, and what each
firm's document holds. Reads only; what is public is decided by registry.visibility."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, case, func, select
from sqlalchemy.orm import Session

from registry import text, visibility
from registry.models import (
    Enterprise,
    Event,
    FormerName,
    Ground,
    Licence,
    Listing,
    Sanction,
    SequenceCounter,
)
from registry.search.analysis import NAME_SEPARATOR, name_words

# Tables whose rows belong to one firm: a change to any of them re-indexes that firm.
_OWNED_BY_FIRM = {"listing": Listing, "sanction": Sanction, "licence": Licence}
# Events whose entity id names the firm itself
_FIRM_EVENTS = ("enterprise", "former_name")
_CHUNK = 2000


def max_seq(session: Session) -> int:
    return session.scalar(select(func.max(Event.seq))) or 0


def committed_seq(session: Session) -> int:
    """The event counter: the last number handed out, at least max(Event.seq) (numbers are
    reserved in blocks, so some are never used). What an index is caught up to."""
    value = session.scalar(select(SequenceCounter.value).where(SequenceCounter.name == "event"))
    return value if value is not None else max_seq(session)


# What tells one database's history from another's at the same event numbers (a database
# created again, restored, another at the same address): its first Event's number and time,
# in the driver's form.
EPOCH_SQL = "SELECT seq, at FROM event ORDER BY seq LIMIT 1"


def epoch_of(row: Any) -> str:
    """`EPOCH_SQL`'s row (None: no Event yet) as the epoch's text."""
    return "" if row is None else f"{row[0]}|{row[1]}"


def database_epoch(session: Session) -> str:
    """The database's epoch (`EPOCH_SQL`), read in the driver's form as a request reads it."""
    return epoch_of(session.connection().exec_driver_sql(EPOCH_SQL).first())


def touched_since(session: Session, after: int) -> tuple[int, set[int]]:
    """(highest seq, ids of firms touched by events with seq > after).

    One query maps each Event to its firm in the database (a large import leaves hundreds
    of thousands of Events: fetched as rows and mapped here, they cost seconds). The
    highest number is read first and bounds the firms' query, so that an Event committed
    in between is left to the next catch-up rather than counted as applied."""
    upto = session.scalar(select(func.max(Event.seq)).where(Event.seq > after))
    if upto is None:
        return after, set()
    owners = [model.__table__ for model in _OWNED_BY_FIRM.values()]
    joined: Any = Event.__table__
    for name, owner in zip(_OWNED_BY_FIRM, owners, strict=True):
        joined = joined.outerjoin(
            owner, and_(Event.entity_type == name, owner.c.id == Event.entity_id)
        )
    query = (
        select(
            func.coalesce(
                *(owner.c.enterprise_id for owner in owners),
                case((Event.entity_type.in_(_FIRM_EVENTS), Event.entity_id)),
            )
        )
        .select_from(joined)
        .where(
            Event.seq > after,
            Event.seq <= upto,
            Event.entity_type.in_((*_FIRM_EVENTS, *_OWNED_BY_FIRM)),
        )
    )
    firms = set(session.scalars(query.distinct()))
    firms.discard(None)  # a row its Event named that is no longer there
    return upto, firms


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
    for firm_id, parts in records(session, ids, on):
        yield firm_id, None if parts is None else document(parts)


def records(session: Session, ids: Iterable[int], on: date) -> Iterator[tuple[int, Any]]:
    """(firm id, what its document is made of, or None) for each id, in id order: plain
    rows, a query per table for every _CHUNK firms, through the session's connection (Core
    rows: the ORM's result processing cost more than the reading, and a reindex reads every
    firm). A chunk of neighbouring ids is read as a range of ids, not a list of them."""
    connection = session.connection()
    for chunk in _chunks(sorted(set(ids)), _CHUNK):
        wanted = set(chunk)
        dense = chunk[-1] - chunk[0] < 2 * len(chunk)

        def where(column: Any, chunk: list[int] = chunk, dense: bool = dense) -> Any:
            return column.between(chunk[0], chunk[-1]) if dense else column.in_(chunk)

        listings = _listings(connection, where(Listing.enterprise_id), on)
        decisions = _by_firm(
            connection,
            select(Sanction.enterprise_id, Sanction.decision_no_canonical).where(
                where(Sanction.enterprise_id), visibility.sanction_public()
            ),
        )
        former = _by_firm(
            connection,
            select(FormerName.enterprise_id, FormerName.name)
            .where(where(FormerName.enterprise_id))
            .order_by(FormerName.id),
        )
        licences = _by_firm(
            connection,
            select(Licence.enterprise_id, Licence.number_canonical).where(
                where(Licence.enterprise_id)
            ),
        )
        firms = {
            row.id: row
            for row in connection.execute(
                select(
                    Enterprise.id, Enterprise.name, Enterprise.uscc, Enterprise.province_code
                ).where(where(Enterprise.id))
            )
            if row.id in wanted
        }
        for firm_id in chunk:
            firm = firms.get(firm_id)
            if firm is None or not listings.get(firm_id):
                yield firm_id, None
            else:
                yield (
                    firm_id,
                    (
                        tuple(firm),
                        former.get(firm_id, []),
                        set(licences.get(firm_id, ())),
                        listings[firm_id],
                        set(decisions.get(firm_id, ())),
                    ),
                )


def _listings(connection: Connection, condition: Any, on: date) -> dict[int, list[dict[str, Any]]]:
    """The listings in force on `on` of the firms `condition` selects, as stored fields."""
    listings: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in connection.execute(
        select(
            Listing.id,
            Listing.enterprise_id,
            Listing.list_code,
            Ground.code,
            Listing.decided_on,
            Listing.listed_on,
            Listing.expires_on,
            Listing.ground_id,
            Listing.authority_id,
        )
        .join(Ground, Ground.id == Listing.ground_id)
        .where(condition, visibility.listing_in_force(on))
        .order_by(Listing.id)
    ):
        listings[row.enterprise_id].append(
            {
                "id": row.id,
                "list": row.list_code,
                "ground": row.code,
                "year": row.decided_on.year,
                "decided_on": row.decided_on.isoformat(),
                "expires_on": row.expires_on.isoformat() if row.expires_on else None,
                # What a search shows of the listing besides (registry.web.hits): the ground
                # and authority by id, their names read from the catalogue when shown.
                "listed_on": row.listed_on.isoformat() if row.listed_on else None,
                "ground_id": row.ground_id,
                "authority_id": row.authority_id,
            }
        )
    return listings


def _by_firm(connection: Connection, query: Any) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = defaultdict(list)
    for firm_id, value in connection.execute(query):
        found[firm_id].append(value)
    return found


def document(parts: tuple) -> dict[str, Any]:
    """A firm's index document from what `records` read for it."""
    return _document(*parts)


def _document(
    firm: Any,
    former_names: list[str],
    licences: set[str],
    listings: list[dict[str, Any]],
    decisions: set[str],
) -> dict[str, Any]:
    firm_id, name, uscc, province_code = firm
    names = [text.normalize(name)]
    for former in former_names:
        normalised = text.normalize(former)
        if normalised and normalised not in names:
            names.append(normalised)
    joined = NAME_SEPARATOR.join(names)
    return {
        "kind": "firm",
        "eid": str(firm_id),
        "names_norm": joined,
        "terms": name_words(joined),
        "name": name,
        "uscc": uscc or "",
        "licences": " ".join(sorted(licences)),
        "decisions": " ".join(sorted(decisions)),
        "province": province_code or "",
        "listings": listings,
    }


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
