"""Security headers on every response: CSP without inline script, no framing,
nosniff, a referrer policy; back-office pages are never cached."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    "path",
    ["/", "/admin/login", "/no/such/page", "/admin/", "/stats", "/stats.json", "/stats.csv"],
)
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_admin_pages_are_not_cached(client):
    assert client.get("/admin/login").headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in client.get("/about").headers


def test_every_answer_names_what_its_language_depends_on(client):
    for path in ("/", "/api/v1/search?q=公司", "/no/such/page"):
        assert client.get(path).headers.get_all("Vary") == ["Accept-Language, Cookie"]


def _answered(headers: list[tuple[str, str]], path: str = "/") -> list[tuple[str, str]]:
    """The headers of an answer whose view set `headers`, as the client gets them."""
    from registry.web.security import HEADERS, answer_headers

    def view(environ, start_response):
        start_response("200 OK", list(headers))
        return [b""]

    got: list[tuple[str, str]] = []
    app = answer_headers(view, list(HEADERS.items()), ("Accept-Language", "Cookie"))
    app({"PATH_INFO": path}, lambda status, sent, exc_info=None: got.extend(sent))
    return got


def test_a_header_a_view_set_itself_is_kept_and_its_vary_merged():
    got = _answered([("Content-Security-Policy", "default-src 'none'"), ("vary", "Origin")])
    assert [v for n, v in got if n == "Content-Security-Policy"] == ["default-src 'none'"]
    assert [v for n, v in got if n.lower() == "vary"] == ["Origin, Accept-Language, Cookie"]
    again = _answered([("Vary", "Origin, accept-language"), ("Vary", "Cookie")])
    assert [v for n, v in again if n.lower() == "vary"] == ["Origin, accept-language, Cookie"]
    assert ("X-Frame-Options", "DENY") in got and ("X-Frame-Options", "DENY") in again


def test_a_back_office_answer_is_never_stored_whatever_its_view_said():
    got = _answered([("Cache-Control", "max-age=600")], path="/admin/listings")
    assert [v for n, v in got if n == "Cache-Control"] == ["no-store"]


TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# What the CSP (script-src 'self', no 'unsafe-inline') would block: a <script> element
# without src, an event-handler attribute, a javascript: URL.
_INLINE_SCRIPT = re.compile(
    r"<script\b(?![^>]*\bsrc\s*=)[^>]*>|\son[a-z]+\s*=|javascript\s*:", re.IGNORECASE
)


def inline_scripts(markup: str) -> list[str]:
    return [match.group(0) for match in _INLINE_SCRIPT.finditer(markup)]


@pytest.mark.parametrize(
    "markup",
    [
        "<script>alert(1)</script>",
        '<script type="module">x()</script>',
        '<button onclick="x()">',
        "<body ONLOAD='x()'>",
        '<a href="javascript:x()">',
    ],
)
def test_inline_script_detector_flags_what_the_csp_blocks(markup):
    assert inline_scripts(markup)


def test_inline_script_detector_lets_an_external_script_pass():
    assert not inline_scripts('<script src="/static/app.js" defer></script><p>online</p>')


def test_no_template_has_inline_script():
    """Every page template (public, back office, data, log, error): no script the CSP
    would block."""
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert {p.parent.name for p in templates} >= {"templates", "public", "admin", "data", "log"}
    found = {
        str(path.relative_to(TEMPLATES)): inline_scripts(path.read_text(encoding="utf-8"))
        for path in templates
    }
    assert not {name: hits for name, hits in found.items() if hits}
