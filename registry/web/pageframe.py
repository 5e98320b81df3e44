"""A page of the site's layout (templates/base.html) around blocks built in Python, without
rendering the layout per request.

The layout depends on the request only through its language, the script root and the
language switcher's link (the current page in the other language). It is rendered once
per process for each language and script root, with markers in place of the page's
blocks and of that link, and kept as the markup between them; a page is then those parts
joined with its own blocks and link. The result is what rendering the page's template
gives: the blocks are inserted as the template inserts markup, the link escaped as the
template escapes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from flask import render_template
from markupsafe import Markup, escape

from registry.web import kept_for_language, lang_url

# Unlikely in any markup, untouched by escaping.
_MARK = "\x00frame:{}\x00"
_MARKS = re.compile("\x00frame:([A-Za-z_]+)\x00")
_LANG = "lang_url_"  # the switcher's link to the locale after it
_KEPT = "registry_page_frames"


class Frame:
    """The layout's markup between its slots: `parts[i]`, slot `slots[i]`, ..., the last part."""

    def __init__(self, rendered: str) -> None:
        pieces = _MARKS.split(rendered)
        self.parts: tuple[str, ...] = tuple(pieces[0::2])
        self.slots: tuple[str, ...] = tuple(pieces[1::2])

    def fill(self, blocks: Mapping[str, str]) -> str:
        """The page, with each block's markup (and the switcher's link) in its slot."""
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            if slot.startswith(_LANG):
                out.append(str(escape(lang_url(slot[len(_LANG) :]))))
            else:
                out.append(blocks[slot])
            out.append(part)
        return "".join(out)


def _marked_url(locale: str) -> str:
    return _MARK.format(_LANG + locale)


def frame(template: str, blocks: tuple[str, ...]) -> Frame:
    """The layout of `template` (whose context is `page`, its blocks by name) for this
    request's language and script root, rendered once per process and kept."""

    def build() -> Frame:
        # Markers, not text: the template inserts the blocks as markup (B704).
        page = {name: Markup(_MARK.format(name)) for name in blocks}  # nosec B704
        return Frame(render_template(template, page=page, lang_url=_marked_url))

    return kept_for_language(_KEPT, template, build)


def render(template: str, blocks: Mapping[str, str]) -> str:
    """`render_template(template, page=blocks)` for a template that shows only the blocks
    (markup) within the layout."""
    return frame(template, tuple(blocks)).fill(blocks)


class Blocks(NamedTuple):
    """A page of templates/public/page.html: its blocks, escaped markup."""

    title: Markup
    head: Markup
    main: Markup


def render_page(blocks: Blocks) -> str:
    """templates/public/page.html with `blocks`, in the kept layout."""
    return render("public/page.html", blocks._asdict())
