"""`/stats`, `/stats.json`, `/stats.csv`: the statistics page and its machine twins.

The numbers come from registry.stats (public data only, SQL aggregates); this module checks
the query string, draws the charts and chooses the format.
"""

from __future__ import annotations

import csv
import io
import re

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from registry import rules, stats
from registry.database import get_session
from registry.web import catalogue
from registry.web.api import allow_cors
from registry.web.charts import Series, bar_chart

bp = Blueprint("stats", __name__)

_YEAR = re.compile(r"[0-9]{4}")
FIRST_YEAR = 2000  # before any listing under the 2017 管理办法 could exist


def filters_from_request() -> stats.Filters:
    """?year=YYYY and ?province=<GB/T 2260 province code>; anything else is a 400."""
    year_raw = request.args.get("year", "")
    year = None
    if year_raw:
        last = rules.today().year
        if not _YEAR.fullmatch(year_raw) or not FIRST_YEAR <= int(year_raw) <= last:
            abort(
                400,
                description=_(
                    "年份无效：请填写 %(first)s 至 %(last)s 之间的四位年份。",
                    first=FIRST_YEAR,
                    last=last,
                ),
            )
        year = int(year_raw)
    province = request.args.get("province", "") or None
    if province is not None and province not in catalogue.get(get_session()).province_codes:
        abort(400, description=_("省份代码无效：请使用六位省级行政区划代码，如 440000。"))
    return stats.Filters(year=year, province=province)


def _query(filters: stats.Filters) -> dict[str, object]:
    return {k: v for k, v in {"year": filters.year, "province": filters.province}.items() if v}


def _charts(data: stats.Statistics) -> dict[str, Markup]:
    list_names = {"bad": _("不良名单"), "dishonest": _("失信名单")}
    quarters = [q.label for q in data.quarters]
    charts = {
        "quarters": bar_chart(
            "chart-quarters",
            _("每季度新列入与移出名单的记录数"),
            _(
                "横条图：%(first)s 至 %(last)s 每季度新列入（公示）和移出（移出、期满、撤销）"
                "的记录数，数据见旁边的表格。",
                first=quarters[0] if quarters else "-",
                last=quarters[-1] if quarters else "-",
            ),
            quarters,
            [
                Series(_("新列入"), [q.published for q in data.quarters]),
                Series(_("移出"), [q.ended for q in data.quarters]),
            ],
        ),
    }
    dimensions = {
        "list": (_("按名单"), data.by_list, lambda r: list_names.get(r.code, r.code)),
        "ground": (_("按列入事由"), data.by_ground, lambda r: r.code),
        "province": (_("按省份"), data.by_province, lambda r: r.name or r.code),
        "authority": (_("按列入单位"), data.by_authority, lambda r: r.name or r.code),
    }
    for key, (heading, rows, label) in dimensions.items():
        charts[key] = bar_chart(
            f"chart-{key}",
            _("%(dimension)s统计的今日公示中记录数", dimension=heading),
            _(
                "横条图：%(dimension)s统计的今日公示中记录数，共 %(n)s 项，数据见旁边的表格。",
                dimension=heading,
                n=len(rows),
            ),
            [label(r) for r in rows],
            [Series(_("公示中"), [r.in_force for r in rows])],
        )
    totals = data.timeliness_totals
    charts["timeliness"] = bar_chart(
        "chart-timeliness",
        _("各列入单位30日内公示的比例"),
        _(
            "横条图：各列入单位在处理日期后30日内公示的记录所占百分比，共 %(n)s 个单位，"
            "数据见旁边的表格。",
            n=len(totals),
        ),
        [t.authority_name or t.authority_code for t in totals],
        [Series(_("30日内公示"), [round(100 * (t.share or 0), 1) for t in totals])],
        value_format="{:g}%",
    )
    return charts


@bp.get("/stats")
def page():
    filters = filters_from_request()
    session = get_session()
    data = stats.compute(session, filters)
    query = _query(filters)
    return render_template(
        "public/stats.html",
        data=data,
        charts=_charts(data),
        provinces=catalogue.get(session).provinces,
        json_url=url_for("stats.as_json", **query),
        csv_url=url_for("stats.as_csv", **query),
        deadline_days=rules.LISTING_DEADLINE_DAYS,
    )


@bp.get("/stats.json")
def as_json():
    filters = filters_from_request()
    return stats.as_dict(stats.compute(get_session(), filters))


@bp.get("/stats.csv")
def as_csv():
    filters = filters_from_request()
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        stats.csv_rows(stats.compute(get_session(), filters))
    )
    return Response(out.getvalue(), mimetype="text/csv")


bp.after_request(allow_cors)
