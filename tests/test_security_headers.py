"""Security headers on every response: CSP without inline script, no framing,
nosniff, a referrer policy; back-office pages are never cached."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/", "/admin/login", "/no/such/page", "/admin/"])
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


def test_no_inline_script_in_admin_pages(client):
    page = client.get("/admin/login").get_data(as_text=True)
    assert "<script>" not in page and "onclick" not in page
