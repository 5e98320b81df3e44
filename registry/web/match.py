"""`POST /api/v1/match`: up to 100 counterparties checked at once (yente's /match shape).

Read-only and sessionless, so exempt from the CSRF token (registry.web.init_app). The
body is parsed and checked here (a bad one is a JSON 400), candidates and scores come from
registry.screening over the app's search index, and what is in force is asked of
registry.visibility at the end, so a listing that ended since indexing is never reported.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict
from typing import Any

from flask import Blueprint, request
from flask_babel import gettext as _
from sqlalchemy import select

from registry import rules, visibility
from registry.database import get_session
from registry.models import Listing
from registry.screening.match import Query
from registry.screening.screen import Result, match_one
from registry.web import indexing
from registry.web.api import (
    MATCH_DEFAULT_LIMIT,
    MATCH_FIELDS,
    MATCH_MAX_FIELD,
    MATCH_MAX_KEY,
    MATCH_MAX_LIMIT,
    MATCH_MAX_QUERIES,
    BadParameter,
    base_url,
    int_arg,
    register_json_errors,
)
from registry.web.cache import event_counter

bp = Blueprint("match", __name__, url_prefix="/api/v1")
register_json_errors(bp)
NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def threshold_arg() -> float:
    from registry.screening.match import DEFAULT_THRESHOLD

    values = request.args.getlist("threshold")
    if not values:
        return DEFAULT_THRESHOLD
    raw = values[0]
    if len(values) > 1 or not NUMBER.fullmatch(raw):
        raise BadParameter("threshold", _("参数 threshold 须为 0 到 1 之间的数"))
    value = float(raw)
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise BadParameter("threshold", _("参数 threshold 须为 0 到 1 之间的数"))
    return value


def parse_queries(body: Any) -> dict[str, Query]:
    """The body's queries, or BadParameter saying what is wrong with it."""
    if not isinstance(body, dict) or not isinstance(body.get("queries"), dict):
        raise BadParameter("queries", _("请求体须为 JSON 对象，含对象 queries"))
    queries = body["queries"]
    if not 1 <= len(queries) <= MATCH_MAX_QUERIES:
        raise BadParameter("queries", _("queries 须含 1 到 %(max)d 个查询", max=MATCH_MAX_QUERIES))
    parsed = {}
    for key, value in queries.items():
        if len(key) > MATCH_MAX_KEY:
            raise BadParameter("queries", _("查询的键不能超过 %(max)d 个字符", max=MATCH_MAX_KEY))
        if not isinstance(value, dict):
            raise BadParameter("queries", _("查询 %(key)s 须为 JSON 对象", key=key[:50]))
        fields = {}
        for name in MATCH_FIELDS:
            field = value.get(name, "")
            if field is None:
                field = ""
            if not isinstance(field, str) or len(field) > MATCH_MAX_FIELD:
                raise BadParameter(
                    "queries",
                    _(
                        "查询 %(key)s 的 %(field)s 须为不超过 %(max)d 个字符的字符串",
                        key=key[:50],
                        field=name,
                        max=MATCH_MAX_FIELD,
                    ),
                )
            fields[name] = field
        parsed[key] = Query(**fields)
    return parsed


def lists_in_force(session: Any, ids: set[int]) -> dict[int, list[str]]:
    found: dict[int, set[str]] = {}
    if ids:
        rows = session.execute(
            select(Listing.enterprise_id, Listing.list_code)
            .where(visibility.listing_in_force(rules.today()))
            .where(Listing.enterprise_id.in_(sorted(ids)))
        )
        for firm_id, list_code in rows:
            found.setdefault(firm_id, set()).add(list_code)
    return {firm_id: sorted(codes) for firm_id, codes in found.items()}


def _result_json(result: Result, lists: list[str], root: str) -> dict[str, Any]:
    return {
        "id": str(result.enterprise_id),
        "uscc": result.uscc,
        "name": result.name,
        "province": result.province,
        "score": result.score,
        "match": result.match,
        "lists": lists,
        "explanations": result.explanations,
        "url": f"{root}/enterprises/{result.uscc}" if result.uscc else None,
    }


@bp.post("/match")
def match():
    """Candidates for each query, best first, with score, match flag and lists in force."""
    threshold = threshold_arg()
    limit = int_arg("limit", MATCH_DEFAULT_LIMIT, minimum=1, maximum=MATCH_MAX_LIMIT)
    queries = parse_queries(request.get_json(silent=True))
    session = get_session()
    index = indexing.get_index()
    index.refresh_to(event_counter(session))
    found = {key: match_one(index, query, threshold, limit) for key, query in queries.items()}
    lists = lists_in_force(session, {r.enterprise_id for rs in found.values() for r in rs})
    root = base_url()
    responses = {}
    for key, results in found.items():
        shown = [
            _result_json(r, lists[r.enterprise_id], root)
            for r in results
            if lists.get(r.enterprise_id)
        ]
        responses[key] = {
            "query": asdict(queries[key]),
            "results": shown,
            "total": {"value": len(shown), "relation": "eq"},
        }
    return {"responses": responses, "threshold": threshold, "limit": limit}
