"""The back office's registers: every listing, sanction, notice or petition its reader may
see, filtered, searched, sorted, counted and paged. Reads only.

A bureau sees its own authority's records; the ministry sees every authority's and may
narrow to one. The same `select_records` statement feeds the page, the counts and the CSV
download, so a download is exactly the filtered view.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, true
from sqlalchemy.orm import Session, joinedload

from registry import text
from registry.models import (
    Enterprise,
    Ground,
    ImportBatch,
    Licence,
    Listing,
    Notice,
    Petition,
    Sanction,
)
from registry.rules import Actor

KINDS = ("listing", "sanction", "notice", "petition")
PER_PAGE = 50
MODELS: dict[str, Any] = {
    "listing": Listing,
    "sanction": Sanction,
    "notice": Notice,
    "petition": Petition,
}
STATES: dict[str, tuple[str, ...]] = {
    "listing": ("draft", "submitted", "published", "removed", "expired", "annulled"),
    "sanction": ("draft", "submitted", "published", "annulled"),
    "notice": ("draft", "submitted", "published"),
    "petition": ("received", "upheld", "rejected", "withdrawn"),
}
# Sort keys each register offers; the first is the default. A leading "-" is descending.
SORTS: dict[str, tuple[str, ...]] = {
    "listing": ("-decided_on", "decided_on", "name", "-submitted_at", "-id"),
    "sanction": ("-decided_on", "decided_on", "name", "-id"),
    "notice": ("-id", "title", "-published_at"),
    "petition": ("-received_on", "received_on", "name", "-id"),
}
# The filters each register understands (the others are ignored for it).
FILTERS: dict[str, frozenset[str]] = {
    "listing": frozenset(
        {"state", "list_code", "ground", "province", "dates", "batch", "submitter", "authority"}
    ),
    "sanction": frozenset({"state", "province", "dates", "submitter", "authority"}),
    "notice": frozenset({"state", "kind", "dates", "submitter", "authority"}),
    "petition": frozenset({"state", "kind", "list_code", "province", "dates", "authority"}),
}


@dataclass(frozen=True)
class Filters:
    """One view of a register. Empty values do not filter. `dates` is the decision date
    (listings, sanctions), the publication day (notices) or the day received (petitions)."""

    state: str = ""
    list_code: str = ""
    ground: str = ""  # ground code, e.g. B1
    province: str = ""  # GB/T 2260 province code of the firm
    date_from: date | None = None
    date_to: date | None = None
    batch: int | None = None  # import batch id
    submitter: int | None = None  # user id
    authority: int | None = None  # the ministry narrows to one authority
    kind: str = ""  # notice kind or petition kind
    q: str = ""  # name, USCC, licence number or decision number
    sort: str = ""
    page: int = 1


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    pages: int
    by_state: dict[str, int]


def _tenancy(model: Any, who: Actor, filters: Filters) -> ColumnElement[bool]:
    if not who.is_ministry:
        return cast(ColumnElement[bool], model.authority_id == who.authority_id)
    if filters.authority is not None:
        return cast(ColumnElement[bool], model.authority_id == filters.authority)
    return true()


def _firm_matches(q: str) -> ColumnElement[bool]:
    """The firm's name contains `q`, or its USCC or one of its licence numbers is `q`."""
    clauses: list[ColumnElement[bool]] = [Enterprise.name.icontains(q, autoescape=True)]
    if text.looks_like_uscc(q):
        clauses.append(Enterprise.uscc == text.canonical_uscc(q))
    clauses.append(
        exists().where(
            Licence.enterprise_id == Enterprise.id,
            Licence.number_canonical == text.canonical_licence(q),
        )
    )
    return or_(*clauses)


def _date_column(kind: str) -> Any:
    return {
        "listing": Listing.decided_on,
        "sanction": Sanction.decided_on,
        "notice": func.date(Notice.published_at),
        "petition": Petition.received_on,
    }[kind]


def _where(kind: str, who: Actor, f: Filters) -> list[ColumnElement[bool]]:
    """The conditions of a view, without the state (counts by state drop only that)."""
    model, allowed = MODELS[kind], FILTERS[kind]
    where = [_tenancy(model, who, f)]
    if f.date_from is not None and "dates" in allowed:
        where.append(_date_column(kind) >= f.date_from)
    if f.date_to is not None and "dates" in allowed:
        where.append(_date_column(kind) <= f.date_to)
    if f.submitter is not None and "submitter" in allowed:
        where.append(model.submitted_by_id == f.submitter)
    if f.kind and "kind" in allowed:
        where.append(model.kind == f.kind)
    if f.province and "province" in allowed:
        where.append(Enterprise.province_code == f.province)
    listing_kind = kind in ("listing", "petition")
    if f.list_code and "list_code" in allowed and listing_kind:
        where.append(Listing.list_code == f.list_code)
    if kind == "listing" and f.ground:
        where.append(Ground.code == f.ground)
    if kind == "listing" and f.batch is not None:
        where.append(Listing.import_batch_id == f.batch)
    if f.q:
        where.append(_search(kind, f.q))
    return where


def _search(kind: str, q: str) -> ColumnElement[bool]:
    if kind == "notice":
        return or_(Notice.title.icontains(q, autoescape=True), Notice.slug == q)
    if kind == "petition":
        return or_(Petition.petitioner.icontains(q, autoescape=True), _firm_matches(q))
    decision = text.canonical_decision_no(q)
    if kind == "sanction":
        return or_(_firm_matches(q), Sanction.decision_no_canonical == decision)
    return or_(
        _firm_matches(q),
        exists().where(
            Sanction.id == Listing.sanction_id, Sanction.decision_no_canonical == decision
        ),
    )


def _base(kind: str, *columns: Any) -> Select[Any]:
    """The register's rows joined to what its filters and sorts need."""
    if kind == "listing":
        return select(*columns).join(Listing.enterprise).join(Listing.ground)
    if kind == "sanction":
        return select(*columns).join(Sanction.enterprise)
    if kind == "petition":
        return select(*columns).join(Petition.listing).join(Listing.enterprise)
    return select(*columns).select_from(Notice)


def _order(kind: str, sort: str) -> list[Any]:
    model = MODELS[kind]
    key = sort if sort in SORTS[kind] else SORTS[kind][0]
    name = key.lstrip("-")
    column = Enterprise.name if name == "name" else getattr(model, name)
    ordered = (column.desc() if key.startswith("-") else column.asc()).nulls_last()
    tie = model.id.desc() if key.startswith("-") else model.id.asc()
    return [ordered, tie]


def select_records(kind: str, who: Actor, filters: Filters) -> Select[Any]:
    """The view's records in the view's order (not paged)."""
    model = MODELS[kind]
    where = _where(kind, who, filters)
    if filters.state:
        where.append(model.state == filters.state)
    return _base(kind, model).where(*where).order_by(*_order(kind, filters.sort))


def select_ids(kind: str, who: Actor, filters: Filters) -> Select[Any]:
    """The ids of the view's records (for bulk actions on the whole view)."""
    model = MODELS[kind]
    where = _where(kind, who, filters)
    if filters.state:
        where.append(model.state == filters.state)
    return _base(kind, model.id).where(*where).order_by(model.id)


def counts_by_state(session: Session, kind: str, who: Actor, filters: Filters) -> dict[str, int]:
    """How many records of each state the view holds, ignoring its state filter."""
    model = MODELS[kind]
    rows = session.execute(
        _base(kind, model.state, func.count(model.id))
        .where(*_where(kind, who, filters))
        .group_by(model.state)
    ).all()
    found = {state: int(count) for state, count in rows}
    return {state: found.get(state, 0) for state in STATES[kind]}


def _loaded(kind: str, statement: Select[Any]) -> Select[Any]:
    if kind == "listing":
        return statement.options(
            joinedload(Listing.enterprise),
            joinedload(Listing.ground),
            joinedload(Listing.authority),
        )
    if kind == "sanction":
        return statement.options(joinedload(Sanction.enterprise), joinedload(Sanction.authority))
    if kind == "petition":
        return statement.options(joinedload(Petition.listing).joinedload(Listing.enterprise))
    return statement.options(joinedload(Notice.authority))


def page(session: Session, kind: str, who: Actor, filters: Filters) -> Page:
    """One page of the view, its total and its counts by state."""
    by_state = counts_by_state(session, kind, who, filters)
    total = by_state.get(filters.state, 0) if filters.state else sum(by_state.values())
    pages = max(1, -(-total // PER_PAGE))
    number = min(max(1, filters.page), pages)
    statement = select_records(kind, who, replace(filters, page=number))
    items = session.scalars(
        _loaded(kind, statement).limit(PER_PAGE).offset((number - 1) * PER_PAGE)
    ).unique()
    return Page(list(items), total, number, pages, by_state)


def import_batches(session: Session, who: Actor, page: int = 1) -> tuple[list[ImportBatch], int]:
    """One page of the import batches `who` may see, newest first, and the number of pages."""
    where = _tenancy(ImportBatch, who, Filters())
    total = session.scalar(select(func.count(ImportBatch.id)).where(where)) or 0
    pages = max(1, -(-total // PER_PAGE))
    number = min(max(1, page), pages)
    items = session.scalars(
        select(ImportBatch)
        .options(joinedload(ImportBatch.authority))
        .where(where)
        .order_by(ImportBatch.id.desc())
        .limit(PER_PAGE)
        .offset((number - 1) * PER_PAGE)
    )
    return list(items), pages


def iter_records(session: Session, kind: str, who: Actor, filters: Filters) -> Iterator[Any]:
    """Every record of the view, in its order, read in chunks (for the CSV download)."""
    statement = _loaded(kind, select_records(kind, who, filters))
    offset = 0
    while True:
        chunk = list(session.scalars(statement.limit(1000).offset(offset)).unique())
        yield from chunk
        if len(chunk) < 1000:
            return
        offset += 1000
