"""/campaigns and /campaigns/<slug> in a real browser: axe-core finds no serious or critical
violation on a desktop and on a 375 px phone, in Chinese and English; the progress chart fits
the phone's width; the Nu HTML Checker finds no error in the HTML the server sends."""

from __future__ import annotations

import pytest

from tests.browser.support import (
    PHONE,
    axe_violations,
    describe_violations,
    describe_vnu,
    open_page,
    run_vnu,
)

pytestmark = pytest.mark.browser

# (path, charts on it): the demo data's broadband campaign, and the one with XSS payloads
PATHS = [
    ("/campaigns", 0),
    ("/campaigns?lang=en", 0),
    ("/campaigns/broadband-buildings", 1),
    ("/campaigns/broadband-buildings?lang=en", 1),
    ("/campaigns/xss-campaign", 1),
]


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_campaign_pages_pass_axe_and_fit_the_screen(browser, live_server, viewport):
    size = PHONE if viewport == "phone" else {"width": 1280, "height": 900}
    context = browser.new_context(locale="zh-CN", viewport=size)
    problems = []
    try:
        page = context.new_page()
        for path, expected_charts in PATHS:
            open_page(page, live_server(path))
            charts = page.locator("svg.chart")
            if charts.count() != expected_charts:
                problems.append(f"{path}: {charts.count()} charts, expected {expected_charts}")
            violations = axe_violations(page)
            if violations:
                problems.append(f"axe on {path}:\n{describe_violations(violations)}")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 1:
                problems.append(f"{path}: page is {overflow}px wider than the screen")
            for n in range(charts.count()):
                box = charts.nth(n).bounding_box()
                if box is None or box["width"] > size["width"] or box["height"] < 20:
                    problems.append(f"{path}: chart {n} box {box}")
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def test_campaign_pages_are_valid_html(vnu_jar, browser, live_server, tmp_path):
    context = browser.new_context(locale="zh-CN")
    files = []
    try:
        page = context.new_page()
        for n, (path, _charts) in enumerate(PATHS):
            response = page.goto(live_server(path), wait_until="domcontentloaded")
            assert response is not None and response.status == 200, path
            files.append(tmp_path / f"campaign-{n}.html")
            files[-1].write_bytes(response.body())
    finally:
        context.close()
    errors = run_vnu(vnu_jar, files)
    assert not errors, describe_vnu(errors)
