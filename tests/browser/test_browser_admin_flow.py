"""The regulator's whole flow in a real browser: a clerk of 广东 logs in,
registers a firm, records a penalty with a PDF as evidence, creates a listing and submits it,
logs out; a reviewer of the same authority logs in, publishes, and the firm is on the public
search. Every back-office page on the way passes axe-core (no serious/critical violation)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from stdnum.cn import uscc as uscc_mod

from registry import rules
from tests.browser.support import axe_violations, describe_violations, login, logout, open_page

pytestmark = pytest.mark.browser

NAME = "广州市浏览器测试通信科技有限公司"
USCC_BODY = "91440101MA5BRW001"
USCC = USCC_BODY + uscc_mod.calc_check_digit(USCC_BODY)
DECISION_NO = "粤通管罚〔2026〕777号"
# A minimal well-formed PDF: the upload is checked by content (magic bytes), not by name.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


class Audit:
    """Runs axe on each page the flow passes through and keeps every finding."""

    def __init__(self, page) -> None:
        self.page = page
        self.problems: list[str] = []

    def __call__(self, label: str) -> None:
        violations = axe_violations(self.page)
        if violations:
            self.problems.append(
                f"axe on {label} ({self.page.url}):\n{describe_violations(violations)}"
            )

    def submit(
        self, selector: str = "main form[method=post]:not([action$='/logout']) button[type=submit]"
    ) -> None:
        with self.page.expect_navigation():
            self.page.locator(selector).first.click()
        response = self.page.evaluate(
            "performance.getEntriesByType('navigation')[0].responseStatus"
        )
        assert response < 500, f"{self.page.url}: HTTP {response}"


def flash_text(page) -> str:
    return " ".join(page.locator("main .alert").all_inner_texts())


def test_clerk_to_reviewer_to_public_search(browser, live_server):
    decided = (rules.today() - timedelta(days=3)).isoformat()
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    audit = Audit(page)
    try:
        open_page(page, live_server("/admin/login"))
        audit("login")
        login(page, live_server, live_server.clerk)
        audit("dashboard (clerk)")

        # Register the firm: first with a wrong check digit, shown at the field.
        page.click("nav.admin a[href$='/admin/enterprises']")
        audit("enterprises")
        with page.expect_navigation():
            page.click("main a[href$='/admin/enterprises/new']")
        audit("new enterprise form")
        page.fill("#name", NAME)
        wrong = USCC[:-1] + ("0" if USCC[-1] != "0" else "1")
        page.fill("#uscc", wrong)
        page.select_option("#province_code", "440000")
        audit.submit()
        assert page.locator("#uscc[aria-invalid=true]").count() == 1, page.inner_text("main")[:1500]
        assert page.locator("#uscc-error").inner_text().strip()
        audit("enterprise form with an error")
        page.fill("#uscc", USCC)
        audit.submit()
        assert page.locator("main h1").inner_text().strip() == NAME
        audit("enterprise")

        # Record the penalty decision, with a PDF as evidence, and submit it.
        with page.expect_navigation():
            page.click("main a[href*='/sanctions/new']")
        audit("new sanction form")
        page.fill("#decision_no", DECISION_NO)
        page.fill("#decided_on", decided)
        page.fill("#facts", "未按规定办理经营许可证变更手续，经责令改正仍未改正。")
        page.fill("#legal_basis", "《电信业务经营许可管理办法》第四十二条")
        page.check("input[name=measures][value=fine]")
        page.fill("#fine_amount", "30000")
        audit.submit()
        assert DECISION_NO in page.locator("main h1").inner_text()
        audit("sanction")
        sanction_url = page.url
        page.set_input_files(
            "#evidence-file",
            files=[{"name": "处罚决定书.pdf", "mimeType": "application/pdf", "buffer": PDF}],
        )
        page.fill("#evidence-description", "处罚决定书扫描件")
        audit.submit("section.evidence form[enctype] button[type=submit]")
        assert "处罚决定书.pdf" in page.inner_text("section.evidence"), flash_text(page)
        audit("sanction with evidence")
        audit.submit("section.workflow form[action$='/submit'] button")
        audit("sanction submitted")

        # Create the listing on that decision and submit it.
        with page.expect_navigation():
            page.click("main dl a[href*='/admin/enterprises/']")
        with page.expect_navigation():
            page.click("main a[href*='/listings/new']")
        audit("new listing form")
        b3 = page.locator("#ground option", has_text="B3").get_attribute("value")
        page.select_option("#ground", b3)
        page.fill("#decided_on", decided)
        sanction_option = page.locator("#sanction option", has_text=DECISION_NO)
        page.select_option("#sanction", sanction_option.get_attribute("value"))
        audit.submit()
        assert "/admin/listings/" in page.url, page.inner_text("main")[:1500]
        audit("listing (draft)")
        listing_url = page.url
        audit.submit("section.workflow form[action$='/submit'] button")
        assert "submitted" in page.locator("main .state").first.get_attribute("class")
        logout(page)
        audit("login after logout")

        # The reviewer of the same authority publishes the penalty and the listing.
        login(page, live_server, live_server.reviewer)
        assert NAME in page.inner_text("#to-review"), "the listing is not waiting for review"
        audit("dashboard (reviewer)")
        open_page(page, sanction_url)
        audit.submit("section.workflow form[action$='/publish'] button")
        assert "published" in page.locator("main .state").first.get_attribute("class")
        open_page(page, live_server("/admin/"))
        with page.expect_navigation():
            page.click(f"#to-review a[href='{listing_url.removeprefix(live_server.url)}']")
        audit("listing (submitted, reviewer)")
        audit.submit("section.workflow form[action$='/publish'] button")
        assert "published" in page.locator("main .state").first.get_attribute("class")
        audit("listing (published)")
        logout(page)

        # The public finds the firm, by name and by credit code.
        for query in ("浏览器测试通信", USCC):
            open_page(page, live_server("/search?q=" + quote(query)))
            hit = page.locator(f"main a[href$='/enterprises/{USCC}']")
            assert hit.count() >= 1, f"{query}: " + page.inner_text("main")[:1500]
        with page.expect_navigation():
            hit.first.click()
        assert NAME in page.locator("main h1").inner_text()
        assert DECISION_NO in page.inner_text("main")
    finally:
        context.close()
    assert not audit.problems, "\n".join(audit.problems)


def test_clerk_imports_a_file_from_the_back_office(browser, live_server):
    """/admin/import: the upload form, a report with a bad row (a table naming row and
    column, no confirm button), then a good file confirmed; every page passes axe."""
    decided = (rules.today() - timedelta(days=3)).isoformat()
    header = "经营者名称,统一社会信用代码,名单类型,列入事由,处理日期\n"
    body = [
        f"广州市浏览器导入{n}号科技有限公司,{uscc},不良名单,B3,{decided}\n"
        for n, uscc in (
            (1, "91440101MA5BRW002" + uscc_mod.calc_check_digit("91440101MA5BRW002")),
            (2, "91440101MA5BRW003" + uscc_mod.calc_check_digit("91440101MA5BRW003")),
        )
    ]
    bad = header + body[0] + body[1].replace(decided, "2020-13-45")
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    audit = Audit(page)

    def upload(text: str) -> None:
        page.set_input_files(
            "#file", files=[{"name": "名单.csv", "mimeType": "text/csv", "buffer": text.encode()}]
        )
        audit.submit("main form[enctype] button[type=submit]")

    try:
        login(page, live_server, live_server.clerk)
        with page.expect_navigation():
            page.click("nav.admin a[href$='/admin/import']")
        audit("import form")
        upload(bad)
        assert "处理日期" in page.inner_text("table.import-problems"), page.inner_text("main")
        assert page.locator("form[action$='/admin/import/confirm']").count() == 1  # skip-bad only
        audit("import report with an error")
        open_page(page, live_server("/admin/import"))
        upload(header + "".join(body))
        audit("import report")
        audit.submit("form[action$='/admin/import/confirm'] button[type=submit]")
        assert "新增名单记录2条" in flash_text(page), page.inner_text("main")[:1500]
        audit("import done")
    finally:
        context.close()
    assert not audit.problems, "\n".join(audit.problems)
