"""Realistic fictional demo data, loaded through the same services as the forms."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import fakedata, rules
from registry.models import Authority, Campaign, Enterprise, Ground, Listing, Sanction, User
from registry.rules import Actor
from registry.services import campaigns as campaign_service
from registry.services import listings as listing_service
from registry.services import notices as notice_service
from registry.services.accounts import actor_for, create_user
from registry.services.enterprises import add_licence, create_enterprise
from registry.services.sanctions import record_sanction, submit_sanction

DEMO_FIRMS = 300
DEMO_USERS = (
    ("miit-reviewer", "MIIT", "reviewer"),
    ("miit-clerk", "MIIT", "clerk"),
    ("gd-clerk", "440000", "clerk"),
    ("gd-reviewer", "440000", "reviewer"),
    ("bj-clerk", "110000", "clerk"),
    ("admin", "MIIT", "admin"),
)
MEASURES_BY_GROUND = {
    "B2": ["warning", "rectify"],
    "B3": ["fine", "rectify"],
    "D1": ["licence_revocation"],
    "D2": ["fine"],
    "D3": ["licence_revocation"],
}


def _at(day, hour: int = 10) -> datetime:
    """A publication moment on a Shanghai calendar day."""
    return datetime.combine(day, time(hour), tzinfo=rules.SHANGHAI).astimezone(UTC)


def load_demo(session: Session, system: Actor, firms: int = DEMO_FIRMS) -> list[str]:
    """Load demo firms, sanctions, listings and notices; returns the logins created
    (empty when demo data is already there)."""
    if session.scalar(select(User.id).where(User.username == DEMO_USERS[0][0])) is not None:
        return []
    authorities = {a.code: a for a in session.scalars(select(Authority))}
    users, logins = _demo_users(session, system, authorities)
    today = rules.today()
    campaigns = _demo_campaigns(session, actor_for(users["admin"]), authorities["MIIT"])
    published = _demo_listings(session, authorities, users, firms, today, campaigns)
    removed = _demo_endings(session, users, published, today)
    _demo_notices(session, users, published, removed, today)
    session.flush()
    return logins


def _demo_users(
    session: Session, system: Actor, authorities: dict[str, Authority]
) -> tuple[dict[str, User], list[str]]:
    """One user per demo login, with a random password; returns them and the logins."""
    logins = []
    users: dict[str, User] = {}
    for username, code, role in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        users[username] = create_user(
            session,
            system,
            username=username,
            password=password,
            authority=authorities[code],
            role=role,
        )
        logins.append(f"{username} / {password} / {role} @ {authorities[code].name}")
    return users, logins


def _demo_campaigns(session: Session, admin: Actor, ministry: Authority) -> dict[str, Campaign]:
    """The catalogue of the generator's campaigns, led by the ministry; by name."""
    made = {}
    for name, (slug, starts_on, ends_on, basis) in zip(
        fakedata.CAMPAIGNS, fakedata.CAMPAIGN_CATALOGUE, strict=True
    ):
        made[name] = campaign_service.save_campaign(
            session,
            admin,
            None,
            slug=slug,
            name=name,
            starts_on=starts_on,
            ends_on=ends_on,
            lead_authority_id=ministry.id,
            legal_basis=basis,
        )
    return made


def _demo_listings(
    session: Session,
    authorities: dict[str, Authority],
    users: dict[str, User],
    firms: int,
    today: date,
    campaigns: dict[str, Campaign],
) -> list[Listing]:
    """The generated listings, each with its firm and decision; returns the published ones."""
    grounds = {g.code: g for g in session.scalars(select(Ground))}
    ministry_reviewer = actor_for(users["miit-reviewer"])
    generated = fakedata.firms(firms, seed=2018)
    entries = fakedata.listings(generated, seed=2018, end=today - timedelta(days=3))
    known: dict[str, Enterprise] = {}
    sanctions_by_no: dict[str, Sanction] = {}
    published = []
    for number, entry in enumerate(entries):
        authority = authorities.get(entry.authority_code) or authorities["MIIT"]
        clerk = Actor(None, "demo", "system", authority.id, authority.is_ministry)
        firm = known.get(entry.firm.uscc)
        if firm is None:
            firm = known[entry.firm.uscc] = _demo_firm(session, clerk, authority, entry.firm)
        sanction = sanctions_by_no.get(entry.decision_no) if entry.decision_no else None
        if entry.decision_no and sanction is None:  # a D2 listing reuses its B3 decision
            sanction = sanctions_by_no[entry.decision_no] = _demo_sanction(
                session, clerk, firm, entry, campaigns.get(entry.campaign or "")
            )
        ground = grounds[entry.ground_code]
        source_end = (
            entry.decided_on + timedelta(days=3 * 365) if ground.term_kind == "source" else None
        )
        listing = listing_service.create_listing(
            session,
            clerk,
            firm,
            ground=ground,
            decided_on=entry.decided_on,
            sanction=sanction,
            facts=entry.facts,
            source_expires_on=source_end,
            campaign=campaigns.get(entry.campaign or ""),
        )
        listing_service.submit_listing(session, clerk, listing)
        if number % 17 == 16:
            continue  # a few wait for review
        listed_day = min(entry.decided_on + timedelta(days=7 + number % 20), today)
        if source_end is not None and source_end <= listed_day:
            continue
        listing_service.publish_listing(session, ministry_reviewer, listing, at=_at(listed_day))
        published.append(listing)
    return published


def _demo_firm(
    session: Session, clerk: Actor, authority: Authority, firm: fakedata.FakeFirm
) -> Enterprise:
    """The operator of a generated firm, with its licence when it has one."""
    enterprise = create_enterprise(
        session,
        clerk,
        name=firm.name,
        uscc=firm.uscc,
        province_code=firm.province_code,
        kind=firm.kind,
    )
    if firm.licence_no:
        add_licence(session, clerk, enterprise, number=firm.licence_no, issuer=authority)
    return enterprise


def _demo_sanction(
    session: Session,
    clerk: Actor,
    firm: Enterprise,
    entry: fakedata.FakeListing,
    campaign: Campaign | None,
) -> Sanction:
    """The submitted penalty decision a generated listing rests on."""
    measures = MEASURES_BY_GROUND.get(entry.ground_code, ["rectify"])
    sanction = record_sanction(
        session,
        clerk,
        firm,
        decision_no=entry.decision_no,
        decided_on=entry.decided_on,
        facts=entry.facts,
        measures=measures,
        fine_amount="30000" if "fine" in measures else None,
        campaign=campaign,
        legal_basis="《电信业务经营许可管理办法》",
    )
    submit_sanction(session, clerk, sanction)
    return sanction


def _demo_endings(
    session: Session, users: dict[str, User], published: list[Listing], today: date
) -> list[Listing]:
    """Some annual-report listings removed once the report was filed (art. 38), one
    annulled; returns the removed ones. Each by a reviewer of the listing's own authority
    (the ministry does not remove bureau records)."""
    reviewers = {
        users[name].authority_id: actor_for(users[name])
        for name in ("miit-reviewer", "gd-reviewer")
    }
    removable = [
        p for p in published if p.ground.removal_rule == "on_filing" and p.authority_id in reviewers
    ]
    removed = []
    for listing in removable[:12]:
        listing_service.remove_listing(
            session,
            reviewers[listing.authority_id],
            listing,
            "已补报年报并经确认（办法第三十八条）",
            report_filed_on=today - timedelta(days=10),
            filing_confirmed=True,
        )
        removed.append(listing)
    in_force = [p for p in published if p.authority_id in reviewers and rules.in_force(p, today)]
    if in_force:
        listing = in_force[-1]
        listing_service.annul_listing(
            session, reviewers[listing.authority_id], listing, "列入有误，经复核撤销"
        )
    return removed


def _demo_notices(
    session: Session,
    users: dict[str, User],
    published: list[Listing],
    removed: list[Listing],
    today: date,
) -> None:
    """An exposure notice of the bad-conduct listings in force and, when some were
    removed, a removal notice; both published."""
    bad_in_force = [p for p in published if rules.in_force(p, today) and p.list_code == "bad"][:40]
    _publish_notice(
        session,
        users,
        slug="2019-q2-bad-conduct",
        kind="exposure",
        title="关于公布2019年第二季度电信业务经营不良名单的公告",
        body_md="依据《电信业务经营许可管理办法》第三十七条、第三十八条，现将以下经营者列入电信业务经营不良名单。\n\n"
        "对列入名单有异议的，可自公告之日起向列入单位提出。",
        listings=bad_in_force,
    )
    if removed:
        _publish_notice(
            session,
            users,
            slug="2020-q1-removals",
            kind="removal",
            title="关于移出电信业务经营不良名单的公告",
            body_md="以下经营者已补报年报并经电信管理机构确认，现移出不良名单。",
            listings=removed,
        )


def _publish_notice(session: Session, users: dict[str, User], **values: Any) -> None:
    """A notice drafted and submitted by the ministry's clerk, published by its reviewer."""
    clerk = actor_for(users["miit-clerk"])
    notice = notice_service.create_notice(session, clerk, **values)
    notice_service.transition_notice(session, clerk, notice, "submit")
    notice_service.transition_notice(session, actor_for(users["miit-reviewer"]), notice, "publish")
