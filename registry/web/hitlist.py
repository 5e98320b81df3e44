"""The search page's result list and facet links, as markup built in Python from plain rows.

A page carries twenty firms and up to eighty facet links: as Jinja loops, the context calls,
attribute lookups and escaping per variable were most of the page's rendering. Every value
shown is escaped here; the shape of the HTML is the one the template had.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus, urlencode

from markupsafe import Markup, escape

from registry import search
from registry.web import translate as _
from registry.web.hits import HitFirm, HitListing

FACETS = ("list", "province", "ground", "year")


def list_title(code: str) -> str:
    """The list's name (registry.web.public.list_title, with the request's catalogue)."""
    return _("不良名单") if code == "bad" else _("失信名单")


def result_list(
    rows: list[tuple[HitFirm, list[HitListing]]],
    firm_url: Callable[[Any], str],
) -> Markup:
    """`<ol class="hits">`: each firm's link, code and listings in force."""
    uscc_label, decided_label = escape(_("统一社会信用代码")), escape(_("处理日期"))
    titles = {code: escape(list_title(code)) for code in search.LISTS}
    parts = ['<ol class="hits">\n']
    for firm, listings in rows:
        parts.append(
            f'    <li>\n      <a href="{escape(firm_url(firm))}"><strong>{escape(firm.name)}'
            "</strong></a>\n"
        )
        if firm.uscc:
            parts.append(f"      <br><small>{uscc_label}：{escape(firm.uscc)}</small>\n")
        parts.append("      <ul>\n")
        for li in listings:
            title = titles.get(li.list_code) or escape(list_title(li.list_code))
            parts.append(
                f'        <li><span class="tag tag-{escape(li.list_code)}">{title}</span> '
                f"{escape(li.ground_title)} · {decided_label} {li.decided_on} · "
                f"{escape(li.authority_name)}</li>\n"
            )
        parts.append("      </ul>\n    </li>\n")
    parts.append("  </ol>")
    # Every value above is escaped; the rest is this function's own markup (B704).
    return Markup("".join(parts))  # nosec B704


class Links:
    """The search page's links with one parameter changed, as `link(**changes)` built
    them: the kept parameters in their order, a changed one in its place or at the end."""

    def __init__(self, here: str, kept: Mapping[str, str]) -> None:
        self.here = here
        self.kept = dict(kept)
        self._around: dict[str, tuple[str, str]] = {}

    def _parts(self, param: str) -> tuple[str, str]:
        found = self._around.get(param)
        if found is None:
            keys = list(self.kept)
            at = keys.index(param) if param in self.kept else len(keys)
            before = urlencode([(k, self.kept[k]) for k in keys[:at]])
            after = urlencode([(k, self.kept[k]) for k in keys[at + 1 :]])
            found = self._around[param] = (
                self.here + "?" + (before + "&" if before else ""),
                "&" + after if after else "",
            )
        return found

    def with_value(self, param: str, value: object) -> str:
        before, after = self._parts(param)
        return before + quote_plus(param) + "=" + quote_plus(str(value)) + after

    def without(self, param: str) -> str:
        params = {k: v for k, v in self.kept.items() if k != param}
        return self.here + ("?" + urlencode(params) if params else "")


def facet_sections(
    result: search.SearchResult,
    filters: search.SearchFilters,
    links: Links,
    provinces: Mapping[str, str],
    grounds: Mapping[str, Any],
) -> Markup:
    """The `<section>` of each facet with values (or a value chosen): the values with their
    counts, each a link narrowing the search, the chosen one marked current."""
    names = {
        "list": _("名单"),
        "province": _("省份"),
        "ground": _("列入事由"),
        "year": _("处理年份"),
    }
    everything = escape(_("全部"))
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
        parts.append(f'  <section>\n    <h3>{escape(names[name])}</h3>\n    <ul class="facets">\n')
        if current:
            parts.append(
                f'      <li><a href="{escape(links.without(name))}">{everything}</a></li>\n'
            )
        current_text = str(current)
        for value, count in values[:20]:
            if name == "list":
                label = list_title(value)
            elif name == "province":
                label = provinces.get(value, value)
            else:
                label = value
            if current_text == value:
                item = f'<strong aria-current="true">{escape(label)}</strong>'
            else:
                ground = grounds.get(value) if name == "ground" else None
                title = f' title="{escape(ground.title)}"' if ground else ""
                href = escape(links.with_value(name, value))
                item = f'<a href="{href}"{title}>{escape(label)}</a>'
            parts.append(f'      <li>{item} <span class="count">({count})</span></li>\n')
        parts.append("    </ul>\n  </section>\n")
    # Every value above is escaped; the rest is this function's own markup (B704).
    return Markup("".join(parts))  # nosec B704
