"""The objection flow in chromium, at desktop width and at 375 px: a firm finds its page,
objects with hostile text in every field, notes its tracking number and code, and looks
its progress up; a clerk accepts, a reviewer rejects, and /track shows the decision. Every
page on the way passes axe-core and the Nu HTML Checker, and no stored script runs."""

from __future__ import annotations

import re

import pytest

from tests.browser.support import (
    PHONE,
    XSS_ATTR,
    XSS_SCRIPT,
    axe_violations,
    describe_violations,
    describe_vnu,
    login,
    logout,
    open_page,
    run_vnu,
)

pytestmark = pytest.mark.browser
HOSTILE = f"{XSS_SCRIPT}{XSS_ATTR}"


class Pages:
    """Keeps the HTML of every page visited (for vnu) and axe's findings."""

    def __init__(self, page, folder, label: str) -> None:
        self.page, self.folder, self.label = page, folder, label
        self.files: list = []
        self.problems: list[str] = []

    def check(self, name: str) -> None:
        path = self.folder / f"{self.label}-{len(self.files):02d}-{name}.html"
        path.write_text(self.page.content(), encoding="utf-8")
        self.files.append(path)
        violations = axe_violations(self.page)
        if violations:
            self.problems.append(
                f"axe on {name} ({self.page.url}):\n{describe_violations(violations)}"
            )
        assert self.page.evaluate("window.__xss") is None, f"script ran on {self.page.url}"

    def submit(self, selector: str) -> int:
        with self.page.expect_navigation():
            self.page.locator(selector).first.click()
        return self.page.evaluate("performance.getEntriesByType('navigation')[0].responseStatus")


def _object(pages: Pages, live_server) -> tuple[str, str]:
    page = pages.page
    open_page(page, live_server(f"/enterprises/{live_server.xss_uscc}"))
    with page.expect_navigation():
        page.locator("a[href*='/objections/new?listing=']").first.click()
    pages.check("objection-form")
    page.fill("#name", f"申请人{HOSTILE}")
    page.check("input[name=capacity][value=firm]")
    page.fill("#email", "firm@example.com")
    page.fill("#phone", HOSTILE[:40])
    page.fill("#statement", f"处罚决定已撤销{HOSTILE}")
    assert pages.submit("form.submission button[type=submit]") == 200
    pages.check("receipt")
    return page.inner_text("#tracking-number"), page.inner_text("#access-code")


def _track(pages: Pages, live_server, number: str, code: str) -> str:
    page = pages.page
    open_page(page, live_server("/track"))
    page.fill("#number", number)
    page.fill("#code", code)
    assert pages.submit("form.submission button[type=submit]") == 200
    pages.check("track")
    return page.inner_text("main")


def _handle(pages: Pages, live_server, number: str) -> None:
    page = pages.page
    login(page, live_server, live_server.clerk)
    open_page(page, live_server("/admin/submissions"))
    pages.check("queue")
    with page.expect_navigation():
        page.click(f"text={number}")
    pages.check("case-received")
    assert pages.submit("form[action$='/accept'] button") < 400
    pages.check("case-accepted")
    logout(page)
    login(page, live_server, live_server.reviewer)
    open_page(page, live_server("/admin/submissions?state=accepted"))
    with page.expect_navigation():
        page.click(f"text={number}")
    page.select_option("#decide-outcome", "rejected")
    page.fill("#decide-reason", f"处罚决定仍然有效{HOSTILE}")
    assert pages.submit("form[action$='/decide'] button") < 400
    pages.check("case-decided")
    logout(page)


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_objection_flow_end_to_end_accessible_and_valid(
    browser, live_server, vnu_jar, tmp_path, viewport
):
    options = {"locale": "zh-CN"} | ({"viewport": viewport} if viewport else {})
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
    pages = Pages(context.new_page(), tmp_path, "phone" if viewport else "desktop")
    try:
        number, code = _object(pages, live_server)
        assert re.fullmatch(r"YY\d{6}[0-9A-Z]{6}", number) and len(code) == 19
        assert "等待受理" in _track(pages, live_server, number, code)
        _handle(pages, live_server, number)
        decided = _track(pages, live_server, number, code)
        assert "已办结" in decided and "不成立" in decided and "处罚决定仍然有效" in decided
        if viewport:
            width = pages.page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"/track is {width} px wide at 375 px"
    finally:
        context.close()
    errors = run_vnu(vnu_jar, pages.files)
    assert not errors, describe_vnu(errors)
    assert not pages.problems, "\n".join(pages.problems)
