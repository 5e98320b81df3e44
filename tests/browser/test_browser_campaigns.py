"""/campaigns and /campaigns/<slug> in a real browser: axe-core finds no serious or critical
violation on a desktop and on a 375 px phone, in Chinese and English; the progress chart fits
the phone's width; the Nu HTML Checker finds no error in the HTML the server sends."""

from __future__ import annotations

import pytest

from tests.browser.support import PHONE, chart_page_problems, describe_vnu, vnu_errors_of

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
    problems = chart_page_problems(browser, live_server, PATHS, size)
    assert not problems, "\n".join(problems)


def test_campaign_pages_are_valid_html(vnu_jar, browser, live_server, tmp_path):
    errors = vnu_errors_of(vnu_jar, browser, live_server, [p for p, _ in PATHS], tmp_path)
    assert not errors, describe_vnu(errors)
