"""The public site in a real browser (Debian's chromium): every page renders, passes axe-core
with no serious or critical violation on a desktop and a 375 px phone, and the search works
with JavaScript turned off."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.browser.support import (
    PHONE,
    axe_violations,
    describe_violations,
    open_page,
    sideways_overflow,
)

pytestmark = pytest.mark.browser


def public_paths(live_server) -> list[str]:
    return [
        "/",
        "/search?q=" + quote("网络"),
        f"/enterprises/{live_server.firm_uscc}",
        "/lists/bad",
        "/lists/dishonest",
        "/notices",
        f"/notices/{live_server.notice_slug}",
        "/about",
        "/log",
        "/data",
        "/stats",
        "/lists/bad?as_of=2020-06-30",
        f"/enterprises/{live_server.firm_uscc}?as_of=2020-06-30",
        "/changes?from=2019-01-01&to=2020-12-31",
        f"/enterprises/{live_server.firm_uscc}/report",
        f"/enterprises/{live_server.xss_uscc}/report",
        "/verify",
    ]


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_public_pages_pass_axe(browser, live_server, viewport):
    """WCAG via axe-core: no serious/critical violation on any public page, on either screen."""
    size = PHONE if viewport == "phone" else {"width": 1280, "height": 900}
    context = browser.new_context(locale="zh-CN", viewport=size)
    problems = []
    try:
        page = context.new_page()
        for path in public_paths(live_server):
            open_page(page, live_server(path))
            if page.locator("main h1").count() < 1:
                problems.append(f"{path}: no <h1> in <main>")
            violations = axe_violations(page)
            if violations:
                problems.append(f"axe on {path}:\n{describe_violations(violations)}")
            if viewport == "phone":
                # Readable on a phone: the page itself never scrolls sideways.
                overflow = sideways_overflow(page)
                if overflow > 1:
                    problems.append(f"{path}: page is {overflow}px wider than a 375px phone")
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def test_search_works_without_javascript(browser, live_server):
    """Pages work without JavaScript: the search form submits and lists matching firms."""
    context = browser.new_context(locale="zh-CN", java_script_enabled=False)
    try:
        page = context.new_page()
        open_page(page, live_server("/"))
        page.fill("#q", "网络")
        with page.expect_navigation():
            page.click("form.search button[type=submit]")
        assert "/search?" in page.url
        assert "q=" + quote("网络") in page.url
        results = page.locator("main a[href*='/enterprises/']")
        assert results.count() > 0, "no firm found for 网络"
        names = results.all_inner_texts()
        assert any("网络" in name for name in names), names

        # A firm page is reachable from the results, still without JavaScript.
        with page.expect_navigation():
            results.first.click()
        assert "/enterprises/" in page.url
        assert page.locator("main h1").inner_text().strip()
    finally:
        context.close()


def test_search_by_credit_code_without_javascript(browser, live_server):
    """A USCC typed in lower case with spaces finds its firm."""
    context = browser.new_context(locale="zh-CN", java_script_enabled=False)
    try:
        page = context.new_page()
        open_page(page, live_server("/search"))
        uscc = live_server.firm_uscc
        page.fill("#q", f" {uscc[:6].lower()} {uscc[6:].lower()} ")
        with page.expect_navigation():
            page.click("form.search button[type=submit]")
        first = page.locator(f"main a[href*='/enterprises/{uscc}']").first
        assert first.count() == 1, page.inner_text("main")[:2000]
    finally:
        context.close()
