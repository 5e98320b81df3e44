"""What a firm's public page shows, as plain rows: the firm with its former names and
licences, its listings in force, published sanctions, public evidence and notices.

Every statement is built once (the firm, the day and the ids are bound at execution) and
run on the connection: building ORM objects and the statements themselves was most of the
page's database time. What the public may see is decided by registry.visibility, as
everywhere.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

from sqlalchemy import BindParameter, Select, bindparam, select
from sqlalchemy.orm import Session

from registry import visibility
from registry.models import (
    Authority,
    Enterprise,
    Evidence,
    FormerName,
    Licence,
    Listing,
    Notice,
    Sanction,
    notice_listing,
    notice_sanction,
)
from registry.web.api import listings_in_force

_FIRM_COLUMNS = (Enterprise.id, Enterprise.uscc, Enterprise.name, Enterprise.province_code)


@functools.cache
def _statements() -> dict[str, Select]:
    firm_id: BindParameter[int] = bindparam("firm_id")
    notice_ids = (
        select(notice_listing.c.notice_id)
        .join(Listing, Listing.id == notice_listing.c.listing_id)
        .where(Listing.enterprise_id == firm_id)
        .union(
            select(notice_sanction.c.notice_id)
            .join(Sanction, Sanction.id == notice_sanction.c.sanction_id)
            .where(Sanction.enterprise_id == firm_id)
        )
    )
    return {
        "by_uscc": select(*_FIRM_COLUMNS).where(Enterprise.uscc == bindparam("uscc")),
        "by_id": select(*_FIRM_COLUMNS).where(Enterprise.id == firm_id),
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
        )
        .join(Authority, Authority.id == Sanction.authority_id)
        .where(Sanction.enterprise_id == firm_id, visibility.sanction_public())
        .order_by(Sanction.decided_on.desc()),
        "evidence": select(
            Evidence.original_name,
            Evidence.sha256,
            Evidence.description,
            Evidence.media_type,
            Evidence.size,
        )
        .where(
            visibility.evidence_public(),
            Evidence.listing_id.in_(bindparam("listing_ids", expanding=True))
            | Evidence.sanction_id.in_(bindparam("sanction_ids", expanding=True)),
        )
        .order_by(Evidence.id),
        "notices": visibility.public_notices()
        .with_only_columns(Notice.published_at, Notice.slug, Notice.title)
        .where(Notice.id.in_(notice_ids))
        .order_by(Notice.published_at.desc()),
    }


def find_firm(session: Session, *, uscc: str | None = None, firm_id: int | None = None):
    """The firm (id, uscc, name, province_code) by its code or id; None if there is none."""
    statements = _statements()
    if uscc is not None:
        row = session.connection().execute(statements["by_uscc"], {"uscc": uscc}).first()
    else:
        row = session.connection().execute(statements["by_id"], {"firm_id": firm_id}).first()
    return SimpleNamespace(**row._mapping) if row is not None else None


def firm_page(session: Session, firm: SimpleNamespace) -> dict[str, object] | None:
    """The page's contents for a firm found by `find_firm`; None when nothing about it is
    published (no listing in force, no published sanction)."""
    statements = _statements()
    run = session.connection().execute
    listings = listings_in_force(session, [firm.id]).get(firm.id, (firm, []))[1]
    sanctions = [
        SimpleNamespace(**row._mapping, authority=SimpleNamespace(name=row.authority_name))
        for row in run(statements["sanctions"], {"firm_id": firm.id})
    ]
    if not listings and not sanctions:
        return None
    params = {"firm_id": firm.id}
    firm.former_names = [
        SimpleNamespace(name=n) for (n,) in run(statements["former_names"], params)
    ]
    firm.licences = [SimpleNamespace(**row._mapping) for row in run(statements["licences"], params)]
    evidence = run(
        statements["evidence"],
        {"listing_ids": [li.id for li in listings], "sanction_ids": [s.id for s in sanctions]},
    ).all()
    notices = run(statements["notices"], params).all()
    return {
        "firm": firm,
        "listings": listings,
        "sanctions": sanctions,
        "evidence": evidence,
        "notices": notices,
    }
