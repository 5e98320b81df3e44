"""What a search shows of each firm it found: the firm and its listings in force now, as
plain tuples.

When this process's search index holds every Event the database has and was written from
the same database, they are what the index holds of each firm (registry.search.facts, kept
compactly per process beside the bitmaps), with the catalogue's names of grounds and
authorities: the database would say the same, and a statement per page cost more than the
rest of the hits' work. Otherwise (a follower behind, an index written before it held
listings this way) they are read from the database: one statement per shape (number of
firms, list and ground filters), compiled once per database dialect and run as the
driver's SQL on the request's read connection (registry.web.driversql), the rows read as
the driver returns them. Dates are ISO strings, the form every view shows them in.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Date, bindparam, select
from sqlalchemy.engine import Dialect

from registry import rules, search, visibility
from registry.models import Authority, Enterprise, Ground, Listing
from registry.search.facts import listing_rows
from registry.web import catalogue, driversql, indexing


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


# A HitListing's columns in its order (a row's first nine are one), then a HitFirm's.
_COLUMNS = (
    Listing.id,
    Listing.list_code,
    Ground.code,
    Ground.title,
    Listing.decided_on,
    Listing.listed_on,
    Listing.expires_on,
    Authority.name,
    Authority.code,
    Listing.enterprise_id,
    Enterprise.uscc,
    Enterprise.name,
    Enterprise.province_code,
)
_LISTING = len(HitListing._fields)


@functools.lru_cache(maxsize=512)
def _shape(dialect: Dialect, firms: int, by_list: bool, by_ground: bool) -> driversql.Compiled:
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
    given = {"today", "list_code", "ground", *(f"firm_{i}" for i in range(firms))}
    return driversql.compile_for(query, dialect, given)


# The statement binds firm ids in blocks of this many (a page of search results): a
# shorter list is padded with its last id, so a few shapes serve every count.
_BLOCK = 20


def _day(value: date | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def in_force(
    firm_ids: list[int], filters: search.SearchFilters | None = None
) -> dict[int, tuple[HitFirm, list[HitListing]]]:
    """Firm id -> (firm, its listings in force now matching the list and ground filters,
    latest decision first), for the firms of `firm_ids` that have any: one query (a firm
    given twice is found once)."""
    if not firm_ids:
        return {}
    list_code = filters.list_code if filters is not None else None
    ground = filters.ground if filters is not None else None
    values: dict[str, Any] = {"today": rules.today(), "list_code": list_code, "ground": ground}
    size = -(-len(firm_ids) // _BLOCK) * _BLOCK
    padded = firm_ids + [firm_ids[-1]] * (size - len(firm_ids))
    values.update((f"firm_{i}", firm_id) for i, firm_id in enumerate(padded))
    shape = _shape(driversql.dialect(), size, bool(list_code), bool(ground))
    rows = driversql.run(shape, values)
    found: dict[int, tuple[HitFirm, list[HitListing]]] = {}
    listing, firm, first = HitListing._make, HitFirm._make, _LISTING
    for row in rows:
        firm_id = row[first]
        entry = found.get(firm_id)
        if entry is None:
            entry = found[firm_id] = (firm(row[first:]), [])
        # The decision day (never null) says how the driver gives dates: as ISO text
        # (SQLite), the row's listing is its first columns as they are.
        if isinstance(row[4], str):
            entry[1].append(listing(row[:_LISTING]))
        else:
            entry[1].append(
                HitListing(
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    _day(row[4]),
                    driversql.iso(row[5]),
                    driversql.iso(row[6]),
                    row[7],
                    row[8],
                )
            )
    return found


def held(
    firm_ids: list[int], filters: search.SearchFilters | None = None
) -> dict[int, tuple[HitFirm, list[HitListing]]] | None:
    """`in_force` from what this process's search index holds of the firms (their facts,
    registry.search.facts) and the catalogue's names of grounds and authorities: right
    when the index holds every Event the database has (the highest Event number, read
    with the request's counter, and the database's epoch say so). None
    when it cannot say (an index behind, one of a database created again, a firm it does
    not hold, an index written before it kept listings this way, a ground or an authority
    the catalogue does not know): the database is read instead."""
    if not firm_ids:
        return {}
    facts = indexing.firm_facts(firm_ids)
    if facts is None:
        return None
    names = catalogue.get()
    grounds, authorities = names.ground_names, names.authority_names
    today = rules.today().isoformat()
    list_code = filters.list_code if filters is not None else None
    ground = filters.ground if filters is not None else None
    in_force_on = visibility.held_listing_in_force
    new = tuple.__new__  # (the named tuples' own __new__ is a Python function)
    found: dict[int, tuple[HitFirm, list[HitListing]]] = {}
    for firm_id in firm_ids:
        firm = facts.get(firm_id)
        if firm is None or not firm.listings:
            return None
        shown = []
        # Each listing's fields as text, latest decision first: those out of force or of
        # another list are skipped before anything is converted.
        for lid, code, ground_id, authority_id, decided, listed, expires in listing_rows(
            firm.listings
        ):
            if expires and not in_force_on(expires, today):
                continue
            if list_code is not None and code != list_code:
                continue
            ground_names = grounds.get(int(ground_id))
            authority = authorities.get(int(authority_id))
            if ground_names is None or authority is None:
                return None
            if ground is not None and ground_names[0] != ground:
                continue
            shown.append(
                new(
                    HitListing,
                    (
                        int(lid),
                        code,
                        ground_names[0],
                        ground_names[1],
                        decided,
                        listed or None,
                        expires or None,
                        authority[0],
                        authority[1],
                    ),
                )
            )
        if shown:
            found[firm_id] = (
                new(HitFirm, (firm_id, firm.uscc or None, firm.name, firm.province or None)),
                shown,
            )
    return found


def for_hits(
    result: search.SearchResult, filters: search.SearchFilters | None = None
) -> list[tuple[HitFirm, list[HitListing]]]:
    """The hits' firms with their listings in force now, in the order of the hits (a hit
    with none left since the index saw it is dropped): from the index when it holds what
    the database says (`held`), else from the database (`in_force`)."""
    ids = [hit.enterprise_id for hit in result.hits]
    found = held(ids, filters)
    if found is None:
        found = in_force(ids, filters)
    return [found[firm_id] for firm_id in ids if firm_id in found]
