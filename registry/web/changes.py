"""`/changes?from=&to=`: the listings that entered or left the lists on the days from `from`
to `to` (both included, Asia/Shanghai), replayed from the publication log (registry/asof.py)
— as HTML, JSON, CSV and a feed. The answer is exactly the difference between the lists as
of the end of the day before `from` and as of the end of `to`."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from registry import asof, exports, feeds, rules
from registry.database import get_session
from registry.models import Listing
from registry.web.api import (
    BadParameter,
    allow_cors,
    base_url,
    enterprise_path,
    int_arg,
    json_error,
    past_day_arg,
)
from registry.web.feeds import serve_feed, tag_uri

bp = Blueprint("changes", __name__)
bp.after_request(allow_cors)

DEFAULT_DAYS = 30
PER_PAGE = 100
PARAMS = ("from", "to")
CSV_COLUMNS = (
    ("day", "日期"),
    ("change", "变动"),
    ("name", "经营者名称"),
    ("uscc", "统一社会信用代码"),
    ("list", "名单类型"),
    ("ground", "列入事由"),
    ("authority", "列入单位"),
    ("url", "链接"),
)


def change_labels() -> dict[str, str]:
    return {
        "listed": _("列入"),
        "removed": _("提前移出"),
        "expired": _("期满移出"),
        "annulled": _("撤销"),
    }


def window() -> tuple[date, date]:
    """(from, to) from the query string: `to` defaults to today and `from` to the 30 days
    up to `to`; both past days in order, else BadParameter."""
    upto = past_day_arg("to") or rules.today()
    first = past_day_arg("from") or max(asof.EARLIEST, upto - timedelta(days=DEFAULT_DAYS - 1))
    if first > upto:
        raise BadParameter("from", _("参数 from 不能晚于 to"))
    return first, upto


def change_rows(first: date, upto: date) -> list[dict[str, Any]]:
    """The changes on the days first..upto, oldest first, with the published fields of each
    listing and a link to its firm's page as of the day it shows the change."""
    session = get_session()
    found = asof.changes(session, first - timedelta(days=1), upto)
    listings = {
        listing.id: listing
        for listing in session.scalars(
            select(Listing)
            .where(Listing.id.in_({change.listing_id for change in found}))
            .options(
                joinedload(Listing.enterprise),
                joinedload(Listing.ground),
                joinedload(Listing.authority),
            )
        )
    }
    root = base_url()
    rows = []
    for change in found:
        listing = listings[change.listing_id]
        # listed: the firm as of that day; gone: as of the last day it was shown
        shown = change.day if change.kind == "listed" else change.day - timedelta(days=1)
        rows.append(
            {
                "day": change.day.isoformat(),
                "change": change.kind,
                "listing_id": listing.id,
                "name": listing.enterprise.name,
                "uscc": listing.enterprise.uscc,
                "list": listing.list_code,
                "ground": listing.ground.code,
                "ground_title": listing.ground.title,
                "authority": listing.authority.name,
                "url": f"{root}{enterprise_path(listing.enterprise)}?as_of={shown.isoformat()}",
            }
        )
    return rows


def _links(first: date, upto: date) -> dict[str, str]:
    query = urlencode({"from": first.isoformat(), "to": upto.isoformat()})
    return {
        ext: f"/changes{'.' + ext if ext else ''}?{query}" for ext in ("", "json", "csv", "atom")
    }


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(change_labels(), 0)
    for row in rows:
        counts[row["change"]] += 1
    return counts


@bp.get("/changes")
def page():
    try:
        first, upto = window()
        number = int_arg("page", 1, maximum=1_000_000)
    except BadParameter as exc:
        abort(exc.status, description=exc.message)
    rows = change_rows(first, upto)
    pages = max(1, -(-len(rows) // PER_PAGE))
    return render_template(
        "public/changes.html",
        first=first,
        upto=upto,
        rows=rows[(number - 1) * PER_PAGE : number * PER_PAGE],
        total=len(rows),
        counts=_counts(rows),
        labels=change_labels(),
        page=number,
        pages=pages,
        links=_links(first, upto),
    )


@bp.get("/changes.json")
def as_json():
    try:
        first, upto = window()
    except BadParameter as exc:
        return json_error(exc.status, exc.message)
    rows = change_rows(first, upto)
    return {
        "from": first.isoformat(),
        "to": upto.isoformat(),
        "counts": _counts(rows),
        "changes": rows,
    }


@bp.get("/changes.csv")
def as_csv():
    try:
        first, upto = window()
    except BadParameter as exc:
        abort(exc.status, description=exc.message)
    labels = change_labels()
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([header for _, header in CSV_COLUMNS])
    for row in change_rows(first, upto):
        cells = row | {"change": labels[row["change"]], "list": exports.LIST_LABELS[row["list"]]}
        writer.writerow([exports.neutralise(cells[key] or "") for key, _ in CSV_COLUMNS])
    name = f"changes-{first.isoformat()}-{upto.isoformat()}.csv"
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/changes.<any(atom, rss):ext>")
def as_feed(ext: str):
    try:
        first, upto = window()
    except BadParameter as exc:
        abort(exc.status, description=exc.message)
    return serve_feed(ext, _feed(first, upto), follows="log")


def _feed(first: date, upto: date) -> Callable[[], feeds.Feed]:
    def build() -> feeds.Feed:
        labels = change_labels()
        items = [
            feeds.FeedItem(
                guid=tag_uri(f"changes/{row['listing_id']}/{row['change']}"),
                title=f"{labels[row['change']]}：{row['name']}",
                link=row["url"],
                published=datetime.combine(date.fromisoformat(row["day"]), time(), rules.SHANGHAI),
                summary="\n".join(
                    f"{label}：{row[key]}" for key, label in CSV_COLUMNS[2:7] if row[key]
                ),
                category=row["list"],
            )
            for row in reversed(change_rows(first, upto))
        ]
        links = _links(first, upto)
        return feeds.Feed(
            id=tag_uri(f"changes/{first.isoformat()}/{upto.isoformat()}"),
            title=_("名单变动 %(first)s 至 %(upto)s", first=first, upto=upto),
            link=base_url() + links[""],
            self_link=base_url() + request.full_path.rstrip("?"),
            description=_("列入、提前移出、期满移出和撤销的名单记录"),
            items=items,
        )

    return build
