"""The search page's layout, kept per language and script root (registry/web/pageframe.py),
gives what rendering its template per request gives."""

from __future__ import annotations

import pytest
from flask import render_template, request
from markupsafe import Markup

from registry.web import pageframe

BLOCKS = {
    "title": Markup("查询：&lt;b&gt; &amp; - 名单"),
    "head": Markup('<meta name="robots" content="noindex">\n'),
    "main": Markup("<h1>查询</h1>\n<p>a &amp; b \x01 %(x)s {{ y }}</p>\n"),
}


@pytest.mark.parametrize(
    ("path", "headers", "script_root"),
    [
        ("/search?q=%E9%80%9A%E4%BF%A1", {}, ""),
        ("/search?q=%E9%80%9A%E4%BF%A1&page=2", {"Accept-Language": "en"}, ""),
        ("/search?q=a%26b%3C%22%27&lang=en", {}, "/registry"),
        ("/search?lang=zh_Hans&province=44&q=x", {"Accept-Language": "en"}, "/r"),
        ("/search", {}, ""),
    ],
)
def test_the_kept_layout_renders_as_the_template(app, path, headers, script_root):
    for _round in range(2):  # the first builds the layout, the second reuses it
        with app.test_request_context(
            path, headers=headers, base_url="http://localhost" + script_root
        ):
            assert request.script_root == script_root
            expected = render_template("public/page.html", page=BLOCKS)
            assert pageframe.render("public/page.html", BLOCKS) == expected


def test_each_language_and_script_root_has_its_own_layout(app):
    pages = set()
    for headers, root in (({}, ""), ({"Accept-Language": "en"}, ""), ({}, "/r")):
        with app.test_request_context(
            "/search?q=x", headers=headers, base_url="http://localhost" + root
        ):
            pages.add(pageframe.render("public/page.html", BLOCKS))
    assert len(pages) == 3
