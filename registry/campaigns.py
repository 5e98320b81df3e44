"""Progress of enforcement campaigns (专项行动): per province, the published sanctions, the
listings ever published and those in force, and the removals, of the records tagged with
the campaign; and the firms the public may see under it.

Only what registry.visibility lets the public see is counted or named. The province is the
firm's (as on /stats); firms without one are counted under the code "". A *removal* is a
listing that left the list (removed, expired or annulled), as on /stats. Every number is a
SQL aggregate; no Flask here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from registry import visibility
from registry.errors import NotFoundError
from registry.messages import _
from registry.models import Authority, Campaign, Enterprise, Listing, Sanction

FIRMS_PER_PAGE = 100
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SLUG_MAX = 60


def is_slug(value: str) -> bool:
    return len(value) <= SLUG_MAX and SLUG.fullmatch(value) is not None


def campaign_by_slug(session: Session, slug: str) -> Campaign:
    campaign = None
    if is_slug(slug):
        campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
    if campaign is None:
        raise NotFoundError(_("未找到专项行动：%(slug)s", slug=repr(slug[:80])))
    return campaign


@dataclass
class Progress:
    province_code: str  # GB/T 2260 province code of the firms, "" when unknown
    province: str  # its name (广东省), "" when unknown
    sanctions: int = 0  # published sanctions tagged with the campaign
    listings: int = 0  # listings tagged with the campaign and ever published
    in_force: int = 0  # of those, in force today
    removals: int = 0  # of those, left the list (removed, expired or annulled)

    def add(self, other: Progress) -> None:
        self.sanctions += other.sanctions
        self.listings += other.listings
        self.in_force += other.in_force
        self.removals += other.removals


@dataclass(frozen=True)
class CampaignFirm:
    id: int
    uscc: str | None
    name: str
    province_code: str
    in_force: int  # listings of the campaign in force today
    sanctions: int  # published sanctions of the campaign


@dataclass
class CampaignProgress:
    campaign: Campaign
    today: date
    provinces: list[Progress]
    total: Progress
    firms: list[CampaignFirm] = field(default_factory=list)
    firms_total: int = 0
    page: int = 1


def province_names(session: Session) -> dict[str, str]:
    """GB/T 2260 province code → name, from the provincial bureaus."""
    rows = session.execute(
        select(Authority.code, Authority.name).where(Authority.level == "province")
    )
    return {code[:2] + "0000": name.removesuffix("通信管理局") for code, name in rows}


def _listing_counts(
    session: Session, campaign_ids: list[int], today: date
) -> dict[tuple[int, str], tuple[int, int, int]]:
    """(campaign id, province) → (ever published, in force, left) of tagged listings."""
    in_force = func.sum(case((visibility.listing_in_force(today), 1), else_=0))
    left = func.sum(case((visibility.listing_left_on(today).is_not(None), 1), else_=0))
    stmt = (
        select(Listing.campaign_id, Enterprise.province_code, func.count(), in_force, left)
        .join(Enterprise, Enterprise.id == Listing.enterprise_id)
        .where(Listing.campaign_id.in_(campaign_ids), visibility.listing_ever_published())
        .group_by(Listing.campaign_id, Enterprise.province_code)
    )
    return {
        (cid or 0, province or ""): (int(n), int(force or 0), int(gone or 0))
        for cid, province, n, force, gone in session.execute(stmt)
    }


def _sanction_counts(session: Session, campaign_ids: list[int]) -> dict[tuple[int, str], int]:
    """(campaign id, province) → published sanctions tagged with the campaign."""
    stmt = (
        select(Sanction.campaign_id, Enterprise.province_code, func.count())
        .join(Enterprise, Enterprise.id == Sanction.enterprise_id)
        .where(Sanction.campaign_id.in_(campaign_ids), visibility.sanction_public())
        .group_by(Sanction.campaign_id, Enterprise.province_code)
    )
    return {(cid or 0, province or ""): int(n) for cid, province, n in session.execute(stmt)}


def progress(
    session: Session, campaigns: list[Campaign], today: date
) -> dict[int, tuple[list[Progress], Progress]]:
    """Each campaign's progress by province (sorted by code) and its total, in two queries."""
    ids = [c.id for c in campaigns]
    names = province_names(session)
    listings = _listing_counts(session, ids, today) if ids else {}
    sanctions = _sanction_counts(session, ids) if ids else {}
    out: dict[int, tuple[list[Progress], Progress]] = {}
    for campaign in campaigns:
        rows: dict[str, Progress] = {}
        for (cid, code), (n, force, gone) in listings.items():
            if cid == campaign.id:
                row = rows.setdefault(code, Progress(code, names.get(code, "")))
                row.listings, row.in_force, row.removals = n, force, gone
        for (cid, code), n in sanctions.items():
            if cid == campaign.id:
                rows.setdefault(code, Progress(code, names.get(code, ""))).sanctions = n
        total = Progress("", "")
        for row in rows.values():
            total.add(row)
        out[campaign.id] = (sorted(rows.values(), key=lambda r: r.province_code), total)
    return out


def _firm_shown(campaign_id: int, today: date) -> ColumnElement[bool]:
    """A firm the campaign page names: one with a tagged listing in force or a tagged
    published sanction (what its own public page shows)."""
    listed = (
        select(Listing.id)
        .where(
            Listing.enterprise_id == Enterprise.id,
            Listing.campaign_id == campaign_id,
            visibility.listing_in_force(today),
        )
        .exists()
    )
    sanctioned = (
        select(Sanction.id)
        .where(
            Sanction.enterprise_id == Enterprise.id,
            Sanction.campaign_id == campaign_id,
            visibility.sanction_public(),
        )
        .exists()
    )
    return or_(listed, sanctioned)


def firms(
    session: Session, campaign: Campaign, today: date, page: int = 1
) -> tuple[list[CampaignFirm], int]:
    """One page of the campaign's public firms (by province, then name) and how many."""
    shown = _firm_shown(campaign.id, today)
    total = session.scalar(select(func.count()).select_from(Enterprise).where(shown)) or 0
    in_force = (
        select(func.count())
        .where(
            Listing.enterprise_id == Enterprise.id,
            and_(Listing.campaign_id == campaign.id, visibility.listing_in_force(today)),
        )
        .scalar_subquery()
    )
    sanctions = (
        select(func.count())
        .where(
            Sanction.enterprise_id == Enterprise.id,
            and_(Sanction.campaign_id == campaign.id, visibility.sanction_public()),
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Enterprise.id,
            Enterprise.uscc,
            Enterprise.name,
            Enterprise.province_code,
            in_force,
            sanctions,
        )
        .where(shown)
        .order_by(func.coalesce(Enterprise.province_code, ""), Enterprise.name, Enterprise.id)
        .limit(FIRMS_PER_PAGE)
        .offset((page - 1) * FIRMS_PER_PAGE)
    )
    return [
        CampaignFirm(firm_id, uscc, name, province or "", int(n_force), int(n_sanctions))
        for firm_id, uscc, name, province, n_force, n_sanctions in rows
    ], int(total)


def campaign_progress(
    session: Session, campaign: Campaign, today: date, page: int = 1
) -> CampaignProgress:
    provinces, total = progress(session, [campaign], today)[campaign.id]
    shown, count = firms(session, campaign, today, page)
    return CampaignProgress(campaign, today, provinces, total, shown, count, page)


def catalogue(session: Session) -> list[Campaign]:
    """Every campaign, the latest started first."""
    return list(
        session.scalars(select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.slug))
    )
