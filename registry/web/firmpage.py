"""What the public sees of a firm (its page and `/api/v1/enterprises/<uscc>`), as plain rows:
the firm with its former names and licences, its listings in force, published sanctions,
public evidence and notices.

One statement finds the firm with its listings in force and its first licence, and says
which of the other parts it has; only those are then read (most firms have a licence and
nothing else: one statement). The firm's statements are compiled once per database dialect
and run as the driver's SQL on the request's connection (registry.web.driversql); the rare
parts with typed columns (sanctions, evidence, notices) through SQLAlchemy. What the public
may see is decided by registry.visibility, as everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from types import SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Date,
    Select,
    bindparam,
    exists,
    func,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, aliased

from registry import rules, visibility
from registry.database import get_session
from registry.models import (
    Authority,
    Campaign,
    Enterprise,
    Evidence,
    FormerName,
    Ground,
    Licence,
    Listing,
    Notice,
    Sanction,
    notice_listing,
    notice_sanction,
)
from registry.web import driversql
from registry.web.driversql import iso

_FIRM_COLUMNS = (Enterprise.id, Enterprise.uscc, Enterprise.name, Enterprise.province_code)


class FirmListing(NamedTuple):
    """A listing in force, as the page and the API show it (dates as ISO text)."""

    id: int
    list_code: str
    ground_id: int
    ground_code: str
    ground_title: str
    decided_on: str
    listed_on: str | None
    expires_on: str | None
    authority_name: str
    authority_code: str


class FirmLicence(NamedTuple):
    number: str
    services: str
    status: str


class Firm(NamedTuple):
    """The firm and what it has: its listings in force (in the order asked for), former
    names and licences, and whether it has published sanctions, public evidence and
    public notices (read by `sanctions`, `evidence`, `notices` when it has)."""

    id: int
    uscc: str | None
    name: str
    province_code: str | None
    listings: list[FirmListing]
    former_names: list[str]
    licences: list[FirmLicence]
    has_sanctions: bool
    has_evidence: bool
    has_notices: bool
    today: date  # the day the listings were in force on (the parts read for the same)


def _in_force_of(firm: Any, today: Any) -> Select:
    return select(Listing.id).where(
        Listing.enterprise_id == firm, visibility.listing_in_force(today)
    )


def _sanctions_of(firm: Any) -> Select:
    return select(Sanction.id).where(Sanction.enterprise_id == firm, visibility.sanction_public())


def _named_in(firm: Any) -> CompoundSelect:
    """Ids of the notices that name one of the firm's listings or sanctions."""
    return (
        select(notice_listing.c.notice_id)
        .join(Listing, Listing.id == notice_listing.c.listing_id)
        .where(Listing.enterprise_id == firm)
        .union(
            select(notice_sanction.c.notice_id)
            .join(Sanction, Sanction.id == notice_sanction.c.sanction_id)
            .where(Sanction.enterprise_id == firm)
        )
    )


def _through_listing_or_sanction(listing_terms: list[Any], sanction_terms: list[Any]) -> Any:
    """Whether the firm of the page's row has a row reached through one of its listings or
    one of its sanctions, each from the firm's own rows through their indexes."""
    return (
        exists().where(Listing.enterprise_id == Enterprise.id, *listing_terms).correlate(Enterprise)
    ) | (
        exists()
        .where(Sanction.enterprise_id == Enterprise.id, *sanction_terms)
        .correlate(Enterprise)
    )


def _has_evidence(today: Any) -> Any:
    return _through_listing_or_sanction(
        [
            visibility.listing_in_force(today),
            Evidence.listing_id == Listing.id,
            visibility.evidence_public(),
        ],
        [
            visibility.sanction_public(),
            Evidence.sanction_id == Sanction.id,
            visibility.evidence_public(),
        ],
    )


def _has_notices() -> Any:
    return _through_listing_or_sanction(
        [
            notice_listing.c.listing_id == Listing.id,
            Notice.id == notice_listing.c.notice_id,
            visibility.notice_public(),
        ],
        [
            notice_sanction.c.sanction_id == Sanction.id,
            Notice.id == notice_sanction.c.notice_id,
            visibility.notice_public(),
        ],
    )


def _firm_statement(today: Any, order: tuple[Any, ...]) -> Select:
    """The firm, one row per listing in force in `order` (one row with empty listing
    columns when it has none), its first licence and whether it has another, and whether
    each other part of the page has anything. `firm` reads the columns by position: 0-3
    the firm, 4-13 a listing, 14-16 the first licence, then whether the firm has another
    licence, former names, published sanctions, public evidence, public notices (17-21)."""
    first = aliased(Licence)
    first_id = (
        select(func.min(Licence.id))
        .where(Licence.enterprise_id == Enterprise.id)
        .correlate(Enterprise)
        .scalar_subquery()
    )
    return (
        select(
            *_FIRM_COLUMNS,
            Listing.id,
            Listing.list_code,
            Listing.ground_id,
            Ground.code,
            Ground.title,
            Listing.decided_on,
            Listing.listed_on,
            Listing.expires_on,
            Authority.name,
            Authority.code,
            first.number,
            first.services,
            first.status,
            exists()
            .where(Licence.enterprise_id == Enterprise.id, Licence.id > first.id)
            .correlate(Enterprise, first),
            exists().where(FormerName.enterprise_id == Enterprise.id),
            exists(_sanctions_of(Enterprise.id)),
            _has_evidence(today),
            _has_notices(),
        )
        .select_from(Enterprise)
        .outerjoin(
            Listing,
            (Listing.enterprise_id == Enterprise.id) & visibility.listing_in_force(today),
        )
        .outerjoin(Ground, Ground.id == Listing.ground_id)
        .outerjoin(Authority, Authority.id == Listing.authority_id)
        .outerjoin(first, (first.enterprise_id == Enterprise.id) & (first.id == first_id))
        .order_by(*order)
    )


# The page's listings: latest decision first; the API's: latest listed first.
BY_DECISION = "decision"
BY_LISTING = "listing"


@functools.cache
def _statements() -> dict[str, Any]:
    """The firm's statements, built once, the firm, the day bound at execution."""
    firm_id: BindParameter[int] = bindparam("firm_id")
    today: BindParameter[Any] = bindparam("today", type_=Date)
    orders = {
        BY_DECISION: (Listing.decided_on.desc(), Listing.id.desc()),
        BY_LISTING: (Listing.listed_on.desc(), Listing.id.desc()),
    }
    statements: dict[str, Any] = {
        "former_names": select(FormerName.name)
        .where(FormerName.enterprise_id == firm_id)
        .order_by(FormerName.id),
        "licences": select(Licence.number, Licence.services, Licence.status)
        .where(Licence.enterprise_id == firm_id)
        .order_by(Licence.id),
        "by_uscc": select(*_FIRM_COLUMNS).where(Enterprise.uscc == bindparam("uscc")),
        "by_id": select(*_FIRM_COLUMNS).where(Enterprise.id == firm_id),
        **_part_statements(firm_id, today),
    }
    for name, order in orders.items():
        firm = _firm_statement(today, order)
        statements[f"{name}_by_uscc"] = firm.where(Enterprise.uscc == bindparam("uscc"))
        statements[f"{name}_by_id"] = firm.where(Enterprise.id == firm_id)
    return statements


_GIVEN = frozenset({"firm_id", "today", "uscc"})


@functools.lru_cache(maxsize=32)
def _compiled(dialect: Dialect, name: str) -> driversql.Compiled:
    return driversql.compile_for(_statements()[name], dialect, _GIVEN)


def _sanctions_statement(firm_id: Any, order: tuple[Any, ...]) -> Select:
    return (
        select(
            Sanction.id,
            Sanction.decision_no,
            Sanction.decided_on,
            Sanction.facts,
            Sanction.legal_basis,
            Sanction.measures,
            Sanction.fine_amount,
            Authority.name.label("authority_name"),
            Authority.code.label("authority_code"),
            Campaign.slug.label("campaign_slug"),
            Campaign.name.label("campaign_name"),
        )
        .join(Authority, Authority.id == Sanction.authority_id)
        .outerjoin(Campaign, Campaign.id == Sanction.campaign_id)
        .where(Sanction.enterprise_id == firm_id, visibility.sanction_public())
        .order_by(*order)
    )


def _part_statements(firm_id: Any, today: Any) -> dict[str, Select]:
    """The rare parts, each read only when the firm has it (typed: amounts, JSON, times)."""
    evidence_of = visibility.evidence_public() & (
        Evidence.listing_id.in_(_in_force_of(firm_id, today))
        | Evidence.sanction_id.in_(_sanctions_of(firm_id))
    )
    return {
        # The page's order, and the API's (the same with the id breaking ties).
        f"sanctions_{BY_DECISION}": _sanctions_statement(firm_id, (Sanction.decided_on.desc(),)),
        f"sanctions_{BY_LISTING}": _sanctions_statement(
            firm_id, (Sanction.decided_on.desc(), Sanction.id.desc())
        ),
        "evidence": select(
            Evidence.original_name,
            Evidence.sha256,
            Evidence.description,
            Evidence.media_type,
            Evidence.size,
        )
        .where(evidence_of)
        .order_by(Evidence.id),
        "notices": visibility.public_notices()
        .with_only_columns(Notice.published_at, Notice.slug, Notice.title)
        .where(Notice.id.in_(_named_in(firm_id)))
        .order_by(Notice.published_at.desc()),
    }


def listing_row(listing: Listing) -> FirmListing:
    """A listing (with its ground and authority loaded) as the page's rows have it."""
    return FirmListing(
        listing.id,
        listing.list_code,
        listing.ground_id,
        listing.ground.code,
        listing.ground.title,
        listing.decided_on.isoformat(),
        iso(listing.listed_on),
        iso(listing.expires_on),
        listing.authority.name,
        listing.authority.code,
    )


def find_firm(session: Session, *, uscc: str | None = None, firm_id: int | None = None):
    """The firm (id, uscc, name, province_code) by its code or id; None if there is none."""
    statements = _statements()
    if uscc is not None:
        row = session.connection().execute(statements["by_uscc"], {"uscc": uscc}).first()
    else:
        row = session.connection().execute(statements["by_id"], {"firm_id": firm_id}).first()
    return SimpleNamespace(**row._mapping) if row is not None else None


class NothingPublished(Exception):
    """The firm exists, but nothing about it is published (no listing in force, no
    published sanction)."""


def firm(
    *,
    uscc: str | None = None,
    firm_id: int | None = None,
    order: str = BY_DECISION,
) -> Firm | None:
    """Today's public record of the firm with this code or id, its listings in `order`
    (BY_DECISION or BY_LISTING): None if there is no such firm; NothingPublished if there
    is one the public may not see."""
    dialect = driversql.dialect()
    values: dict[str, Any] = {"today": rules.today(), "uscc": uscc, "firm_id": firm_id}
    by = "uscc" if uscc is not None else "id"
    rows = driversql.run(_compiled(dialect, f"{order}_by_{by}"), values)
    if not rows:
        return None
    head = rows[0]
    listings = [
        FirmListing(
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            iso(row[9]) or "",
            iso(row[10]),
            iso(row[11]),
            row[12],
            row[13],
        )
        for row in rows
        if row[4] is not None
    ]
    if not listings and not head[19]:
        raise NothingPublished
    values["firm_id"] = head[0]
    licences = [] if head[14] is None else [FirmLicence(head[14], head[15], head[16])]
    if head[17]:  # more than one
        licences = [
            FirmLicence(*row) for row in driversql.run(_compiled(dialect, "licences"), values)
        ]
    former_names = (
        [name for (name,) in driversql.run(_compiled(dialect, "former_names"), values)]
        if head[18]
        else []
    )
    return Firm(
        head[0],
        head[1],
        head[2],
        head[3],
        listings,
        former_names,
        licences,
        bool(head[19]),
        bool(head[20]),
        bool(head[21]),
        values["today"],
    )


def sanctions(found: Firm, order: str = BY_DECISION) -> Sequence[Any]:
    """The firm's published sanctions, latest decision first, as typed rows (read through
    the request's Session, opened only for a firm that has any)."""
    if not found.has_sanctions:
        return []
    statement = _statements()[f"sanctions_{order}"]
    return get_session().connection().execute(statement, {"firm_id": found.id}).all()


def evidence(found: Firm) -> Sequence[Any]:
    """The public evidence of the firm's listings in force and published sanctions (as
    `sanctions` reads them)."""
    if not found.has_evidence:
        return []
    params = {"firm_id": found.id, "today": found.today}
    return get_session().connection().execute(_statements()["evidence"], params).all()


def notices(found: Firm) -> Sequence[Any]:
    """The public notices naming one of the firm's listings or sanctions, latest first (as
    `sanctions` reads them)."""
    if not found.has_notices:
        return []
    statement = _statements()["notices"]
    return get_session().connection().execute(statement, {"firm_id": found.id}).all()
