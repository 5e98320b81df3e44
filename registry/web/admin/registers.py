"""The registers of /admin: listings, sanctions, notices and petitions with filters, search,
sort, pagination, counts and a CSV download of the same view (services.registers)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any

from flask import Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from registry.database import get_session
from registry.exports import neutralise
from registry.models import LISTS, NOTICE_KINDS, Authority, Ground, User
from registry.services import bulk_review, registers
from registry.services.petitions import PETITION_KINDS
from registry.web.admin.blueprint import bp
from registry.web.admin.common import LIST_LABELS, STATE_LABELS
from registry.web.admin.forms import NOTICE_KIND_LABELS, PETITION_KIND_LABELS
from registry.web.admin.policy import actor, requires

TITLES = {
    "listing": _l("名单记录"),
    "sanction": _l("处罚决定"),
    "notice": _l("公告"),
    "petition": _l("异议与信用修复申请"),
}
KIND_LABELS = NOTICE_KIND_LABELS | PETITION_KIND_LABELS
SORT_LABELS = {
    "-decided_on": _l("处理日期（新→旧）"),
    "decided_on": _l("处理日期（旧→新）"),
    "name": _l("经营者名称"),
    "-submitted_at": _l("提交时间（新→旧）"),
    "-id": _l("最近新建"),
    "title": _l("标题"),
    "-published_at": _l("发布时间（新→旧）"),
    "-received_on": _l("收到日期（新→旧）"),
    "received_on": _l("收到日期（旧→新）"),
}
_GROUND = re.compile(r"^[A-Za-z0-9]{1,10}$")
_PROVINCE = re.compile(r"^\d{6}$")


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = (request.args.get(name) or "").strip()
    if value and value not in allowed:
        abort(400, _("筛选条件无效：%(name)s", name=name))
    return value


def _integer(name: str) -> int | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        abort(400, _("筛选条件无效：%(name)s", name=name))
    return int(value)


def _day(name: str) -> date | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(400, _("日期格式应为 YYYY-MM-DD：%(name)s", name=name))


def _pattern(name: str, pattern: re.Pattern[str]) -> str:
    value = (request.args.get(name) or "").strip()
    if value and not pattern.match(value):
        abort(400, _("筛选条件无效：%(name)s", name=name))
    return value


def parse_page() -> int:
    return _integer("page") or 1


def parse_filters(kind: str) -> registers.Filters:
    """The view the query string asks for; a malformed value is a 400 naming it."""
    kinds = NOTICE_KINDS if kind == "notice" else PETITION_KINDS
    return registers.Filters(
        state=_choice("state", registers.STATES[kind]),
        list_code=_choice("list", LISTS),
        ground=_pattern("ground", _GROUND).upper(),
        province=_pattern("province", _PROVINCE),
        date_from=_day("from"),
        date_to=_day("to"),
        batch=_integer("batch"),
        submitter=_integer("submitter"),
        authority=_integer("authority"),
        kind=_choice("kind", kinds) if kind in ("notice", "petition") else "",
        q=(request.args.get("q") or "").strip()[:100],
        sort=_choice("sort", registers.SORTS[kind]),
        page=_integer("page") or 1,
    )


def _options(kind: str) -> dict[str, Any]:
    """What the filter form offers: grounds, provinces, submitters, authorities."""
    db, who = get_session(), actor()
    authorities = db.scalars(select(Authority).order_by(Authority.code)).all()
    users = select(User).order_by(User.username)
    if not who.is_ministry:
        users = users.where(User.authority_id == who.authority_id)
    return {
        "grounds": db.scalars(select(Ground).order_by(Ground.position, Ground.code)).all(),
        "provinces": [(a.province_code, a.name) for a in authorities if a.level == "province"],
        "authorities": authorities if who.is_ministry else [],
        "users": db.scalars(users).all(),
        "kinds": NOTICE_KINDS if kind == "notice" else PETITION_KINDS,
    }


def _args_with(**changes: Any) -> dict[str, Any]:
    args = {k: v for k, v in request.args.items() if v}
    args.update({k: v for k, v in changes.items()})
    return {k: v for k, v in args.items() if v not in (None, "")}


def _register(kind: str) -> Any:
    filters = parse_filters(kind)
    result = registers.page(get_session(), kind, actor(), filters)
    return render_template(
        "admin/register.html",
        kind=kind,
        title=TITLES[kind],
        filters=filters,
        result=result,
        sorts=registers.SORTS[kind],
        allowed=registers.FILTERS[kind],
        SORT_LABELS=SORT_LABELS,
        KIND_LABELS=KIND_LABELS,
        page_url=lambda n: url_for(request.endpoint or "", **_args_with(page=n)),
        state_url=lambda s: url_for(request.endpoint or "", **_args_with(state=s, page=None)),
        csv_url=url_for(f"admin.{kind}s_csv", **_args_with(page=None)),
        bulk_args=_args_with(page=None, state=None),
        bulk_seconds=bulk_review.expected_seconds,
        **_options(kind),
    )


def _csv_row(kind: str, record: Any) -> list[Any]:
    if kind == "listing":
        firm = record.enterprise
        return [
            record.id,
            firm.name,
            firm.uscc or "",
            LIST_LABELS[record.list_code],
            record.ground.code,
            record.decided_on.isoformat(),
            STATE_LABELS[record.state],
            record.listed_on.isoformat() if record.listed_on else "",
            record.expires_on.isoformat() if record.expires_on else "",
            record.authority.name,
        ]
    if kind == "sanction":
        firm = record.enterprise
        state = STATE_LABELS[record.state]
        decided = record.decided_on.isoformat()
        return [record.id, record.decision_no, firm.name, firm.uscc or "", decided, state]
    if kind == "notice":
        published = record.published_at.date().isoformat() if record.published_at else ""
        kind_label = KIND_LABELS[record.kind]
        return [record.id, record.title, kind_label, STATE_LABELS[record.state], published]
    firm = record.listing.enterprise
    received = record.received_on.isoformat()
    return [
        record.id,
        KIND_LABELS[record.kind],
        record.petitioner,
        firm.name,
        received,
        STATE_LABELS[record.state],
    ]


def _csv_header(kind: str) -> list[str]:
    return {
        "listing": [
            "ID",
            _("经营者名称"),
            _("统一社会信用代码"),
            _("名单类型"),
            _("列入事由"),
            _("处理日期"),
            _("状态"),
            _("列入日期"),
            _("到期日"),
            _("机构"),
        ],
        "sanction": [
            "ID",
            _("文号"),
            _("经营者名称"),
            _("统一社会信用代码"),
            _("处罚日期"),
            _("状态"),
        ],
        "notice": ["ID", _("标题"), _("类型"), _("状态"), _("发布日期")],
        "petition": ["ID", _("类型"), _("申请人"), _("经营者名称"), _("收到日期"), _("状态")],
    }[kind]


def _csv(kind: str) -> Response:
    filters = parse_filters(kind)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_csv_header(kind))
    for record in registers.iter_records(get_session(), kind, actor(), filters):
        writer.writerow([neutralise(value) for value in _csv_row(kind, record)])
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={kind}s.csv"},
    )


def _routes(kind: str) -> None:
    def page() -> Any:
        return _register(kind)

    def download() -> Response:
        return _csv(kind)

    page.__name__, download.__name__ = f"{kind}s", f"{kind}s_csv"
    bp.add_url_rule(f"/{kind}s", endpoint=f"{kind}s", view_func=requires("read")(page))
    bp.add_url_rule(f"/{kind}s.csv", endpoint=f"{kind}s_csv", view_func=requires("read")(download))


for _kind in registers.KINDS:
    _routes(_kind)
