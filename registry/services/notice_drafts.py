"""Notices drafted from the data: the quarterly exposure notice (曝光公告) of the listings an
authority published on one list in a quarter, and the removal notice (移出公告) of those
that left it. The draft names the listings, counts them and tables the six fields the 2018
notice publishes (name, USCC, licence number, decision date, ground, listing authority);
it then goes through the normal review like any notice.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from registry import rules, visibility
from registry.messages import _
from registry.models import Authority, Enterprise, Listing, Notice
from registry.rules import Actor, RuleViolation, check_may
from registry.services.notices import create_notice, transition_notice

ENDED_STATES = ("removed", "expired", "annulled")
_MARKDOWN_SPECIAL = "\\|*_[]`<>#"


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    """The first and last day of a calendar quarter."""
    if not 1 <= quarter <= 4 or not 2000 <= year <= 2100:
        raise RuleViolation("bad_period", _("季度无效"))
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


def period_listings(
    session: Session, kind: str, authority_id: int, list_code: str, start: date, end: date
) -> list[Listing]:
    """Exposure: the authority's listings on the list published between start and end.
    Removal: those that left the list (removed, expired, annulled) between them."""
    query = select(Listing).where(
        Listing.authority_id == authority_id,
        Listing.list_code == list_code,
        visibility.listing_named_in_notice(),
    )
    if kind == "exposure":
        query = query.where(Listing.listed_on >= start, Listing.listed_on <= end)
    else:
        left = visibility.listing_left_on(end)
        query = query.where(Listing.state.in_(ENDED_STATES), left >= start, left <= end)
    return list(
        session.scalars(
            query.options(
                joinedload(Listing.enterprise).selectinload(Enterprise.licences),
                joinedload(Listing.ground),
                selectinload(Listing.authority),
            ).order_by(Listing.listed_on, Listing.id)
        ).unique()
    )


def _cell(value: str) -> str:
    """Text safe inside a Markdown table cell."""
    out = "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in value)
    return out.replace("\n", " ")


def notice_body(listings: list[Listing], intro: str) -> str:
    """The notice's Markdown: the introduction, the counts and the table of the six fields."""
    firms = len({item.enterprise_id for item in listings})
    lines = [
        intro,
        "",
        str(_("本期共%(firms)s家经营者、%(n)s条记录。", firms=firms, n=len(listings))),
        "",
        "| "
        + " | ".join(
            str(h)
            for h in (
                _("序号"),
                _("经营者名称"),
                _("统一社会信用代码"),
                _("经营许可证编号"),
                _("处理日期"),
                _("列入事由"),
                _("列入单位"),
            )
        )
        + " |",
        "|" + "---|" * 7,
    ]
    for number, item in enumerate(listings, start=1):
        firm = item.enterprise
        licence = firm.licences[0].number if firm.licences else ""
        cells = [
            str(number),
            firm.name,
            firm.uscc or "",
            licence,
            item.decided_on.isoformat(),
            f"{item.ground.code} {item.ground.title}",
            item.authority.name,
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _free_slug(session: Session, base: str) -> str:
    slug, n = base, 1
    while session.scalar(select(Notice.id).where(Notice.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def draft_notice(
    session: Session,
    actor: Actor,
    *,
    kind: str,
    authority: Authority,
    list_code: str,
    year: int,
    quarter: int,
) -> Notice:
    """A draft notice of `authority`'s listings of `list_code` in the quarter (see module)."""
    check_may(actor, "create", actor.authority_id)
    if not rules.may_read(actor, authority.id):
        raise RuleViolation("forbidden", _("不能引用其他机构的记录"))
    start, end = quarter_bounds(year, quarter)
    listings = period_listings(session, kind, authority.id, list_code, start, end)
    if not listings:
        raise RuleViolation("empty_notice", _("该季度没有符合条件的名单记录"))
    list_name = _("失信名单") if list_code == "dishonest" else _("不良名单")
    words = {
        "authority": authority.name,
        "year": year,
        "quarter": quarter,
        "list": list_name,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    if kind == "exposure":
        title = _("%(authority)s%(year)s年第%(quarter)s季度电信业务经营%(list)s列入公告", **words)
        intro = _(
            "依据《电信业务经营不良名单和失信名单管理办法》，现将%(start)s至%(end)s"
            "列入%(list)s的电信业务经营者公告如下。",
            **words,
        )
    else:
        title = _("%(authority)s%(year)s年第%(quarter)s季度电信业务经营%(list)s移出公告", **words)
        intro = _(
            "依据《电信业务经营不良名单和失信名单管理办法》，现将%(start)s至%(end)s"
            "移出%(list)s的电信业务经营者公告如下。",
            **words,
        )
    slug = _free_slug(session, f"{kind}-{authority.code.lower()}-{year}q{quarter}-{list_code}")
    return create_notice(
        session,
        actor,
        slug=slug,
        title=str(title),
        body_md=notice_body(listings, str(intro)),
        kind=kind,
        listings=listings,
    )


def listing_removal_notice(session: Session, actor: Actor, listing: Listing, slug: str) -> Notice:
    """The removal notice (移出公告) of one listing a decision removed or annulled, drafted
    and submitted by the deciding reviewer: it waits for another reviewer to publish it,
    like any notice."""
    words = {
        "authority": listing.authority.name,
        "firm": listing.enterprise.name,
        "list": _("失信名单") if listing.list_code == "dishonest" else _("不良名单"),
    }
    title = _("%(authority)s关于将%(firm)s移出电信业务经营%(list)s的公告", **words)
    intro = _(
        "依据《电信业务经营不良名单和失信名单管理办法》，经复核，现将下列电信业务经营者"
        "移出%(list)s，公告如下。",
        **words,
    )
    notice = create_notice(
        session,
        actor,
        slug=_free_slug(session, slug.lower()),
        title=str(title),
        body_md=notice_body([listing], str(intro)),
        kind="removal",
        listings=[listing],
    )
    return transition_notice(session, actor, notice, "submit")
