"""The firm page, as markup built in Python from plain rows (registry.web.firmpage): the
firm's facts, licences and listings, on today's page its sanctions, public evidence and
notices, and the page's blocks (title, head, main) that registry.web.pageframe puts in the
site's layout.

As Jinja, the context call per translated label (some thirty a page), the attribute lookups,
filters and escaping per variable were most of the page's own rendering. Every value from
the database is escaped here, as the template's autoescape did; our own catalogue's
messages are not, as the template's `_` left them (the catalogue carries no markup:
tests/test_i18n.py); the shape of the HTML is the one the template had.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date
from typing import Any

from flask import url_for
from markupsafe import Markup, escape

from registry.web import gettext as _
from registry.web.firmpage import FirmLicence, FirmListing
from registry.web.hitlist import list_title
from registry.web.pageframe import Blocks

# A licence's status as the public reads it: the one string translated when it is shown.
LICENCE_STATUSES: dict[str, Callable[[], str]] = {
    "valid": lambda: _("有效"),
    "suspended": lambda: _("暂停"),
    "revoked": lambda: _("吊销"),
    "cancelled": lambda: _("注销"),
    "expired": lambda: _("过期"),
}


class Links:
    """The listing rows' links: paths ending in `=`, the listing id appended, and the
    grounds whose listings may be repaired online."""

    def __init__(self, objection: str, repair: str, repairable: Collection[int]) -> None:
        self.objection = objection
        self.repair = repair
        self.repairable = repairable


def _markup(parts: list[str]) -> Markup:
    # Every value in `parts` is escaped; the rest is this module's own markup (B704).
    return Markup("".join(parts))  # nosec B704


def listing_rows(listings: Sequence[FirmListing], links: Links) -> str:
    """The `<tr>` of each listing: list, ground, dates, authority, the objection link and,
    where its ground may be repaired, the repair link."""
    until_removed = _("移出前持续公示")
    objection = f'        <td><a href="{escape(links.objection)}'
    objection_label = _("提出异议")
    repair = f'<br><a href="{escape(links.repair)}'
    repair_label = _("申请信用修复")
    titles: dict[str, str] = {}
    parts = []
    for li in listings:
        title = titles.get(li.list_code)
        if title is None:
            title = titles[li.list_code] = escape(list_title(li.list_code))
        parts.append(
            f"\n      <tr>\n"
            f'        <td><span class="tag tag-{escape(li.list_code)}">{title}</span></td>\n'
            f"        <td>{escape(li.ground_title)}</td>\n"
            f"        <td>{li.decided_on}</td>\n"
            f"        <td>{li.listed_on or ''}</td>\n"
            f"        <td>{li.expires_on or until_removed}</td>\n"
            f"        <td>{escape(li.authority_name)}</td>\n"
            f'{objection}{li.id}">{objection_label}</a>'
        )
        if li.ground_id in links.repairable:
            parts.append(f'{repair}{li.id}">{repair_label}</a>')
        parts.append("</td>\n      </tr>\n    ")
    return "".join(parts)


def licence_rows(licences: Sequence[FirmLicence]) -> str:
    """The `<tr>` of each licence: number, services and status (translated when known)."""
    parts = []
    for lic in licences:
        status = LICENCE_STATUSES.get(lic.status) or functools.partial(escape, lic.status)
        parts.append(
            f"<tr><td>{escape(lic.number)}</td><td>{escape(lic.services)}</td>"
            f"<td>{status()}</td></tr>"
        )
    return "".join(parts)


def _facts(firm: Any, provinces: Mapping[str, str]) -> list[str]:
    """The firm's code, province and former names, and the link to its feed."""
    parts = [
        '<dl class="facts">\n'
        f"  <dt>{_('统一社会信用代码')}</dt><dd>{escape(firm.uscc) if firm.uscc else _('未登记')}"
        "</dd>\n"
    ]
    if firm.province_code:
        province = provinces.get(firm.province_code, firm.province_code)
        parts.append(f"  <dt>{_('省份')}</dt><dd>{escape(province)}</dd>\n")
    if firm.former_names:
        names = "；".join(firm.former_names)
        parts.append(f"  <dt>{_('曾用名')}</dt><dd>{escape(names)}</dd>\n")
    parts.append("</dl>\n")
    if firm.uscc:
        parts.append(
            f'<p><a href="/feeds/enterprises/{escape(firm.uscc)}.atom">'
            f"{_('订阅该经营者的公示信息（Atom）')}</a></p>\n"
        )
    return parts


def record(
    firm: Any,
    listings: Sequence[FirmListing],
    provinces: Mapping[str, str],
    links: Links,
    as_of: date | None = None,
) -> Markup:
    """From the firm's facts to its listings in force (today's, or at the end of `as_of`):
    what the page shows of the firm on any day."""
    parts = _facts(firm, provinces)
    parts.append(
        f'\n<section aria-labelledby="licences">\n  <h2 id="licences">{_("经营许可证")}</h2>\n'
    )
    if firm.licences:
        parts.append(
            "  <table>\n"
            f'    <thead><tr><th scope="col">{_("许可证编号")}</th>'
            f'<th scope="col">{_("业务种类")}</th><th scope="col">{_("状态")}</th></tr></thead>\n'
            f"    <tbody>{licence_rows(firm.licences)}</tbody>\n  </table>\n"
        )
    else:
        parts.append(f"  <p>{_('未登记许可证。')}</p>\n")
    if as_of is not None:
        heading = _("%(day)s 日终公示中的名单记录") % {"day": as_of.isoformat()}
    else:
        heading = _("公示中的名单记录")
    parts.append(
        f'</section>\n\n<section aria-labelledby="listings">\n  <h2 id="listings">{heading}</h2>\n'
    )
    if listings:
        labels = (
            _("名单"),
            _("列入事由"),
            _("处理日期"),
            _("列入日期"),
            _("公示截止"),
            _("列入单位"),
            _("异议与修复"),
        )
        head = "".join(f'<th scope="col">{label}</th>' for label in labels)
        parts.append(
            f"  <table>\n    <thead><tr>{head}</tr></thead>\n"
            f"    <tbody>{listing_rows(listings, links)}</tbody>\n  </table>\n"
        )
    elif as_of is not None:
        parts.append(f"  <p>{_('该日终没有公示中的名单记录。')}</p>\n")
    else:
        parts.append(f"  <p>{_('目前没有公示中的名单记录。')}</p>\n")
    parts.append("</section>\n")
    return _markup(parts)


def _sanction(s: Any) -> str:
    """One published sanction (a row of firmpage.sanctions) as its `<article>`."""
    parts = [
        f'  <article class="sanction">\n    <h3>{escape(s.decision_no)}</h3>\n'
        '    <dl class="facts">\n'
        f"      <dt>{_('决定日期')}</dt><dd>{s.decided_on.isoformat()}</dd>\n"
        f"      <dt>{_('处罚机关')}</dt><dd>{escape(s.authority_name)}</dd>\n"
    ]
    if s.facts:
        parts.append(f"      <dt>{_('违法事实')}</dt><dd>{escape(s.facts)}</dd>\n")
    if s.legal_basis:
        parts.append(f"      <dt>{_('处罚依据')}</dt><dd>{escape(s.legal_basis)}</dd>\n")
    if s.campaign_slug is not None:
        href = escape(url_for("campaigns.page", slug=s.campaign_slug))
        parts.append(
            f"      <dt>{_('专项行动')}</dt>"
            f'<dd><a href="{href}">{escape(s.campaign_name)}</a></dd>\n'
        )
    if s.fine_amount:
        amount = _("%(amount)s 元") % {"amount": escape(s.fine_amount)}
        parts.append(f"      <dt>{_('罚款金额')}</dt><dd>{amount}</dd>\n")
    parts.append("    </dl>\n  </article>\n")
    return "".join(parts)


def published(sanctions: Sequence[Any], evidence: Sequence[Any], notices: Sequence[Any]) -> Markup:
    """Today's page only: the firm's published sanctions, public evidence and notices
    (rows of firmpage.sanctions, .evidence and .notices)."""
    parts = [
        '<section aria-labelledby="sanctions">\n',
        f'  <h2 id="sanctions">{_("行政处罚")}</h2>\n',
    ]
    if sanctions:
        parts += [_sanction(s) for s in sanctions]
    else:
        parts.append(f"  <p>{_('没有已公示的行政处罚。')}</p>\n")
    parts.append("</section>\n\n")
    if evidence:
        parts.append(
            '<section aria-labelledby="evidence">\n'
            f'  <h2 id="evidence">{_("公开的证据材料")}</h2>\n  <ul>'
        )
        for e in evidence:
            described = f" — {escape(e.description)}" if e.description else ""
            parts.append(
                f"<li>{escape(e.original_name or e.sha256[:12])}{described} "
                f"<small>({escape(e.media_type)}, {e.size} B, SHA-256 {escape(e.sha256)})"
                "</small></li>"
            )
        parts.append("</ul>\n</section>\n\n")
    parts.append(f'<section aria-labelledby="notices">\n  <h2 id="notices">{_("相关公告")}</h2>\n')
    if notices:
        parts.append("  <ul>")
        for n in notices:
            href = escape(url_for("public.notice", slug=n.slug))
            parts.append(
                f"<li>{n.published_at.date().isoformat()} "
                f'<a href="{href}">{escape(n.title)}</a></li>'
            )
        parts.append("</ul>\n")
    else:
        parts.append(f"  <p>{_('暂无相关公告。')}</p>\n")
    parts.append("</section>\n")
    return _markup(parts)


def page(firm: Any, record: str, rest: str, about_url: str, as_of_note: str = "") -> Blocks:
    """The firm page's blocks around its `record`: `rest` is today's `published` sections
    or, on a past day's page (`as_of_note`: its note, public/_as_of.html), the paragraph
    that sends the reader to today's page; both are markup."""
    name = escape(firm.name)
    head = ""
    if firm.uscc:
        code = escape(firm.uscc)
        head = (
            f'<link rel="alternate" type="application/json" href="/api/v1/enterprises/{code}" '
            f'title="{_("JSON 数据")}">\n'
            f'<link rel="alternate" type="application/atom+xml" '
            f'href="/feeds/enterprises/{code}.atom" title="{_("订阅该经营者")}">\n'
        )
    main = (
        f"<h1>{name}</h1>\n{as_of_note}{record}\n{rest}\n"
        f'<p><a href="{escape(about_url)}#objection">{_("对公示内容有异议？")}</a></p>\n'
    )
    # The name and code are escaped, the messages are ours, the rest is markup (B704).
    return Blocks(
        Markup(f"{name} - {_('电信业务经营者信用名单')}"),  # nosec B704
        Markup(head),  # nosec B704
        Markup(main),  # nosec B704
    )


def to_today(today_url: str) -> Markup:
    """A past day's page, where today's has the sanctions: the paragraph that says so."""
    return _markup(
        [
            f"<p>{_('行政处罚、证据材料和公告请见今天的页面。')} "
            f'<a href="{escape(today_url)}">{_("查看今天的公示")}</a></p>'
        ]
    )
