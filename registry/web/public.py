"""Public, read-only pages. Everything shown passes registry.visibility."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from registry import rules, search, text, visibility
from registry.database import get_session
from registry.markdown import render_markdown
from registry.models import (
    Campaign,
    Enterprise,
    Ground,
    Listing,
    Notice,
    notice_listing,
)
from registry.web import (
    catalogue,
    current_request,
    firmhtml,
    firmpage,
    hitlist,
    hits,
    indexing,
    kept_by_app,
    pageframe,
)
from registry.web.api import BadParameter, as_of_arg

bp = Blueprint("public", __name__)

PER_PAGE = 20
LIST_SORTS = {
    "listed": (Listing.listed_on.desc(), Listing.id.desc()),
    "decided": (Listing.decided_on.desc(), Listing.id.desc()),
    "name": (Enterprise.name, Listing.id),
    "expires": (Listing.expires_on, Listing.id),
}


@bp.app_template_global()
def list_title(code: str) -> str:
    return _("不良名单") if code == "bad" else _("失信名单")


def _page_arg(args: Mapping[str, str] | None = None) -> int:
    raw = (current_request().args if args is None else args).get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= search.engine.MAX_PAGE:
        abort(400, description=_("页码无效。"))
    return int(raw)


_CODE_ARG = re.compile(r"[0-9A-Za-z]{1,12}")
_SLUG = re.compile(r"[a-z0-9-]{1,120}")


def _code_arg(name: str, args: Mapping[str, str] | None = None) -> str | None:
    """A province or ground code from the query string; anything else is ignored."""
    value = (current_request().args if args is None else args).get(name) or ""
    return value if _CODE_ARG.fullmatch(value) else None


def _provinces(session=None) -> dict[str, str]:
    """Province code → short display name (广东省通信管理局 → 广东省), cached per process."""
    return catalogue.get(session).provinces


def _grounds(session=None) -> dict[str, Any]:
    """Ground code → its catalogue columns, in catalogue order, cached per process."""
    return catalogue.get(session).grounds


def _as_of() -> date | None:
    """The page's `as_of` day (a past date it shows), or None for today; bad ones are 400."""
    try:
        return as_of_arg()
    except BadParameter as exc:
        abort(exc.status, description=exc.message)


@bp.get("/")
def home():
    session = get_session()
    today = rules.today()
    counts = dict(session.execute(visibility.in_force_by_list(today)).all())
    latest = session.scalars(
        visibility.public_listings(today)
        .options(
            joinedload(Listing.enterprise),
            joinedload(Listing.ground),
            joinedload(Listing.authority),
        )
        .order_by(Listing.published_at.desc(), Listing.id.desc())
        .limit(10)
    ).all()
    notices = session.scalars(
        visibility.public_notices().order_by(Notice.published_at.desc()).limit(5)
    ).all()
    return render_template("public/home.html", counts=counts, latest=latest, notices=notices)


@bp.get("/search")
def search_page():
    # No Session: the counter, the catalogue and the hits are read on the request's read
    # connection (a Session is opened only if the catalogue must be loaded).
    args = current_request().args
    list_code = args.get("list") or None
    if list_code is not None and list_code not in search.LISTS:
        abort(400, description=_("名单类型只能是 bad 或 dishonest。"))
    year_raw = args.get("year") or None
    if year_raw is not None and not (year_raw.isdigit() and 1990 <= int(year_raw) <= 2100):
        abort(400, description=_("年份无效。"))
    province, ground = _code_arg("province", args), _code_arg("ground", args)
    page = _page_arg(args)
    query = args.get("q", "")
    filters = search.SearchFilters(
        list_code=list_code,
        province=province,
        ground=ground,
        year=int(year_raw) if year_raw else None,
    )
    result = indexing.search(query, filters, page, PER_PAGE)
    # The page shows what the database says now (the index only finds candidates): every
    # listing in force of the page's firms, in one query.
    rows = hits.for_hits(result)
    kept = {k: v for k, v in args.items() if k in ("q", "list", "province", "ground", "year") and v}
    # Once: the facets link to the page a hundred times.
    links = hitlist.Links(site_url("public.search_page"), kept)
    words = hitlist.labels()
    feed_query, api_query = links.query("q", "list"), links.query()
    page_parts = hitlist.search_page(
        query=query[:200],
        result=result,
        hit_list=hitlist.result_list(rows, firm_links(), words) if rows else "",
        facets=hitlist.facet_sections(result, filters, links, _provinces(), _grounds(), words),
        links=links,
        form_action=site_url("public.search_page"),
        feed_url="/feeds/search.rss" + ("?" + feed_query if feed_query else ""),
        api_url="/api/v1/search" + ("?" + api_query if api_query else ""),
        words=words,
    )
    return pageframe.render_page(page_parts)


def _enterprise_page(*, uscc: str | None = None, firm_id: int | None = None):
    # The firm and its listings are read on the request's read connection; a Session is
    # opened only for the rarer parts (sanctions, evidence, notices) and a past day.
    if "as_of" in current_request().args:
        firm = firmpage.find_firm(get_session(), uscc=uscc, firm_id=firm_id)
        if firm is None:
            abort(404, description=_("未找到该经营者。"))
        as_of = _as_of()
        if as_of is not None:
            return _enterprise_as_of(firm, as_of)
    try:
        found = firmpage.firm(uscc=uscc, firm_id=firm_id)
    except firmpage.NothingPublished:
        abort(404, description=_("该经营者目前没有公示中的记录。"))
    if found is None:
        abort(404, description=_("未找到该经营者。"))
    record = firmhtml.record(found, found.listings, _provinces(), _firm_links())
    published = firmhtml.published(
        firmpage.sanctions(found), firmpage.evidence(found), firmpage.notices(found)
    )
    blocks = firmhtml.page(found, record, published, site_url("public.about"))
    return pageframe.render_page(blocks)


def _firm_links(session=None) -> firmhtml.Links:
    """The firm page's objection and repair links, by the listing id they end with."""
    return firmhtml.Links(
        site_url("submissions.objection_new") + "?listing=",
        site_url("submissions.repair_new") + "?listing=",
        catalogue.get(session).repairable_ground_ids,
    )


def _enterprise_as_of(firm: SimpleNamespace, as_of: date):
    """The firm's listings in force at the end of a past day, from the publication log.
    A firm none of whose listings was ever published is unknown to the public (404). Only
    listings are replayed: names, licences and the rest are today's, on today's page."""
    session = get_session()
    firm.former_names, firm.licences = [], []
    ever = session.scalar(
        select(func.count())
        .select_from(Listing)
        .where(Listing.enterprise_id == firm.id, visibility.listing_ever_published())
    )
    if not ever:
        abort(404, description=_("该经营者目前没有公示中的记录。"))
    listings = [
        firmpage.listing_row(listing)
        for listing in session.scalars(
            visibility.public_listings(rules.today(), as_of)
            .where(Listing.enterprise_id == firm.id)
            .options(joinedload(Listing.ground), joinedload(Listing.authority))
            .order_by(Listing.decided_on.desc())
        )
    ]
    record = firmhtml.record(firm, listings, _provinces(session), _firm_links(session), as_of)
    today_url = firm_url(firm)
    note = render_template("public/_as_of.html", as_of=as_of, today_url=today_url)
    blocks = firmhtml.page(
        firm, record, firmhtml.to_today(today_url), site_url("public.about"), note
    )
    return pageframe.render_page(blocks)


@bp.get("/enterprises/<uscc>")
def enterprise(uscc: str):
    return _enterprise_page(uscc=text.canonical_uscc(uscc)[:18])


@bp.get("/enterprises/id/<int:firm_id>")
def enterprise_by_id(firm_id: int):
    if firm_id >= 2**31:
        abort(404, description=_("未找到该经营者。"))
    return _enterprise_page(firm_id=firm_id)


@bp.get("/lists/<any(bad, dishonest):list_code>")
def list_page(list_code: str):
    session = get_session()
    today = rules.today()
    page = _page_arg()
    sort = request.args.get("sort", "listed")
    if sort not in LIST_SORTS:
        abort(400, description=_("不支持的排序方式。"))
    province, ground = _code_arg("province"), _code_arg("ground")
    as_of = _as_of()
    stmt = (
        visibility.public_listings(today, as_of)
        .join(Enterprise, Enterprise.id == Listing.enterprise_id)
        .join(Ground, Ground.id == Listing.ground_id)
        .where(Listing.list_code == list_code)
    )
    if province:
        stmt = stmt.where(Enterprise.province_code == province)
    if ground:
        stmt = stmt.where(Ground.code == ground)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = session.scalars(
        stmt.options(
            joinedload(Listing.enterprise),
            joinedload(Listing.ground),
            joinedload(Listing.authority),
        )
        .order_by(*LIST_SORTS[sort])
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    kept = {"province": province, "ground": ground, "sort": sort, "as_of": _iso(as_of)}
    args = {k: v for k, v in kept.items() if v}
    grounds = {code: g for code, g in _grounds(session).items() if g.list_code == list_code}
    return render_template(
        "public/list.html",
        list_code=list_code,
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        sort=sort,
        province=province,
        ground=ground,
        args=args,
        provinces=_provinces(session),
        grounds=grounds,
        api_url=f"/api/v1/listings?list={list_code}" + (f"&as_of={as_of}" if as_of else ""),
        as_of=as_of,
    )


@bp.get("/notices")
def notices():
    session = get_session()
    page = _page_arg()
    stmt = visibility.public_notices()
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = session.scalars(
        stmt.options(joinedload(Notice.authority))
        .order_by(Notice.published_at.desc(), Notice.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    return render_template(
        "public/notices.html",
        items=items,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
    )


@bp.get("/notices/<slug>")
def notice(slug: str):
    session = get_session()
    if not _SLUG.fullmatch(slug):
        abort(404, description=_("未找到该公告。"))
    item = session.scalar(
        visibility.public_notices().where(Notice.slug == slug).options(joinedload(Notice.authority))
    )
    if item is None:
        abort(404, description=_("未找到该公告。"))
    listings = session.scalars(
        select(Listing)
        .join(notice_listing, notice_listing.c.listing_id == Listing.id)
        .where(notice_listing.c.notice_id == item.id, visibility.listing_named_in_notice())
        .options(joinedload(Listing.enterprise), joinedload(Listing.ground))
        .order_by(Listing.id)
    ).all()
    today = rules.today()
    return render_template(
        "public/notice.html",
        notice=item,
        body=render_markdown(item.body_md),
        listings=listings,
        in_force={li.id for li in listings if visibility.listing_is_in_force(li, today)},
    )


@bp.get("/about")
def about():
    session = get_session()
    grounds = [g for g in _grounds(session).values() if g.active]
    return render_template("public/about.html", grounds=grounds)


@bp.get("/robots.txt")
def robots():
    body = (
        "User-agent: *\n"
        "Disallow: /admin/\n"
        "Disallow: /search\n"
        f"Sitemap: {url_for('public.sitemap', _external=True)}\n"
    )
    return Response(body, mimetype="text/plain")


@bp.get("/sitemap.xml")
def sitemap():
    session = get_session()
    today = rules.today()
    urls = [
        url_for("public.home", _external=True),
        url_for("public.list_page", list_code="bad", _external=True),
        url_for("public.list_page", list_code="dishonest", _external=True),
        url_for("public.notices", _external=True),
        url_for("public.about", _external=True),
        url_for("campaigns.index", _external=True),
    ]
    for slug in session.scalars(select(Campaign.slug).order_by(Campaign.slug)):
        urls.append(url_for("campaigns.page", slug=slug, _external=True))
    for slug in session.scalars(select(Notice.slug).where(visibility.notice_public())):
        urls.append(url_for("public.notice", slug=slug, _external=True))
    for firm in session.scalars(
        select(Enterprise).where(
            Enterprise.id.in_(
                select(Listing.enterprise_id).where(visibility.listing_in_force(today))
            )
        )
    ):
        urls.append(enterprise_url(firm, external=True))
    xml = render_template("public/sitemap.xml", urls=urls)
    return Response(xml, mimetype="application/xml")


def enterprise_url(firm: Enterprise, external: bool = False) -> str:
    if firm.uscc:
        return url_for("public.enterprise", uscc=firm.uscc, _external=external)
    return url_for("public.enterprise_by_id", firm_id=firm.id, _external=external)


# What werkzeug's path converters leave unquoted in a URL segment.
_SEGMENT_SAFE = "!$&'()*+,/:;=@"


@bp.app_template_global()
def firm_url(firm: Enterprise | SimpleNamespace) -> str:
    """The firm's page: `enterprise_url`, with the part before the code or id built once
    per app and script root (a search page links twenty firms)."""
    if firm.uscc:
        return site_url("public.enterprise", uscc="0")[:-1] + quote(firm.uscc, safe=_SEGMENT_SAFE)
    return site_url("public.enterprise_by_id", firm_id=0)[:-1] + str(firm.id)


def firm_links() -> Callable[[Any], str]:
    """`firm_url` for many firms of one request: the prefixes looked up once."""
    by_code = site_url("public.enterprise", uscc="0")[:-1]
    by_id = site_url("public.enterprise_by_id", firm_id=0)[:-1]

    def link(firm: Any) -> str:
        code = firm.uscc
        if code:
            # Letters and digits (every USCC) are what quoting leaves as they are.
            plain = code.isascii() and code.isalnum()
            return by_code + (code if plain else quote(code, safe=_SEGMENT_SAFE))
        return by_id + str(firm.id)

    return link


_SITE_URLS = "registry_site_urls"


@bp.app_template_global()
def site_url(endpoint: str, **values: Any) -> str:
    """`url_for` of the links every page carries (navigation, footer, search form), with
    arguments that are constants of the templates: kept per app and script root, since
    they never change while the process runs."""
    kept, root = kept_by_app(_SITE_URLS)
    key = (root, endpoint, *sorted(values.items()))
    found = kept.get(key)
    if found is None:
        if len(kept) >= 256:  # only constants are asked for: a bound, never reached
            kept.clear()
        found = kept[key] = url_for(endpoint, **values)
    return found


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


@bp.app_template_filter()
def isodate(value: date | None) -> str:
    return value.isoformat() if value else ""
