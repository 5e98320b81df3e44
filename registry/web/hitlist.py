"""The search page's content, as markup built in Python from plain rows: the result list,
the facet links, the form, the counts and the pager.

A page carries twenty firms and up to eighty facet links: as Jinja loops, the context calls,
attribute lookups and escaping per variable were most of the page's rendering. Every value
shown is escaped here (`escape_text`, markupsafe's escaping); the page's own translated
labels are used as the template used them (messages of ours, not escaped, what is
formatted into them escaped), looked up once per language and kept. The shape
of the HTML is the one the template had.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus

from markupsafe import Markup

from registry import search
from registry.web import kept_by_app, request_locale_name, request_translations
from registry.web.hits import HitFirm, HitListing
from registry.web.pageframe import Blocks

FACETS = ("list", "province", "ground", "year")
_LABELS_KEPT = 8  # languages whose labels are kept: two in use
_ESCAPES_KEPT = 4096  # escaped values of small sets (titles, authorities, provinces)


_SPECIAL = re.compile("[&<>'\"]")


def escape_text(value: str) -> str:
    """`markupsafe.escape(value)` of a plain string, as a string (no Markup object). Most
    values (names, codes, links) have nothing to escape: one search tells, where the five
    replacements would each go through the whole value."""
    if _SPECIAL.search(value) is None:
        return value
    return (
        value.replace("&", "&amp;")
        .replace(">", "&gt;")
        .replace("<", "&lt;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
    )


_ESCAPED: dict[str, str] = {}


def escape_kept(value: str) -> str:
    """`escape_text` of a value of a small set (a ground's title, an authority's name, a
    facet's label), kept: a page shows the same few dozen many times."""
    found = _ESCAPED.get(value)
    if found is None:
        if len(_ESCAPED) >= _ESCAPES_KEPT:
            _ESCAPED.clear()
        found = _ESCAPED[value] = escape_text(value)
    return found


def N_(message: str) -> str:  # noqa: N802 - the marker `make translations` extracts
    """A message for the catalogue, translated where it is used (gettext_noop)."""
    return message


class Labels:
    """The page's messages in one language (`text`: as `_` gives them; the list titles and
    facet names escaped, as the result list and facets showed them)."""

    MESSAGES = (
        N_("统一社会信用代码"),
        N_("处理日期"),
        N_("不良名单"),
        N_("失信名单"),
        N_("名单"),
        N_("省份"),
        N_("列入事由"),
        N_("处理年份"),
        N_("全部"),
        N_("查询"),
        N_("查询：%(q)s"),
        N_("电信业务经营者信用名单"),
        N_("JSON 数据"),
        N_("订阅此查询"),
        N_("经营者名称（两个字以上）、统一社会信用代码、许可证编号或处罚决定书文号"),
        N_("筛选"),
        N_("查询结果"),
        N_("请输入至少两个字的名称，或完整的统一社会信用代码、许可证编号、文号。"),
        N_("共 %(n)s 家经营者"),
        N_("订阅此查询（RSS）"),
        N_("没有找到公示中的经营者。"),
        N_("分页"),
        N_("上一页"),
        N_("第 %(p)s / %(n)s 页"),
        N_("下一页"),
    )

    def __init__(self, translations: Any) -> None:
        self.text = {m: translations.ugettext(m) for m in self.MESSAGES}
        self.escaped = {m: escape_text(t) for m, t in self.text.items()}
        self.list_titles = {
            "bad": self.escaped["不良名单"],
            "dishonest": self.escaped["失信名单"],
        }
        self.facet_names = {
            "list": self.escaped["名单"],
            "province": self.escaped["省份"],
            "ground": self.escaped["列入事由"],
            "year": self.escaped["处理年份"],
        }

    def format(self, message: str, **values: Any) -> str:
        """`_(message, **values)` in an escaping template: the values escaped (as Markup's
        `%` escapes them: each value's text, for the ints and strings given here), the
        message not (it is ours, from the catalogue)."""
        return self.text[message] % {name: escape_text(str(v)) for name, v in values.items()}


_KEPT = "registry_search_labels"


def labels() -> Labels:
    """The request's language's labels, kept per app and language (an app's catalogue of a
    language is the same for as long as the process lives): the catalogue is looked up
    only the first time."""
    kept: dict[str, Labels] = kept_by_app(_KEPT)[0]
    locale = request_locale_name()
    found = kept.get(locale)
    if found is None:
        if len(kept) >= _LABELS_KEPT:
            kept.clear()
        found = kept[locale] = Labels(request_translations())
    return found


def list_title(code: str) -> str:
    """The list's name (registry.web.public.list_title, with the request's catalogue)."""
    text = labels().text
    return text["不良名单"] if code == "bad" else text["失信名单"]


def result_list(
    rows: list[tuple[HitFirm, list[HitListing]]],
    firm_url: Callable[[Any], str],
    words: Labels | None = None,
) -> str:
    """`<ol class="hits">`: each firm's link, code and listings in force (escaped markup)."""
    words = words or labels()
    uscc_label, decided_label = words.escaped["统一社会信用代码"], words.escaped["处理日期"]
    titles = words.list_titles
    parts = ['<ol class="hits">\n']
    for firm, listings in rows:
        parts.append(
            f'    <li>\n      <a href="{escape_text(firm_url(firm))}"><strong>'
            f"{escape_text(firm.name)}</strong></a>\n"
        )
        if firm.uscc:
            parts.append(f"      <br><small>{uscc_label}：{escape_text(firm.uscc)}</small>\n")
        parts.append("      <ul>\n")
        for li in listings:
            title = titles.get(li.list_code) or titles["dishonest"]
            parts.append(
                f'        <li><span class="tag tag-{escape_kept(li.list_code)}">{title}</span> '
                f"{escape_kept(li.ground_title)} · {decided_label} {li.decided_on} · "
                f"{escape_kept(li.authority_name)}</li>\n"
            )
        parts.append("      </ul>\n    </li>\n")
    parts.append("  </ol>")
    return "".join(parts)


_PAIRS: dict[tuple[str, str], str] = {}  # (parameter, value) -> escaped `param=value`


def _pair(param: str, value: str) -> str:
    found = _PAIRS.get((param, value))
    if found is None:
        if len(_PAIRS) >= 4096:  # facet values and page numbers: a bound
            _PAIRS.clear()
        found = _PAIRS[param, value] = escape_text(quote_plus(param) + "=" + quote_plus(value))
    return found


class Links:
    """The search page's links with one parameter changed, as `link(**changes)` built
    them: the kept parameters in their order, a changed one in its place or at the end."""

    def __init__(self, here: str, kept: Mapping[str, str]) -> None:
        self.here = here
        self.kept = dict(kept)
        # Each kept parameter as `urlencode` writes it (str keys and values: quote_plus of
        # each, joined by "="): encoded once, not once per link.
        self._encoded = [quote_plus(k) + "=" + quote_plus(v) for k, v in self.kept.items()]
        self._around: dict[str, tuple[str, str]] = {}

    def _parts(self, param: str) -> tuple[str, str]:
        """The escaped link before and after `param=value`."""
        found = self._around.get(param)
        if found is None:
            keys = list(self.kept)
            at = keys.index(param) if param in self.kept else len(keys)
            before = "&".join(self._encoded[:at])
            after = "&".join(self._encoded[at + 1 :])
            found = self._around[param] = (
                escape_text(self.here + "?" + (before + "&" if before else "")),
                escape_text("&" + after if after else ""),
            )
        return found

    def with_value(self, param: str, value: object) -> str:
        """The link, escaped for an attribute (escaping is per character: the parts'
        escapes are the whole link's)."""
        before, after = self._parts(param)
        return before + _pair(param, str(value)) + after

    def query(self, *params: str) -> str:
        """The kept parameters (or those of them named), as `urlencode` writes them."""
        if not params:
            return "&".join(self._encoded)
        pairs = zip(self.kept, self._encoded, strict=True)
        return "&".join(pair for k, pair in pairs if k in params)

    def without(self, param: str) -> str:
        """The link without `param`, escaped."""
        params = [pair for k, pair in zip(self.kept, self._encoded, strict=True) if k != param]
        return escape_text(self.here + ("?" + "&".join(params) if params else ""))


def _facet_label(
    words: Labels,
    name: str,
    value: str,
    provinces: Mapping[str, str],
    grounds: Mapping[str, Any],
) -> tuple[str, str]:
    """The escaped label of a facet value and its link's title attribute."""
    if name == "list":
        label = words.text["不良名单"] if value == "bad" else words.text["失信名单"]
    elif name == "province":
        label = provinces.get(value, value)
    else:
        label = value
    ground = grounds.get(value) if name == "ground" else None
    return escape_kept(label), f' title="{escape_kept(ground.title)}"' if ground else ""


def facet_sections(
    result: search.SearchResult,
    filters: search.SearchFilters,
    links: Links,
    provinces: Mapping[str, str],
    grounds: Mapping[str, Any],
    words: Labels | None = None,
) -> str:
    """The `<section>` of each facet with values (or a value chosen): the values with their
    counts, each a link narrowing the search, the chosen one marked current."""
    words = words or labels()
    everything = words.escaped["全部"]
    chosen = {
        "list": filters.list_code,
        "province": filters.province,
        "ground": filters.ground,
        "year": filters.year,
    }
    parts: list[str] = []
    for name in FACETS:
        values = result.facets.get(name) or []
        current = chosen[name]
        if not values and not current:
            continue
        parts.append(
            f'  <section>\n    <h3>{words.facet_names[name]}</h3>\n    <ul class="facets">\n'
        )
        if current:
            parts.append(f'      <li><a href="{links.without(name)}">{everything}</a></li>\n')
        current_text = str(current)
        for value, count in values[:20]:
            label, title = _facet_label(words, name, value, provinces, grounds)
            if current_text == value:
                item = f'<strong aria-current="true">{label}</strong>'
            else:
                item = f'<a href="{links.with_value(name, value)}"{title}>{label}</a>'
            parts.append(f'      <li>{item} <span class="count">({count})</span></li>\n')
        parts.append("    </ul>\n  </section>\n")
    return "".join(parts)


def search_page(
    *,
    query: str,
    result: search.SearchResult,
    hit_list: str,
    facets: str,
    links: Links,
    form_action: str,
    feed_url: str,
    api_url: str,
    words: Labels | None = None,
) -> Blocks:
    """The search page's blocks (the form of public/_search_form.html):
    `hit_list` and `facets` are escaped markup; every other value is escaped here."""
    words = words or labels()
    text = words.text
    title = (words.format("查询：%(q)s", q=query) if query else text["查询"]) + (
        " - " + text["电信业务经营者信用名单"]
    )
    feed = escape_text(feed_url)
    head = (
        f'<link rel="alternate" type="application/json" href="{escape_text(api_url)}" '
        f'title="{text["JSON 数据"]}">\n'
        f'<link rel="alternate" type="application/rss+xml" href="{feed}" '
        f'title="{text["订阅此查询"]}">\n'
        '<meta name="robots" content="noindex">\n'
    )
    parts = [
        f"<h1>{text['查询']}</h1>\n",
        f'<form class="search" role="search" action="{escape_text(form_action)}" method="get">\n'
        f'  <label for="q">{text["经营者名称（两个字以上）、统一社会信用代码、许可证编号或处罚决定书文号"]}'
        "</label>\n"
        '  <div class="row">\n'
        f'    <input id="q" name="q" type="search" value="{escape_text(query)}" '
        'maxlength="200" autocomplete="off">\n'
        f'    <button type="submit">{text["查询"]}</button>\n'
        "  </div>\n</form>\n",
        '<div class="results-layout">\n<aside aria-labelledby="facets-title">\n'
        f'  <h2 id="facets-title">{text["筛选"]}</h2>\n{facets}</aside>\n'
        '<section aria-labelledby="results-title" class="results">\n'
        f'  <h2 id="results-title">{text["查询结果"]}</h2>\n',
    ]
    if result.too_short:
        notice = text["请输入至少两个字的名称，或完整的统一社会信用代码、许可证编号、文号。"]
        parts.append(f'  <p class="notice">{notice}</p>\n')
    subscribe = f' · <a href="{feed}">{text["订阅此查询（RSS）"]}</a>' if query else ""
    parts.append(f"  <p>{words.format('共 %(n)s 家经营者', n=result.total)}{subscribe}</p>\n")
    if hit_list:
        parts.append(f"  {hit_list}\n")
    elif not result.too_short:
        parts.append(f"  <p>{text['没有找到公示中的经营者。']}</p>\n")
    if result.pages > 1:
        parts.append(_pager(words, result, links))
    parts.append("</section>\n</div>\n")
    # Every value above is escaped, the messages are ours; the rest is markup (B704).
    return Blocks(Markup(title), Markup(head), Markup("".join(parts)))  # nosec B704


def _pager(words: Labels, result: search.SearchResult, links: Links) -> str:
    text = words.text
    parts = [f'  <nav class="pager" aria-label="{text["分页"]}">\n    ']
    if result.page > 1:
        href = links.with_value("page", result.page - 1)
        parts.append(f'<a rel="prev" href="{href}">{text["上一页"]}</a>')
    parts.append(
        f"\n    <span>{words.format('第 %(p)s / %(n)s 页', p=result.page, n=result.pages)}"
        "</span>\n    "
    )
    if result.page < result.pages:
        href = links.with_value("page", result.page + 1)
        parts.append(f'<a rel="next" href="{href}">{text["下一页"]}</a>')
    parts.append("\n  </nav>\n")
    return "".join(parts)
