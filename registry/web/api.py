"""The read-only JSON API `/api/v1/...` (docs/INTERFACES.md), and the query-string parsing that
every machine-readable view shares: a bad parameter is a JSON 400, never a 500."""

from __future__ import annotations

import re
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, Response, jsonify
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager, joinedload

from registry import campaigns, rules, search, text, visibility
from registry.database import get_session
from registry.errors import NotFoundError
from registry.models import (
    LISTS,
    NOTICE_KINDS,
    Campaign,
    Enterprise,
    Listing,
    Notice,
)
from registry.web import (
    catalogue,
    current_flask_app,
    current_request,
    firmpage,
    hits,
    indexing,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
MAX_PAGE = 1_000_000
SEARCH_MAX_PAGE = search.engine.MAX_PAGE
MAX_QUERY = 200
INTEGER = re.compile(r"-?[0-9]+")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# POST /match (registry.web.match): limits the OpenAPI document states.
MATCH_MAX_QUERIES = 100
MATCH_MAX_KEY = 200
MATCH_MAX_FIELD = 200
MATCH_DEFAULT_LIMIT = 5
MATCH_MAX_LIMIT = 20
MATCH_FIELDS = ("name", "uscc", "licence_no", "province")


class BadParameter(Exception):
    """A query-string parameter that cannot be used; answered as JSON 400."""

    def __init__(self, name: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.status = status


def json_error(status: int, message: str) -> Response:
    response = jsonify({"error": {"code": status, "message": message}})
    response.status_code = status
    return response


def allow_cors(response: Response) -> Response:
    """Open data: any site may read the GET answers."""
    if current_request().method in ("GET", "HEAD"):
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _arg(name: str) -> str | None:
    """The parameter's one value; None when it is not given. Given empty or more than once,
    it is refused: the OpenAPI document calls both invalid."""
    values = current_request().args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadParameter(name, _("参数 %(name)s 只能给出一次", name=name))
    raw = values[0]
    if raw == "":
        raise BadParameter(name, _("参数 %(name)s 不能为空；不需要时请省略它", name=name))
    return raw


def int_arg(name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    raw = _arg(name)
    if raw is None:
        return default
    # ASCII digits only: int() would also take "1_000" and other scripts' digits.
    if not INTEGER.fullmatch(raw):
        raise BadParameter(name, _("参数 %(name)s 必须是整数", name=name))
    # A dozen digits is past any bound below; int() refuses strings of 4,300 digits.
    value = int(raw) if len(raw) <= 12 else (-(2**63) if raw.startswith("-") else 2**63)
    if value < minimum:
        raise BadParameter(name, _("参数 %(name)s 不能小于 %(min)d", name=name, min=minimum))
    # Past a 32-bit integer no row, page or log entry exists; the database would overflow.
    maximum = maximum if maximum is not None else 2**31 - 1
    if value > maximum:
        raise BadParameter(name, _("参数 %(name)s 不能大于 %(max)d", name=name, max=maximum))
    return value


def date_arg(name: str) -> date | None:
    raw = _arg(name)
    if raw is None:
        return None
    try:
        # RFC 3339 full-date, as "format": "date" means; fromisoformat alone takes week dates.
        if not DATE.fullmatch(raw):
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise BadParameter(name, _("参数 %(name)s 须为 YYYY-MM-DD 格式的日期", name=name)) from None


def past_day_arg(name: str) -> date | None:
    """A day whose end (Asia/Shanghai) has been reached or is today's, or None. A later day
    has no answer yet: 404, as for any record that does not exist."""
    day = date_arg(name)
    if day is not None and day > rules.today():
        raise BadParameter(
            name,
            _("参数 %(name)s 的日期 %(day)s 尚未到来（北京时间）", name=name, day=day.isoformat()),
            status=404,
        )
    return day


def as_of_arg() -> date | None:
    """`as_of`: a past day whose end (Asia/Shanghai) the answer shows; None: today."""
    return past_day_arg("as_of")


def text_arg(name: str, max_length: int) -> str:
    """A free-text parameter, "" when absent; longer than max_length (counted as sent) is
    refused, and a NUL in it is then dropped, as the site drops it from every query."""
    values = current_request().args.getlist(name)
    if len(values) > 1:
        raise BadParameter(name, _("参数 %(name)s 只能给出一次", name=name))
    value = values[0] if values else ""
    if len(value) > max_length:
        raise BadParameter(
            name, _("参数 %(name)s 不能超过 %(max)d 个字符", name=name, max=max_length)
        )
    return value.replace("\x00", "")


def choice_arg(name: str, choices: tuple[str, ...] | frozenset[str] | set[str]) -> str | None:
    raw = _arg(name)
    if raw is None:
        return None
    if raw not in choices:
        raise BadParameter(
            name,
            _(
                "参数 %(name)s 的取值未知：%(value)s（可用：%(choices)s）",
                name=name,
                value=raw[:50],
                choices=", ".join(sorted(choices)),
            ),
        )
    return raw


def pagination() -> tuple[int, int]:
    page = int_arg("page", 1, minimum=1, maximum=MAX_PAGE)
    per_page = int_arg("per_page", DEFAULT_PER_PAGE, minimum=1, maximum=MAX_PER_PAGE)
    return page, per_page


def register_json_errors(blueprint: Blueprint) -> None:
    @blueprint.errorhandler(BadParameter)
    def bad_parameter(exc: BadParameter) -> Any:
        return json_error(exc.status, exc.message)

    blueprint.after_request(allow_cors)


register_json_errors(bp)


# --- shared serialisation (also used by feeds and exports) ---------------------------------


def base_url() -> str:
    """Scheme and host for absolute links: BASE_URL behind a proxy, else the request's."""
    configured = current_flask_app().config.get("BASE_URL") or ""
    return (configured or _host_url()).rstrip("/")


_HOST_URLS: dict[tuple[str, str], str] = {}


def _host_url() -> str:
    """`request.host_url`: Werkzeug's URL of the scheme and (validated) host alone, kept
    per pair (building it was a twentieth of a search answer)."""
    current = current_request()
    key = (current.scheme, current.host)
    found = _HOST_URLS.get(key)
    if found is None:
        if len(_HOST_URLS) >= 256:  # a few names a site answers to: a bound
            _HOST_URLS.clear()
        found = _HOST_URLS[key] = current.host_url
    return found


def enterprise_path(
    enterprise: Enterprise | SimpleNamespace | hits.HitFirm | firmpage.Firm,
) -> str:
    if enterprise.uscc:
        return f"/enterprises/{enterprise.uscc}"
    return f"/enterprises/id/{enterprise.id}"


def listing_json(listing: Listing | SimpleNamespace) -> dict[str, Any]:
    """One listing's published fields (2018 notice), as documented in
    docs/INTERFACES.md (the search answers write the same keys from plain rows)."""
    return {
        "list": listing.list_code,
        "ground": listing.ground.code,
        "ground_title": listing.ground.title,
        "decided_on": listing.decided_on.isoformat(),
        "listed_on": _iso(listing.listed_on),
        "expires_on": _iso(listing.expires_on),
        "authority": listing.authority.name,
        "authority_code": listing.authority.code,
    }


def firm_json(enterprise: Enterprise | SimpleNamespace) -> dict[str, Any]:
    return {
        "uscc": enterprise.uscc,
        "name": enterprise.name,
        "province": enterprise.province_code,
        "url": base_url() + enterprise_path(enterprise),
    }


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _page(total: int, page: int, per_page: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"total": total, "page": page, "per_page": per_page, "results": results}


def _province_codes(session=None) -> frozenset[str]:
    return catalogue.get(session).province_codes


# --- routes -----------------------------------------------------------------------------


@bp.get("/listings")
def listings():
    """Listings in force (today, or at the end of the day `as_of`), newest first."""
    session = get_session()
    list_code = choice_arg("list", LISTS)
    province = choice_arg("province", _province_codes(session))
    since = date_arg("since")
    as_of = as_of_arg()
    page, per_page = pagination()
    today = rules.today()
    query = (
        visibility.public_listings(today, as_of)
        .join(Listing.enterprise)
        .options(
            contains_eager(Listing.enterprise),
            joinedload(Listing.ground),
            joinedload(Listing.authority),
        )
    )
    if list_code:
        query = query.where(Listing.list_code == list_code)
    if province:
        query = query.where(Enterprise.province_code == province)
    if since:
        query = query.where(Listing.listed_on >= since)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Listing.listed_on.desc(), Listing.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    results = [{"id": row.id} | firm_json(row.enterprise) | listing_json(row) for row in rows]
    answer = _page(total, page, per_page, results)
    return answer | {"as_of": as_of.isoformat()} if as_of else answer


def row_listing_json(li: Any) -> dict[str, Any]:
    """`listing_json`'s fields from a plain row (a search's or the firm page's listing in
    force: the ground and authority as columns, dates as ISO text)."""
    return {
        "list": li.list_code,
        "ground": li.ground_code,
        "ground_title": li.ground_title,
        "decided_on": li.decided_on,
        "listed_on": li.listed_on,
        "expires_on": li.expires_on,
        "authority": li.authority_name,
        "authority_code": li.authority_code,
    }


def search_args(session=None) -> tuple[str, search.SearchFilters]:
    """q, list, province and ground as /search takes them; bad values are a 400."""
    # The feeds take a longer q from the search page's link and use its first part.
    query = (current_request().args.get("q") or "").replace("\x00", "")[:MAX_QUERY]
    grounds = catalogue.get(session).ground_codes
    filters = search.SearchFilters(
        list_code=choice_arg("list", LISTS),
        province=choice_arg("province", _province_codes(session)),
        ground=choice_arg("ground", grounds),
    )
    return query, filters


@bp.get("/search")
def search_firms():
    """Firms matching a name (part), USCC, licence or decision number, with listings in force."""
    # No Session: see public.search_page.
    text_arg("q", MAX_QUERY)
    query, filters = search_args()
    page = int_arg("page", 1, minimum=1, maximum=SEARCH_MAX_PAGE)
    per_page = int_arg("per_page", DEFAULT_PER_PAGE, minimum=1, maximum=MAX_PER_PAGE)
    result = indexing.search(query, filters, page, per_page, facets=False)
    prefix = base_url()
    results = [
        {
            "uscc": firm.uscc,
            "name": firm.name,
            "province": firm.province_code,
            "url": prefix + enterprise_path(firm),
            "listings": [row_listing_json(li) for li in found],
        }
        for firm, found in hits.for_hits(result, filters)
    ]
    return _page(result.total, page, per_page, results)


def sanction_json(sanction: Any) -> dict[str, Any]:
    """A published sanction (a row of registry.web.firmpage.sanctions)."""
    return {
        "decision_no": sanction.decision_no,
        "decided_on": sanction.decided_on.isoformat(),
        "authority": sanction.authority_name,
        "authority_code": sanction.authority_code,
        "facts": sanction.facts,
        "legal_basis": sanction.legal_basis,
        "measures": list(sanction.measures or []),
        "fine_amount": str(sanction.fine_amount) if sanction.fine_amount is not None else None,
        "campaign": sanction.campaign_name if sanction.campaign_slug is not None else "",
        "campaign_slug": sanction.campaign_slug,
    }


@bp.get("/enterprises/<uscc>")
def enterprise(uscc: str):
    """The firm with its in-force listings (latest listed first) and published sanctions,
    from the rows the firm page reads; a 404 unless something about it is published."""
    try:
        code = text.canonical_uscc(uscc)
    except ValueError:
        code = None
    found = None
    if code:
        try:
            found = firmpage.firm(uscc=code, order=firmpage.BY_LISTING)
        except firmpage.NothingPublished:
            found = None
    if found is None:
        raise NotFoundError(_("未找到统一社会信用代码为 %(uscc)s 的公示经营者", uscc=uscc[:40]))
    return {
        "uscc": found.uscc,
        "name": found.name,
        "province": found.province_code,
        "url": base_url() + enterprise_path(found),
        "former_names": found.former_names,
        "licences": [
            {"number": lic.number, "services": lic.services, "status": lic.status}
            for lic in found.licences
        ],
        "listings": [row_listing_json(li) for li in found.listings],
        "sanctions": [sanction_json(row) for row in firmpage.sanctions(found, firmpage.BY_LISTING)],
    }


def notice_summary(notice: Notice) -> dict[str, Any]:
    return {
        "slug": notice.slug,
        "title": notice.title,
        "kind": notice.kind,
        "authority": notice.authority.name,
        "authority_code": notice.authority.code,
        "published_at": notice.published_at.isoformat() if notice.published_at else None,
        "url": f"{base_url()}/notices/{notice.slug}",
    }


@bp.get("/notices")
def notices():
    session = get_session()
    kind = choice_arg("kind", NOTICE_KINDS)
    page, per_page = pagination()
    query = visibility.public_notices()
    if kind:
        query = query.where(Notice.kind == kind)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(joinedload(Notice.authority))
        .order_by(Notice.published_at.desc(), Notice.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return _page(total, page, per_page, [notice_summary(row) for row in rows])


@bp.get("/notices/<slug>")
def notice(slug: str):
    session = get_session()
    found = session.scalar(visibility.public_notices().where(Notice.slug == slug.lower()))
    if found is None:
        raise NotFoundError(_("未找到该公告：%(slug)s", slug=slug[:120]))
    return notice_summary(found) | {
        "body_md": found.body_md,
        "listings": [
            firm_json(listing.enterprise) | listing_json(listing)
            for listing in found.listings
            if visibility.listing_is_named_in_notice(listing)
        ],
    }


def _progress_json(row: campaigns.Progress) -> dict[str, int]:
    return {
        "sanctions": row.sanctions,
        "listings": row.listings,
        "in_force": row.in_force,
        "removals": row.removals,
    }


def campaign_json(campaign: Campaign, total: campaigns.Progress) -> dict[str, Any]:
    return {
        "slug": campaign.slug,
        "name": campaign.name,
        "starts_on": campaign.starts_on.isoformat(),
        "ends_on": _iso(campaign.ends_on),
        "lead_authority": campaign.lead_authority.name,
        "lead_authority_code": campaign.lead_authority.code,
        "legal_basis": campaign.legal_basis,
        "url": f"{base_url()}/campaigns/{campaign.slug}",
        "totals": _progress_json(total),
    }


@bp.get("/campaigns")
def campaign_list():
    """Every enforcement campaign with its national totals."""
    session = get_session()
    found = campaigns.catalogue(session)
    progress = campaigns.progress(session, found, rules.today())
    return {"campaigns": [campaign_json(c, progress[c.id][1]) for c in found]}


@bp.get("/campaigns/<slug>")
def campaign(slug: str):
    """One campaign: progress by province and one page of its public firms."""
    session = get_session()
    page = int_arg("page", 1, minimum=1, maximum=MAX_PAGE)
    found = campaigns.campaign_by_slug(session, slug)
    data = campaigns.campaign_progress(session, found, rules.today(), page)
    firms = [
        {
            "uscc": firm.uscc,
            "name": firm.name,
            "province": firm.province_code or None,
            "url": base_url()
            + (f"/enterprises/{firm.uscc}" if firm.uscc else f"/enterprises/id/{firm.id}"),
            "in_force": firm.in_force,
            "sanctions": firm.sanctions,
        }
        for firm in data.firms
    ]
    return campaign_json(found, data.total) | {
        "description": found.description,
        "provinces": [
            {"province": row.province_code or None, "province_name": row.province or None}
            | _progress_json(row)
            for row in data.provinces
        ],
        "firms": _page(data.firms_total, page, campaigns.FIRMS_PER_PAGE, firms),
    }


# --- OpenAPI 3 -------------------------------------------------------------------------

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_DATE = {"type": "string", "format": "date"}
_NDATE = {"type": ["string", "null"], "format": "date"}
_LISTING_PROPS = {
    "list": {"type": "string", "enum": list(LISTS)},
    "ground": _STR,
    "ground_title": _STR,
    "decided_on": _DATE,
    "listed_on": _NDATE,
    "expires_on": _NDATE,
    "authority": _STR,
    "authority_code": _STR,
}
_FIRM_PROPS = {
    "uscc": _NSTR,
    "name": _STR,
    "province": _NSTR,
    "url": {"type": "string", "format": "uri"},
}


def _object(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": sorted(props), "properties": props}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _paged(item: str) -> dict[str, Any]:
    return _object(
        {
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            "results": {"type": "array", "items": _ref(item)},
        }
    )


def _as_of_page(page: dict[str, Any]) -> dict[str, Any]:
    """A page that may answer for a past day: then it says which (`as_of`)."""
    page["properties"]["as_of"] = {"type": "string", "format": "date"}
    return page


def _param(name: str, schema: dict[str, Any], description: str, where: str = "query"):
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema,
    }


_PAGE_PARAMS = [
    _param(
        "page",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
        "page number, from 1",
    ),
    _param(
        "per_page",
        {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE},
        f"results per page, at most {MAX_PER_PAGE}",
    ),
]


def _responses(schema: str, *errors: int) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": _ref(schema)}}}
    }
    for status in errors:
        answers[str(status)] = {
            "description": "bad parameter" if status == 400 else "not found",
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return answers


def openapi_document(server: str, provinces: list[str], grounds: list[str]) -> dict[str, Any]:
    """The API's description; tests check every response against it."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "电信业务经营不良名单和失信名单 API",
            "version": "1",
            "description": "Read-only open data: listings in force, firms, notices. "
            "Dates are ISO 8601 (Asia/Shanghai calendar days).",
        },
        "servers": [{"url": server + "/api/v1"}],
        "paths": _openapi_paths(provinces, grounds),
        "components": {"schemas": _openapi_schemas()},
    }


def _get(summary: str, operation: str, parameters: list[Any], responses: dict) -> dict:
    """A read-only path of the API."""
    return {
        "get": {
            "summary": summary,
            "operationId": operation,
            "parameters": parameters,
            "responses": responses,
        }
    }


_CAMPAIGN_PATHS = {
    "/campaigns": _get(
        "Enforcement campaigns (专项行动) with their national totals",
        "listCampaigns",
        [],
        _responses("CampaignList"),
    ),
    "/campaigns/{slug}": _get(
        "One campaign: progress by province and a page of its public firms",
        "getCampaign",
        [
            _param("slug", _STR, "the campaign's slug", "path"),
            _param(
                "page",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
                "page of firms, from 1",
            ),
        ],
        _responses("CampaignDetail", 400, 404),
    ),
}


def _openapi_paths(provinces: list[str], grounds: list[str]) -> dict[str, Any]:
    province = _param(
        "province", {"type": "string", "enum": provinces}, "GB/T 2260 province code of the firm"
    )
    list_code = _param("list", {"type": "string", "enum": list(LISTS)}, "bad | dishonest")
    return {
        "/listings": _get(
            "Listings in force, newest first",
            "listListings",
            [
                list_code,
                province,
                _param("since", {"type": "string", "format": "date"}, "listed on or after"),
                _param(
                    "as_of",
                    {"type": "string", "format": "date"},
                    "a day up to today: the listings in force at its end (Asia/Shanghai), "
                    "replayed from the publication log; a later day is a 404",
                ),
                *_PAGE_PARAMS,
            ],
            _responses("ListingPage", 400, 404),
        ),
        "/search": _get(
            "Firms by name (part), USCC, licence or decision number",
            "searchFirms",
            [
                _param(
                    "q",
                    {"type": "string", "maxLength": MAX_QUERY},
                    f"what to look for, at most {MAX_QUERY} characters",
                ),
                list_code,
                province,
                _param("ground", {"type": "string", "enum": grounds}, "ground code"),
                _param(
                    "page",
                    {"type": "integer", "minimum": 1, "maximum": SEARCH_MAX_PAGE},
                    "page number, from 1",
                ),
                _PAGE_PARAMS[1],
            ],
            _responses("SearchPage", 400),
        ),
        "/match": _match_path(),
        "/enterprises/{uscc}": _get(
            "A firm with its in-force listings and published sanctions",
            "getEnterprise",
            [_param("uscc", _STR, "unified social credit code", "path")],
            _responses("Enterprise", 404),
        ),
        "/notices": _get(
            "Published exposure and removal notices, newest first",
            "listNotices",
            [
                _param(
                    "kind", {"type": "string", "enum": list(NOTICE_KINDS)}, "exposure | removal"
                ),
                *_PAGE_PARAMS,
            ],
            _responses("NoticePage", 400),
        ),
        **_CAMPAIGN_PATHS,
        "/notices/{slug}": _get(
            "One published notice with the listings it names",
            "getNotice",
            [_param("slug", _STR, "the notice's slug", "path")],
            _responses("NoticeDetail", 404),
        ),
    }


def _match_path() -> dict[str, Any]:
    field = {"type": ["string", "null"], "maxLength": MATCH_MAX_FIELD}
    query = {"type": "object", "properties": dict.fromkeys(MATCH_FIELDS, field)}
    body = {
        "type": "object",
        "required": ["queries"],
        "properties": {
            "queries": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": MATCH_MAX_QUERIES,
                "propertyNames": {"maxLength": MATCH_MAX_KEY},
                "additionalProperties": query,
            }
        },
    }
    return {
        "post": {
            "summary": "Match up to 100 counterparties (name, USCC, licence number, province) "
            "against the firms with a listing in force; yente /match shape",
            "operationId": "matchFirms",
            "parameters": [
                _param(
                    "threshold",
                    {"type": "number", "minimum": 0, "maximum": 1},
                    "score from which a candidate is flagged as a match (default 0.8)",
                ),
                _param(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": MATCH_MAX_LIMIT},
                    f"candidates per query, at most {MATCH_MAX_LIMIT} (default 5)",
                ),
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}},
            },
            "responses": _responses("MatchAnswer", 400),
        }
    }


def _match_schemas() -> dict[str, Any]:
    explanation = {
        "type": "object",
        "required": ["feature", "result", "factor"],
        "properties": {
            "feature": _STR,
            "result": _STR,
            "factor": {"type": "number", "minimum": 0, "maximum": 1},
        },
    }
    result = _object(
        {
            "id": _STR,
            "uscc": _NSTR,
            "name": _STR,
            "province": _NSTR,
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "match": {"type": "boolean"},
            "lists": {"type": "array", "items": {"type": "string", "enum": list(LISTS)}},
            "explanations": {"type": "array", "items": explanation},
            "url": {"type": ["string", "null"], "format": "uri"},
        }
    )
    response = _object(
        {
            "query": _object(dict.fromkeys(MATCH_FIELDS, _STR)),
            "results": {"type": "array", "items": result},
            "total": _object(
                {"value": {"type": "integer", "minimum": 0}, "relation": {"const": "eq"}}
            ),
        }
    )
    return {
        "MatchResult": result,
        "MatchResponse": response,
        "MatchAnswer": _object(
            {
                "responses": {"type": "object", "additionalProperties": _ref("MatchResponse")},
                "threshold": {"type": "number", "minimum": 0, "maximum": 1},
                "limit": {"type": "integer", "minimum": 1, "maximum": MATCH_MAX_LIMIT},
            }
        ),
    }


def _openapi_schemas() -> dict[str, Any]:
    def array(items: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": items}

    return _match_schemas() | {
        "Error": _object(
            {"error": _object({"code": {"type": "integer"}, "message": {"type": "string"}})}
        ),
        "Listing": _object(_LISTING_PROPS),
        "ListingRow": _object({"id": {"type": "integer"}} | _FIRM_PROPS | _LISTING_PROPS),
        "ListingPage": _as_of_page(_paged("ListingRow")),
        "Sanction": _object(
            {
                "decision_no": _STR,
                "decided_on": _DATE,
                "authority": _STR,
                "authority_code": _STR,
                "facts": _STR,
                "legal_basis": _STR,
                "measures": array(_STR),
                "fine_amount": _NSTR,
                "campaign": _STR,
                "campaign_slug": _NSTR,
            }
        ),
        "Enterprise": _object(
            _FIRM_PROPS
            | {
                "former_names": array(_STR),
                "licences": array(_object({"number": _STR, "services": _STR, "status": _STR})),
                "listings": array(_ref("Listing")),
                "sanctions": array(_ref("Sanction")),
            }
        ),
        "CampaignList": _object({"campaigns": array(_ref("Campaign"))}),
        "Campaign": _object(_CAMPAIGN_PROPS),
        "CampaignDetail": _object(
            _CAMPAIGN_PROPS
            | {
                "description": _STR,
                "provinces": array(
                    _object(
                        {"province": _NSTR, "province_name": _NSTR} | _PROGRESS_PROPS,
                    )
                ),
                "firms": _object(
                    {
                        "total": _COUNT,
                        "page": {"type": "integer", "minimum": 1},
                        "per_page": {"type": "integer", "minimum": 1},
                        "results": array(
                            _object(_FIRM_PROPS | {"in_force": _COUNT, "sanctions": _COUNT})
                        ),
                    }
                ),
            }
        ),
        "Notice": _object(_NOTICE_PROPS),
        "NoticePage": _paged("Notice"),
        "SearchResult": _object(_FIRM_PROPS | {"listings": array(_ref("Listing"))}),
        "SearchPage": _paged("SearchResult"),
        "NoticeDetail": _object(
            _NOTICE_PROPS
            | {"body_md": _STR, "listings": array(_object(_FIRM_PROPS | _LISTING_PROPS))}
        ),
    }


_COUNT = {"type": "integer", "minimum": 0}
_PROGRESS_PROPS = {"sanctions": _COUNT, "listings": _COUNT, "in_force": _COUNT, "removals": _COUNT}
_CAMPAIGN_PROPS = {
    "slug": _STR,
    "name": _STR,
    "starts_on": _DATE,
    "ends_on": _NDATE,
    "lead_authority": _STR,
    "lead_authority_code": _STR,
    "legal_basis": _STR,
    "url": {"type": "string", "format": "uri"},
    "totals": _object(_PROGRESS_PROPS),
}

_NOTICE_PROPS = {
    "slug": _STR,
    "title": _STR,
    "kind": {"type": "string", "enum": list(NOTICE_KINDS)},
    "authority": _STR,
    "authority_code": _STR,
    "published_at": {"type": ["string", "null"], "format": "date-time"},
    "url": {"type": "string", "format": "uri"},
}


@bp.get("/openapi.json")
def openapi():
    session = get_session()
    return openapi_document(
        base_url(),
        sorted(_province_codes(session)),
        sorted(catalogue.get(session).ground_codes),
    )
