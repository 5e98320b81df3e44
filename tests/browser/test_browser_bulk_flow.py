"""A quarter's batch in a real browser: a clerk imports a 500-row CSV in /admin/import, a
reviewer opens the batch, publishes it in one action, drafts the quarter's exposure notice
from it, and (a second reviewer) publishes the notice; the firms are on the public search
and the notice in the feed. Every new back-office page passes axe-core and the Nu HTML
Checker at desktop width and at 375 px, and has no sideways scrolling on a phone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from stdnum.cn import uscc as uscc_mod

from registry import rules
from tests.browser.support import (
    PHONE,
    axe_violations,
    describe_violations,
    describe_vnu,
    login,
    logout,
    open_page,
    run_vnu,
)

pytestmark = pytest.mark.browser
ROWS = 500


def _csv(tmp_path: Path) -> Path:
    decided = (rules.today() - timedelta(days=4)).isoformat()
    lines = ["经营者名称,统一社会信用代码,名单类型,列入事由,处理日期"]
    for n in range(ROWS):
        body = f"91440101MA5Q{n:05d}"
        lines.append(
            f"广州市季度批次{n}号网络科技有限公司,{body + uscc_mod.calc_check_digit(body)},不良名单,B3,{decided}"
        )
    path = tmp_path / "季度名单.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Checks:
    """axe at desktop and phone width, the HTML kept for vnu, the phone's scroll width."""

    def __init__(self, page, tmp_path: Path) -> None:
        self.page, self.tmp_path = page, tmp_path
        self.problems: list[str] = []
        self.files: list[Path] = []

    def __call__(self, label: str) -> None:
        html = self.tmp_path / f"page-{len(self.files):02d}.html"
        html.write_text(self.page.content(), encoding="utf-8")
        self.files.append(html)
        for size in ({"width": 1280, "height": 900}, PHONE):
            self.page.set_viewport_size(size)
            violations = axe_violations(self.page)
            if violations:
                self.problems.append(
                    f"axe {label} {size['width']}px:\n{describe_violations(violations)}"
                )
        wide = self.page.evaluate("document.documentElement.scrollWidth")
        if wide > PHONE["width"] + 1:
            self.problems.append(f"{label}: {wide}px wide at {PHONE['width']}px")
        self.page.set_viewport_size({"width": 1280, "height": 900})

    def click(self, selector: str) -> None:
        with self.page.expect_navigation():
            self.page.locator(selector).first.click()
        status = self.page.evaluate("performance.getEntriesByType('navigation')[0].responseStatus")
        assert status < 400, (
            f"{self.page.url}: HTTP {status}\n{self.page.inner_text('main')[:1000]}"
        )


def test_batch_import_bulk_publish_notice_drafted_and_published(
    browser, own_live_server, vnu_jar, tmp_path
):
    live_server = own_live_server  # its 500 firms stay off the shared site
    year, quarter = rules.today().year, (rules.today().month - 1) // 3 + 1
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    check = Checks(page, tmp_path)
    try:
        login(page, live_server, live_server.clerk)
        open_page(page, live_server("/admin/import"))
        page.set_input_files("#file", str(_csv(tmp_path)))
        check.click("form[enctype='multipart/form-data'] button[type=submit]")
        assert f"确认导入{ROWS}条" in page.inner_text("main")
        check.click("main form[action$='/admin/import/confirm'] button[type=submit]")
        assert "/admin/imports/" in page.url, page.url
        batch_url = page.url.removeprefix(live_server.url)
        check("import batch (clerk)")
        assert "公示本批次" not in page.inner_text("main")  # the importer may not publish it
        open_page(page, live_server("/admin/imports"))
        check("import batches")
        logout(page)

        login(page, live_server, live_server.reviewer)
        open_page(page, live_server(batch_url))
        assert f"公示本批次全部{ROWS}条待审核记录" in page.inner_text("main")
        check.click("form[action$='/publish'] button[type=submit]")
        assert f"已公示{ROWS}条名单记录" in page.inner_text("main")
        open_page(page, live_server(f"/admin/listings?batch={batch_url.rsplit('/', 1)[1]}"))
        assert f"共 {ROWS} 条" in page.inner_text("main")
        check("listings of the batch")
        for path in ("/admin/sanctions", "/admin/petitions", "/admin/notices", "/admin/"):
            open_page(page, live_server(path))
            check(path)

        open_page(page, live_server("/admin/notices/draft"))
        check("draft notice form")
        page.fill("#year", str(year))
        page.select_option("#quarter", str(quarter))
        page.select_option("#list_code", "bad")
        check.click("form[action$='/admin/notices/draft'] button[type=submit]")
        assert "/admin/notices/" in page.url
        notice_url = page.url.removeprefix(live_server.url)
        assert "广州市季度批次0号网络科技有限公司" in page.inner_text("main")
        check("drafted notice")
        logout(page)

        # The clerk submits the reviewer's draft; the reviewer (not its submitter) publishes.
        login(page, live_server, live_server.clerk)
        open_page(page, live_server(notice_url))
        check.click("section.workflow form[action$='/submit'] button")
        logout(page)
        login(page, live_server, live_server.reviewer)
        open_page(page, live_server(notice_url))
        check.click("section.workflow form[action$='/publish'] button")
        assert "published" in page.locator("main .state").first.get_attribute("class")
        logout(page)

        open_page(page, live_server("/search?q=" + quote("季度批次17号")))
        assert page.locator("main a[href*='/enterprises/91440101MA5Q00017']").count() >= 1
        feed = page.goto(live_server("/feeds/notices.atom"))
        assert "季度电信业务经营不良名单列入公告" in feed.text()
    finally:
        context.close()
    problems = check.problems
    errors = run_vnu(vnu_jar, check.files)
    assert not errors, describe_vnu(errors)
    assert not problems, "\n".join(problems)
