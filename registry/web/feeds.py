"""Feed views: gather the items, hand them to registry.feeds, answer
conditional GETs. The publication log is the source of listing items: its entries are
immutable, so an item's GUID, date and summary never change after the fact."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, abort, render_template, url_for
from sqlalchemy import Date, Row, Select, bindparam, exists, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import joinedload
from werkzeug.http import is_resource_modified

from registry import campaigns, feeds, rules, text, visibility
from registry.database import get_session
from registry.db import UTCDateTime
from registry.models import (
    Authority,
    Enterprise,
    Event,
    Listing,
    LogEntry,
    Notice,
    notice_listing,
)
from registry.web import (
    current_request,
    driversql,
    hits,
    indexing,
    request_locale_name,
    request_translations,
)
from registry.web import gettext as _
from registry.web.api import (
    BadParameter,
    base_url,
    search_args,
)

bp = Blueprint("feeds", __name__, url_prefix="/feeds")

LIMIT = 50
SEARCH_HITS = 100
SEARCH_PARAMS = ("q", "list", "province", "ground")
LIST_LABELS = {"bad": "不良名单", "dishonest": "失信名单"}
ACTION_LABELS = {"publish": "列入", "remove": "提前移出", "expire": "期满移出", "annul": "撤销"}


def tag_uri(specific: str, base: str | None = None) -> str:
    """tag: URI (RFC 4151) on the site's host (of `base`, default `base_url()`); the year is
    the registry's, fixed."""
    host = urlsplit(base if base is not None else base_url()).hostname or "localhost"
    return f"tag:{host},2026:{specific}"


# Bump when the rendering changes (the validators do not hash the body).
_RENDERING = "3"


@dataclass(frozen=True)
class Validators:
    etag: str
    last_modified: datetime


# The validators' key, as json.dumps(..., ensure_ascii=False) writes it (without building
# an encoder per call).
_KEY_JSON = json.JSONEncoder(ensure_ascii=False)


def validators(
    fmt: str,
    follows: str = "events",
    head: tuple[int | None, datetime | None] | None = None,
    base: str | None = None,
) -> Validators:
    """ETag and Last-Modified from what the feed depends on, before anything is built, so a
    304 costs a few small queries rather than the whole feed. A feed changes only when the
    head of its source moves — the publication log (`follows="log"`: the listings feed formats
    log entries only), or the change stream (`"events"`: every log entry has its Event, and
    notice summaries and search results also follow renames) — or when the day changes
    (expiry at read time); and it differs by URL, query, host and language. `head`: the
    newest number and time of `follows` when the caller read them already (None, None for
    an empty sequence); `base`: the request's `base_url()` when the caller has it."""
    if head is None:
        row = get_session().connection().execute(_heads()[follows]).first()
        head = (row[0], row[1]) if row else (None, None)
    number, at = head[0] or 0, head[1] or feeds.EPOCH
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    today = rules.today()
    midnight = datetime.combine(today, time(), tzinfo=rules.SHANGHAI).astimezone(UTC)
    current = current_request()
    key = _KEY_JSON.encode(
        [
            _RENDERING,
            follows,
            number,
            today.isoformat(),
            request_locale_name(),
            base if base is not None else base_url(),
            current.path,
            fmt,
            sorted(current.args.items(multi=True)),
        ]
    )
    return Validators(
        etag=feeds.etag(key.encode("utf-8", "surrogatepass")),
        last_modified=max(at, midnight).replace(microsecond=0),
    )


@functools.cache
def _heads() -> dict[str, Select]:
    """The newest entry of each sequence a feed follows: number and time."""
    return {
        "log": select(LogEntry.number, LogEntry.at).order_by(LogEntry.number.desc()).limit(1),
        "events": select(Event.seq, Event.at).order_by(Event.seq.desc()).limit(1),
    }


def _headers(response: Response, fmt: str, checked: Validators) -> Response:
    response.mimetype = feeds.MIME_TYPES[fmt]
    response.set_etag(checked.etag)
    response.last_modified = checked.last_modified
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def serve_feed(
    fmt: str,
    build: Callable[[], feeds.Feed],
    follows: str = "events",
    head: tuple[int | None, datetime | None] | None = None,
    base: str | None = None,
) -> Response:
    """The feed `build` makes, or a 304 (nothing built) when the client's copy is current;
    either with the validators of the sequence the feed follows (`head`, `base`: see
    validators)."""
    checked = validators(fmt, follows, head, base)
    if not is_resource_modified(
        current_request().environ, etag=checked.etag, last_modified=checked.last_modified
    ):
        return _headers(Response(status=304, mimetype=feeds.MIME_TYPES[fmt]), fmt, checked)
    body = feeds.render(build(), fmt)
    return _headers(Response(body, mimetype=feeds.MIME_TYPES[fmt]), fmt, checked)


def _fmt(ext: str, allowed: tuple[str, ...] = feeds.FORMATS) -> str:
    if ext not in allowed:
        abort(404)
    return ext


# --- items ------------------------------------------------------------------------------


def listing_summary(data: dict[str, Any]) -> str:
    """The published fields of the 2018 notice, one per line."""
    _ = request_translations().ugettext  # the catalogue looked up once for all the labels
    lines = [
        f"{_('经营者名称')}：{data['name']}",
        f"{_('统一社会信用代码')}：{data.get('uscc') or '—'}",
        f"{_('许可证编号')}：{'、'.join(data.get('licence') or []) or '—'}",
        f"{_('名单')}：{LIST_LABELS.get(data['list'], data['list'])}",
        f"{_('处理日期')}：{data['decided_on']}",
        f"{_('列入事由')}：{data['ground']} {data.get('ground_title', '')}",
        f"{_('列入单位')}：{data['authority_name']}",
    ]
    if data.get("listed_on"):
        lines.append(f"{_('列入日期')}：{data['listed_on']}")
    if data.get("expires_on"):
        lines.append(f"{_('有效期至')}：{data['expires_on']}")
    if data.get("ended_on") and data["action"] != "publish":
        lines.append(f"{_('移出日期')}：{data['ended_on']}")
    return "\n".join(lines)


def _enterprise_link(data: dict[str, Any], base: str) -> str:
    if data.get("uscc"):
        return f"{base}/enterprises/{data['uscc']}"
    return f"{base}{url_for('log.index')}"


def log_item(entry: Row | Entry, base: str | None = None) -> feeds.FeedItem:
    """One entry of the log (a row of `entries_statement`) as a feed item; `base`: the
    request's `base_url()` when the caller has it."""
    base = base if base is not None else base_url()
    data = json.loads(entry.payload)
    action = ACTION_LABELS.get(entry.action, entry.action)
    if entry.action == "publish":
        link = _enterprise_link(data, base)
    else:
        link = f"{base}{url_for('log.index')}#e{entry.number}"
    return feeds.FeedItem(
        guid=tag_uri(f"publog/{entry.number}", base),
        title=f"{action}{LIST_LABELS.get(data['list'], '')}：{data['name']}",
        link=link,
        published=entry.at,
        summary=listing_summary(data),
        category=data["list"],
    )


def notice_item(notice: Notice) -> feeds.FeedItem:
    firms = [
        f"{listing.enterprise.name}（{listing.enterprise.uscc or '—'}）"
        for listing in notice.listings
    ]
    kind = _("曝光公告") if notice.kind == "exposure" else _("移出公告")
    summary = f"{kind} · {notice.authority.name}"
    if firms:
        summary += "\n" + _("涉及经营者：") + "；".join(firms)
    return feeds.FeedItem(
        guid=tag_uri(f"notice/{notice.id}"),
        title=notice.title,
        link=f"{base_url()}/notices/{notice.slug}",
        published=notice.published_at,
        summary=summary,
        category=notice.kind,
    )


_ENTRY_COLUMNS = (
    LogEntry.number,
    LogEntry.action,
    LogEntry.entity_id,
    LogEntry.at,
    LogEntry.payload,
)


# Whether the entry's listing is in force on the bound day (`listing_entries` keeps a
# publication only then), read with the entry rather than by a second query.
_ENTRY_IN_FORCE = (
    exists()
    .where(
        Listing.id == LogEntry.entity_id,
        visibility.listing_in_force(bindparam("today", type_=Date)),
    )
    .label("in_force")
)


def entries_statement(*where: Any) -> Select:
    """The latest listing entries of the log that meet `where`, as rows of the columns
    `log_item` reads and whether the listing is in force (`today` bound at execution);
    twice LIMIT of them, since `listing_entries` may leave some out."""
    return (
        select(*_ENTRY_COLUMNS, _ENTRY_IN_FORCE)
        .where(LogEntry.entity_type == "listing", *where)
        .order_by(LogEntry.number.desc())
        .limit(LIMIT * 2)
    )


class Entry(NamedTuple):
    """A row of `entries_statement`, as the driver's values converted."""

    number: int
    action: str
    entity_id: int
    at: datetime
    payload: str
    in_force: Any


def public_entries(entries: Sequence[Row | Entry]) -> list[Any]:
    """Of the latest listing entries of the log, those the public sees: a publication only
    while the listing is in force (removed listings leave the public surfaces at once), a
    removal always; at most LIMIT."""
    kept = [e for e in entries if e.action != "publish" or e.in_force]
    return kept[:LIMIT]


def listing_entries(statement: Select, params: dict[str, Any] | None = None) -> list[Row]:
    """Latest listing entries of the log (`statement`, from `entries_statement`) that the
    public sees (`public_entries`)."""
    params = {**(params or {}), "today": rules.today()}
    return public_entries(get_session().connection().execute(statement, params).all())


def notices_statement(*where: Any) -> Select:
    """The latest public notices that meet `where`, with their authorities."""
    return (
        visibility.public_notices()
        .where(*where)
        .options(joinedload(Notice.authority))
        .order_by(Notice.published_at.desc(), Notice.id.desc())
        .limit(LIMIT)
    )


def published_notices(statement: Select, params: dict[str, Any] | None = None) -> list[Notice]:
    return list(get_session().scalars(statement, params or {}))


@functools.cache
def _firm_statements() -> dict[str, Select]:
    """A firm's feed, built once (building them was most of the feed's time), the firm bound
    at execution: the firm by its code with the head of the change stream (the feed's
    validators) and whether a public notice names one of its listings, in one statement;
    its listings' log entries; the notices naming them."""
    listing_ids = select(Listing.id).where(Listing.enterprise_id == bindparam("firm_id"))
    named = select(notice_listing.c.notice_id).where(notice_listing.c.listing_id.in_(listing_ids))
    newest = select(Event.seq, Event.at).order_by(Event.seq.desc()).limit(1)
    has_notices = (
        exists()
        .where(
            Listing.enterprise_id == Enterprise.id,
            notice_listing.c.listing_id == Listing.id,
            Notice.id == notice_listing.c.notice_id,
            visibility.notice_public(),
        )
        .correlate(Enterprise)
    )
    return {
        "firm": select(
            Enterprise.id,
            Enterprise.uscc,
            Enterprise.name,
            newest.with_only_columns(Event.seq).scalar_subquery().label("head_seq"),
            newest.with_only_columns(Event.at).scalar_subquery().label("head_at"),
            has_notices.label("has_notices"),
        ).where(Enterprise.uscc == bindparam("uscc")),
        "entries": entries_statement(LogEntry.entity_id.in_(listing_ids)),
        "notices": notices_statement(Notice.id.in_(named)),
    }


class _FirmFeed(NamedTuple):
    """The firm feed's two statements compiled for a dialect, and its timestamps' reader."""

    firm: driversql.Compiled
    entries: driversql.Compiled
    moment: Callable[[Any], Any]


@functools.lru_cache(maxsize=8)
def _firm_feed(dialect: Dialect) -> _FirmFeed:
    """The firm and its entries run as the driver's SQL on the request's connection
    (registry.web.driversql): SQLAlchemy's execution was most of their cost."""
    statements, given = _firm_statements(), ("uscc", "firm_id", "today")
    read = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    return _FirmFeed(
        driversql.compile_for(statements["firm"], dialect, given),
        driversql.compile_for(statements["entries"], dialect, given),
        read or (lambda value: value),
    )


# --- routes -----------------------------------------------------------------------------


def _self() -> str:
    return base_url() + current_request().path


def _feed(
    fmt: str,
    tag: str,
    *,
    title: str,
    link: str,
    description: str,
    items: Callable[[], list[feeds.FeedItem]],
    follows: str = "events",
) -> Response:
    """The feed with id `tag` and its items, gathered only when the client's copy is stale."""
    return serve_feed(
        fmt,
        lambda: feeds.Feed(
            id=tag_uri(tag),
            title=title,
            link=link,
            self_link=_self(),
            description=description,
            items=items(),
        ),
        follows=follows,
    )


@bp.get("/notices.<ext>")
def notices_feed(ext: str):
    return _feed(
        _fmt(ext),
        "feeds/notices",
        title=_("电信业务经营不良名单和失信名单 · 公告"),
        link=f"{base_url()}/notices",
        description=_("电信管理机构发布的曝光公告和移出公告"),
        items=lambda: [notice_item(n) for n in published_notices(notices_statement())],
    )


@bp.get("/listings.<ext>")
def listings_feed(ext: str):
    return _feed(
        _fmt(ext),
        "feeds/listings",
        title=_("电信业务经营不良名单和失信名单 · 列入与移出"),
        link=f"{base_url()}/",
        description=_("每一次列入公示和每一次移出"),
        items=lambda: [log_item(entry) for entry in listing_entries(entries_statement())],
        follows="log",
    )


@bp.get("/enterprises/<uscc>.<ext>")
def enterprise_feed(uscc: str, ext: str):
    fmt = _fmt(ext, ("atom",))
    compiled = _firm_feed(driversql.dialect())
    found = driversql.run(compiled.firm, {"uscc": text.canonical_uscc(uscc)})
    if not found:
        abort(404)
    firm_id, code, name, head_seq, head_at, has_notices = found[0]
    head = (head_seq, compiled.moment(head_at) if head_at is not None else None)
    base = base_url()

    def build() -> feeds.Feed:
        values = {"firm_id": firm_id, "today": rules.today()}
        entries = public_entries(
            [
                Entry(number, action, entity_id, compiled.moment(at), payload, in_force)
                for number, action, entity_id, at, payload, in_force in driversql.run(
                    compiled.entries, values
                )
            ]
        )
        notices = published_notices(_firm_statements()["notices"], values) if has_notices else []
        if not entries and not notices:
            abort(404)
        return feeds.Feed(
            id=tag_uri(f"feeds/enterprises/{code}", base),
            title=name,
            link=f"{base}/enterprises/{code}",
            self_link=base + current_request().path,
            description=_("关于该经营者公示的全部信息"),
            items=[log_item(e, base) for e in entries] + [notice_item(n) for n in notices],
        )

    return serve_feed(fmt, build, head=head, base=base)


@bp.get("/provinces/<code>.<ext>")
def province_feed(code: str, ext: str):
    fmt = _fmt(ext)
    authority = get_session().scalar(select(Authority).where(Authority.code == code.upper()))
    if authority is None:
        abort(404)
    by_authority, by_notice = (
        LogEntry.authority_id == authority.id,
        Notice.authority_id == authority.id,
    )
    return _feed(
        fmt,
        f"feeds/provinces/{authority.code}",
        title=authority.name,
        link=f"{base_url()}/",
        description=_("%(name)s 公示的列入、移出和公告", name=authority.name),
        items=lambda: (
            [log_item(e) for e in listing_entries(entries_statement(by_authority))]
            + [notice_item(n) for n in published_notices(notices_statement(by_notice))]
        ),
    )


@bp.get("/campaigns/<slug>.atom")
def campaign_feed(slug: str):
    """Listings tagged with the campaign, as they were published and left the list."""
    campaign = campaigns.campaign_by_slug(get_session(), slug)
    tagged = select(Listing.id).where(Listing.campaign_id == campaign.id)
    return serve_feed(
        "atom",
        lambda: feeds.Feed(
            id=tag_uri(f"feeds/campaigns/{campaign.slug}"),
            title=_("专项行动：%(name)s", name=campaign.name),
            link=f"{base_url()}/campaigns/{campaign.slug}",
            self_link=_self(),
            description=_("该专项行动中每一次列入公示和每一次移出"),
            items=[
                log_item(entry)
                for entry in listing_entries(entries_statement(LogEntry.entity_id.in_(tagged)))
            ],
        ),
    )


@bp.get("/search.<ext>")
def search_feed(ext: str):
    """The same as /search, as publications newest first (q, list, province, ground)."""
    fmt = _fmt(ext)
    session = get_session()
    query, filters = search_args(session)

    def build() -> feeds.Feed:
        result = indexing.search(query, filters, 1, SEARCH_HITS, session=session)
        listing_ids = [
            listing.id for _, found in hits.for_hits(result, filters) for listing in found
        ]
        entries = listing_entries(
            entries_statement(LogEntry.entity_id.in_(listing_ids), LogEntry.action == "publish")
        )
        args = current_request().args.items()
        params = {k: v for k, v in args if k in SEARCH_PARAMS and v}
        return feeds.Feed(
            id=tag_uri("feeds/search?" + urlencode(sorted(params.items()))),
            title=_("搜索：%(q)s", q=query) if query else _("搜索"),
            link=f"{base_url()}/search" + ("?" + urlencode(params) if params else ""),
            self_link=_self() + ("?" + urlencode(params) if params else ""),
            description=_("与该搜索匹配的公示记录，最新的在前"),
            items=[log_item(entry) for entry in entries],
        )

    return serve_feed(fmt, build)


@bp.errorhandler(BadParameter)
def bad_parameter(exc: BadParameter):
    message = exc.message
    return render_template("error.html", status=400, title="Bad Request", message=message), 400
