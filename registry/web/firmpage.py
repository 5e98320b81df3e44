"""What a firm's public page shows, as plain rows: the firm with its former names and
licences, its listings in force, published sanctions, public evidence and notices.

One statement finds the firm with its listings in force and says which of the other parts
it has; only those are then read (most firms have a licence and nothing else). Every
statement is built once (the firm, the day are bound at execution) and run on the
connection: building ORM objects and the statements themselves was most of the page's
database time. What the public may see is decided by registry.visibility, as everywhere.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

from sqlalchemy import BindParameter, CompoundSelect, Date, Select, bindparam, exists, select
from sqlalchemy.orm import Session

from registry import rules, visibility
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

_FIRM_COLUMNS = (Enterprise.id, Enterprise.uscc, Enterprise.name, Enterprise.province_code)


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


def _page_statement(today: Any) -> Select:
    """The firm, one row per listing in force (one row with empty listing columns when it
    has none), and whether each other part of the page has anything."""
    has_evidence = _through_listing_or_sanction(
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
    has_notices = _through_listing_or_sanction(
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
    return (
        select(
            *_FIRM_COLUMNS,
            Listing.id.label("listing_id"),
            Listing.list_code,
            Listing.ground_id,
            Listing.decided_on,
            Listing.listed_on,
            Listing.expires_on,
            Ground.code.label("ground_code"),
            Ground.title.label("ground_title"),
            Authority.name.label("authority_name"),
            Authority.code.label("authority_code"),
            exists().where(FormerName.enterprise_id == Enterprise.id).label("has_former_names"),
            exists().where(Licence.enterprise_id == Enterprise.id).label("has_licences"),
            exists(_sanctions_of(Enterprise.id)).label("has_sanctions"),
            has_evidence.label("has_evidence"),
            has_notices.label("has_notices"),
        )
        .select_from(Enterprise)
        .outerjoin(
            Listing,
            (Listing.enterprise_id == Enterprise.id) & visibility.listing_in_force(today),
        )
        .outerjoin(Ground, Ground.id == Listing.ground_id)
        .outerjoin(Authority, Authority.id == Listing.authority_id)
        .order_by(Listing.decided_on.desc(), Listing.id.desc())
    )


def _part_statements(firm_id: Any, today: Any) -> dict[str, Select]:
    """The other parts of the page, each read only when the firm has it."""
    evidence_of = visibility.evidence_public() & (
        Evidence.listing_id.in_(_in_force_of(firm_id, today))
        | Evidence.sanction_id.in_(_sanctions_of(firm_id))
    )
    return {
        "former_names": select(FormerName.name)
        .where(FormerName.enterprise_id == firm_id)
        .order_by(FormerName.id),
        "licences": select(Licence.number, Licence.services, Licence.status)
        .where(Licence.enterprise_id == firm_id)
        .order_by(Licence.id),
        "sanctions": select(
            Sanction.id,
            Sanction.decision_no,
            Sanction.decided_on,
            Sanction.facts,
            Sanction.legal_basis,
            Sanction.fine_amount,
            Authority.name.label("authority_name"),
            Campaign.slug.label("campaign_slug"),
            Campaign.name.label("campaign_name"),
        )
        .join(Authority, Authority.id == Sanction.authority_id)
        .outerjoin(Campaign, Campaign.id == Sanction.campaign_id)
        .where(Sanction.enterprise_id == firm_id, visibility.sanction_public())
        .order_by(Sanction.decided_on.desc()),
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


@functools.cache
def _statements() -> dict[str, Select]:
    firm_id: BindParameter[int] = bindparam("firm_id")
    today: BindParameter[Any] = bindparam("today", type_=Date)
    page = _page_statement(today)
    return {
        "page_by_uscc": page.where(Enterprise.uscc == bindparam("uscc")),
        "page_by_id": page.where(Enterprise.id == firm_id),
        "by_uscc": select(*_FIRM_COLUMNS).where(Enterprise.uscc == bindparam("uscc")),
        "by_id": select(*_FIRM_COLUMNS).where(Enterprise.id == firm_id),
        **_part_statements(firm_id, today),
    }


def find_firm(session: Session, *, uscc: str | None = None, firm_id: int | None = None):
    """The firm (id, uscc, name, province_code) by its code or id; None if there is none."""
    statements = _statements()
    if uscc is not None:
        row = session.connection().execute(statements["by_uscc"], {"uscc": uscc}).first()
    else:
        row = session.connection().execute(statements["by_id"], {"firm_id": firm_id}).first()
    return SimpleNamespace(**row._mapping) if row is not None else None


def _listing(row: Any) -> SimpleNamespace:
    """A listing in force with the attributes the page (and `listing_json`) reads."""
    return SimpleNamespace(
        id=row.listing_id,
        enterprise_id=row.id,
        list_code=row.list_code,
        ground_id=row.ground_id,
        decided_on=row.decided_on,
        listed_on=row.listed_on,
        expires_on=row.expires_on,
        ground=SimpleNamespace(code=row.ground_code, title=row.ground_title),
        authority=SimpleNamespace(name=row.authority_name, code=row.authority_code),
    )


def _sanction(row: Any) -> SimpleNamespace:
    campaign = None
    if row.campaign_slug is not None:
        campaign = SimpleNamespace(slug=row.campaign_slug, name=row.campaign_name)
    return SimpleNamespace(
        id=row.id,
        decision_no=row.decision_no,
        decided_on=row.decided_on,
        facts=row.facts,
        legal_basis=row.legal_basis,
        fine_amount=row.fine_amount,
        authority=SimpleNamespace(name=row.authority_name),
        campaign=campaign,
    )


class NothingPublished(Exception):
    """The firm exists, but nothing about it is published (no listing in force, no
    published sanction)."""


def firm_page(
    session: Session, *, uscc: str | None = None, firm_id: int | None = None
) -> dict[str, object] | None:
    """Today's page of the firm with this code or id: its contents, or None if there is no
    such firm; NothingPublished if there is one the public may not see."""
    statements = _statements()
    run = session.connection().execute
    params: dict[str, Any] = {"today": rules.today()}
    if uscc is not None:
        rows = run(statements["page_by_uscc"], params | {"uscc": uscc}).all()
    else:
        rows = run(statements["page_by_id"], params | {"firm_id": firm_id}).all()
    if not rows:
        return None
    head = rows[0]
    listings = [_listing(row) for row in rows if row.listing_id is not None]
    if not listings and not head.has_sanctions:
        raise NothingPublished
    firm = SimpleNamespace(
        id=head.id, uscc=head.uscc, name=head.name, province_code=head.province_code
    )
    params["firm_id"] = firm.id
    firm.former_names = (
        [SimpleNamespace(name=n) for (n,) in run(statements["former_names"], params)]
        if head.has_former_names
        else []
    )
    firm.licences = (
        [SimpleNamespace(**row._mapping) for row in run(statements["licences"], params)]
        if head.has_licences
        else []
    )
    sanctions = (
        [_sanction(row) for row in run(statements["sanctions"], params)]
        if head.has_sanctions
        else []
    )
    evidence = run(statements["evidence"], params).all() if head.has_evidence else []
    notices = run(statements["notices"], params).all() if head.has_notices else []
    return {
        "firm": firm,
        "listings": listings,
        "sanctions": sanctions,
        "evidence": evidence,
        "notices": notices,
    }
