"""What a search shows of each firm it found: the firm and its listings in force now, read
from the database (the index only finds candidates) as plain tuples.

One statement per shape (number of firms, list and ground filters), compiled once per
database dialect and run as the driver's SQL on the request's connection, the rows read as
the driver returns them: compiling, type processing and the objects built per row cost more
than the query itself. Dates come back as ISO strings, the form every view shows them in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Date, Engine, bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from registry import rules, search, visibility
from registry.models import Authority, Enterprise, Ground, Listing


class HitFirm(NamedTuple):
    id: int
    uscc: str | None
    name: str
    province_code: str | None


class HitListing(NamedTuple):
    id: int
    list_code: str
    ground_code: str
    ground_title: str
    decided_on: str
    listed_on: str | None
    expires_on: str | None
    authority_name: str
    authority_code: str


_COLUMNS = (
    Listing.id,
    Listing.enterprise_id,
    Enterprise.uscc,
    Enterprise.name,
    Enterprise.province_code,
    Listing.list_code,
    Ground.code,
    Ground.title,
    Listing.decided_on,
    Listing.listed_on,
    Listing.expires_on,
    Authority.name,
    Authority.code,
)


class _Shape(NamedTuple):
    sql: str
    # Per parameter of the statement, in the driver's order: its key in the statement, the
    # name of a value given at execution or else a constant of the statement (the
    # published state), and the type's converter for the driver.
    params: tuple[tuple[str, str | None, Any, Callable[[Any], Any] | None], ...]
    positional: bool


@functools.lru_cache(maxsize=512)
def _shape(dialect: Dialect, firms: int, by_list: bool, by_ground: bool) -> _Shape:
    """The statement for `firms` firm ids, compiled for `dialect`."""
    ids: list[Any] = [bindparam(f"firm_{i}") for i in range(firms)]
    query = (
        select(*_COLUMNS)
        .join(Enterprise, Enterprise.id == Listing.enterprise_id)
        .join(Ground, Ground.id == Listing.ground_id)
        .join(Authority, Authority.id == Listing.authority_id)
        .where(
            visibility.listing_in_force(bindparam("today", type_=Date)),
            Listing.enterprise_id.in_(ids),
        )
        .order_by(Listing.decided_on.desc(), Listing.id.desc())
    )
    if by_list:
        query = query.where(Listing.list_code == bindparam("list_code"))
    if by_ground:
        query = query.where(Ground.code == bindparam("ground"))
    compiled = query.compile(dialect=dialect)
    given = {"today", "list_code", "ground", *(f"firm_{i}" for i in range(firms))}
    order = compiled.positiontup if compiled.positional else list(compiled.binds)
    params: list[tuple[str, str | None, Any, Callable[[Any], Any] | None]] = []
    for name in order or ():
        bind = compiled.binds[name]
        convert = bind.type.bind_processor(dialect)
        if name in given:
            params.append((name, name, None, convert))
        else:
            params.append((name, None, convert(bind.value) if convert else bind.value, None))
    return _Shape(compiled.string, tuple(params), bool(compiled.positional))


def _iso(value: date | str | None) -> str | None:
    return value if value is None or isinstance(value, str) else value.isoformat()


def _day(value: date | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _watched(engine: Engine) -> bool:
    """Whether anything listens to the engine's statements (tests counting them)."""
    return bool(engine.dispatch.before_cursor_execute or engine.dispatch.after_cursor_execute)


def _arguments(shape: _Shape, values: dict[str, Any]) -> Any:
    """The statement's parameters for the driver, from `values` by name."""
    ordered = tuple(
        (convert(values[name]) if convert else values[name]) if name else constant
        for _key, name, constant, convert in shape.params
    )
    if shape.positional:
        return ordered
    return {key: value for (key, *_rest), value in zip(shape.params, ordered, strict=True)}


def in_force(
    session: Session, firm_ids: list[int], filters: search.SearchFilters | None = None
) -> dict[int, tuple[HitFirm, list[HitListing]]]:
    """Firm id -> (firm, its listings in force now matching the list and ground filters,
    latest decision first), for the firms of `firm_ids` that have any: one query."""
    if not firm_ids:
        return {}
    list_code = filters.list_code if filters is not None else None
    ground = filters.ground if filters is not None else None
    values: dict[str, Any] = {"today": rules.today(), "list_code": list_code, "ground": ground}
    values.update((f"firm_{i}", firm_id) for i, firm_id in enumerate(firm_ids))
    bind = session.get_bind()
    if isinstance(bind, Engine) and not session.in_transaction() and not _watched(bind):
        # The only statement of a request that has not begun a transaction: run on a pooled
        # driver connection, without the session's transaction and SQLAlchemy's execution
        # layer around it (with them, the same rows cost twice the CPU).
        shape = _shape(bind.dialect, len(firm_ids), bool(list_code), bool(ground))
        raw = bind.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(shape.sql, _arguments(shape, values))
            rows = cursor.fetchall()
            cursor.close()
        finally:
            raw.close()  # back to the pool, rolled back
    else:  # within the request's transaction (and seen by statement listeners)
        connection = session.connection()
        shape = _shape(connection.dialect, len(firm_ids), bool(list_code), bool(ground))
        rows = connection.exec_driver_sql(shape.sql, _arguments(shape, values)).fetchall()
    found: dict[int, tuple[HitFirm, list[HitListing]]] = {}
    for row in rows:
        firm_id = row[1]
        entry = found.get(firm_id)
        if entry is None:
            entry = found[firm_id] = (HitFirm(firm_id, row[2], row[3], row[4]), [])
        entry[1].append(
            HitListing(
                row[0],
                row[5],
                row[6],
                row[7],
                _day(row[8]),
                _iso(row[9]),
                _iso(row[10]),
                row[11],
                row[12],
            )
        )
    return found


def for_hits(
    session: Session, result: search.SearchResult, filters: search.SearchFilters | None = None
) -> list[tuple[HitFirm, list[HitListing]]]:
    """The hits' firms with their listings in force now, in the order of the hits (a hit
    with none left since the index saw it is dropped)."""
    found = in_force(session, [hit.enterprise_id for hit in result.hits], filters)
    return [found[hit.enterprise_id] for hit in result.hits if hit.enterprise_id in found]
