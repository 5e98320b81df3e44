"""/stats in a real browser: axe-core finds no serious or critical violation on a desktop and
on a 375 px phone, in Chinese and English; the charts fit the phone's width; the Nu HTML
Checker finds no error in the HTML the server sends."""

from __future__ import annotations

import pytest

from tests.browser.support import PHONE, chart_page_problems, describe_vnu, vnu_errors_of

pytestmark = pytest.mark.browser

PATHS = ["/stats", "/stats?lang=en", "/stats?province=440000"]


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_stats_page_passes_axe_and_its_charts_fit_the_screen(browser, live_server, viewport):
    size = PHONE if viewport == "phone" else {"width": 1280, "height": 900}
    problems = chart_page_problems(browser, live_server, [(p, 6) for p in PATHS], size)
    assert not problems, "\n".join(problems)


def test_stats_page_is_valid_html(vnu_jar, browser, live_server, tmp_path):
    paths = [*PATHS, "/admin/login"]
    errors = vnu_errors_of(vnu_jar, browser, live_server, paths, tmp_path)
    assert not errors, describe_vnu(errors)
