"""`/campaigns` and `/campaigns/<slug>`: the enforcement campaigns (专项行动) and each one's
progress by province, with its public firms. The numbers come from registry.campaigns
(public data only); the JSON twins are /api/v1/campaigns[/<slug>], the feed
/feeds/campaigns/<slug>.atom."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from registry import campaigns, rules
from registry.database import get_session
from registry.web.api import INTEGER, MAX_PAGE
from registry.web.charts import Series, bar_chart

bp = Blueprint("campaigns", __name__)


def _page_arg() -> int:
    raw = request.args.get("page", "1")
    if len(raw) > 9 or not INTEGER.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE:
        abort(400, description=_("页码无效：请填写 1 至 %(max)s 之间的整数。", max=MAX_PAGE))
    return int(raw)


@bp.get("/campaigns")
def index():
    session = get_session()
    found = campaigns.catalogue(session)
    return render_template(
        "public/campaigns.html",
        items=found,
        progress=campaigns.progress(session, found, rules.today()),
        json_url=url_for("api.campaign_list"),
    )


def _chart(data: campaigns.CampaignProgress) -> Markup:
    rows = data.provinces
    return bar_chart(
        "chart-campaign-provinces",
        _("各省份的列入与移出记录数"),
        _(
            "横条图：专项行动“%(name)s”在 %(n)s 个省份列入（曾公示）和移出的记录数，"
            "数据见旁边的表格。",
            name=data.campaign.name,
            n=len(rows),
        ),
        [row.province or _("未知省份") for row in rows],
        [
            Series(_("列入"), [row.listings for row in rows]),
            Series(_("移出"), [row.removals for row in rows]),
        ],
    )


@bp.get("/campaigns/<slug>")
def page(slug: str):
    session = get_session()
    number = _page_arg()
    found = campaigns.campaign_by_slug(session, slug)
    data = campaigns.campaign_progress(session, found, rules.today(), number)
    last = max(1, -(-data.firms_total // campaigns.FIRMS_PER_PAGE))
    return render_template(
        "public/campaign.html",
        data=data,
        chart=_chart(data),
        provinces=campaigns.province_names(session),
        last_page=last,
        json_url=url_for("api.campaign", slug=found.slug),
        feed_url=url_for("feeds.campaign_feed", slug=found.slug),
    )
