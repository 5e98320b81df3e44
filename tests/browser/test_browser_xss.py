"""XSS in a real browser: payloads stored through the services in every text field
of a firm, its penalty, its listing and a notice, all published, then every page that shows
them is loaded in chromium. The Content-Security-Policy is bypassed on purpose, so the test
checks the escaping itself and not only the second line of defence."""

from __future__ import annotations

import pytest

from tests.browser.support import XSS_ATTR, XSS_SCRIPT, login, open_page

pytestmark = pytest.mark.browser

# Run before any page script: note any alert/confirm/prompt a payload might open.
TRAP = """
window.__dialogs = 0;
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = () => { window.__dialogs += 1; };
}
"""
INJECTED = """() => ({
  xss: typeof window.__xss !== "undefined",
  dialogs: window.__dialogs,
  imgs: document.querySelectorAll('img[src="x"], [onerror]').length,
  scripts: [...document.scripts].filter(s => s.textContent.includes("__xss")).length,
  links: [...document.querySelectorAll("a[href]")].filter(
    a => a.getAttribute("href").trim().toLowerCase().startsWith("javascript:")).length,
})"""


def check_page(page, url: str, dialogs: list, shown: str | None = None) -> list[str]:
    open_page(page, url)
    found = page.evaluate(INJECTED)
    problems = []
    if found["xss"] or found["dialogs"] or dialogs:
        problems.append(f"{url}: a payload ran ({found}, dialogs {dialogs})")
    if found["imgs"] or found["scripts"] or found["links"]:
        problems.append(f"{url}: payload markup became elements ({found})")
    if shown is not None and shown not in page.inner_text("main"):
        # The payload must be on the page as text, or the check above proves nothing.
        problems.append(f"{url}: the stored text {shown!r} is not shown")
    return problems


def xss_context(browser):
    context = browser.new_context(locale="zh-CN", bypass_csp=True)
    context.add_init_script(TRAP)
    return context


def test_payloads_never_run_on_public_pages(browser, live_server):
    context = xss_context(browser)
    dialogs: list[str] = []
    uscc, slug = live_server.xss_uscc, live_server.xss_notice_slug
    pages = [
        ("/", None),
        (f"/search?q={uscc}", XSS_SCRIPT),
        ("/search?q=" + "%3Cscript%3Ewindow.__xss%3D1%3C%2Fscript%3E", None),
        (f"/enterprises/{uscc}", XSS_SCRIPT),
        ("/lists/bad", XSS_SCRIPT),
        ("/notices", XSS_SCRIPT),
        (f"/notices/{slug}", XSS_SCRIPT),
        ("/log", XSS_SCRIPT),
        ("/data", None),
        ("/campaigns", XSS_SCRIPT),
        ("/campaigns/xss-campaign", XSS_SCRIPT),
    ]
    problems = []
    try:
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for path, shown in pages:
            problems += check_page(page, live_server(path), dialogs, shown)
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def test_payloads_never_run_on_admin_pages(browser, live_server):
    context = xss_context(browser)
    dialogs: list[str] = []
    ids = live_server.xss_ids
    pages = [
        ("/admin/", None),
        ("/admin/enterprises", XSS_SCRIPT),
        (f"/admin/enterprises/{ids['enterprise']}", XSS_SCRIPT),
        (f"/admin/enterprises/{ids['enterprise']}/edit", None),
        (f"/admin/sanctions/{ids['sanction']}", XSS_SCRIPT),
        (f"/admin/listings/{ids['listing']}", XSS_SCRIPT),
        ("/admin/notices", XSS_SCRIPT),
        (f"/admin/notices/{ids['notice']}", XSS_SCRIPT),
        ("/admin/campaigns", XSS_SCRIPT),
    ]
    problems = []
    try:
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        login(page, live_server, live_server.reviewer)
        for path, shown in pages:
            problems += check_page(page, live_server(path), dialogs, shown)
        # In the edit form the payload is an attribute value, intact and inert.
        open_page(page, live_server(f"/admin/enterprises/{ids['enterprise']}/edit"))
        assert XSS_ATTR in page.input_value("#name")
        assert page.input_value("#address") == XSS_ATTR
    finally:
        context.close()
    assert not problems, "\n".join(problems)


# Feeds, JSON and exports carry the same payloads. Chromium must show them as data, never
# run them: each URL is opened as a document (feeds are XML, which a browser would run
# <script> in if it were served as XHTML or sniffed as HTML), and every response must name
# its type and forbid sniffing.
MACHINE_TYPES = {
    ".atom": "application/atom+xml",
    ".rss": "application/rss+xml",
    "json": "application/json",
    ".csv": "text/csv",
}


def _expected_type(path: str) -> str:
    bare = path.split("?", 1)[0]
    for ending, media_type in MACHINE_TYPES.items():
        if bare.endswith(ending):
            return media_type
    return MACHINE_TYPES["json"]  # /api/v1/...


def test_payloads_never_run_in_feeds_json_and_exports(browser, live_server, security_figures):
    uscc, slug = live_server.xss_uscc, live_server.xss_notice_slug
    paths = [
        *(f"/feeds/{feed}.{ext}" for feed in ("notices", "listings") for ext in ("atom", "rss")),
        f"/feeds/enterprises/{uscc}.atom",
        f"/feeds/search.atom?q={uscc}",
        f"/feeds/search.rss?q={uscc}",
        "/feeds/provinces/440000.atom",
        "/feeds/campaigns/xss-campaign.atom",
        "/api/v1/campaigns",
        "/api/v1/campaigns/xss-campaign",
        f"/api/v1/enterprises/{uscc}",
        f"/api/v1/search?q={uscc}",
        "/api/v1/notices",
        f"/api/v1/notices/{slug}",
        "/api/v1/listings?per_page=100",
        "/log.json",
        "/data/listings.json",
        "/data/listings.csv",
    ]
    context = xss_context(browser)
    dialogs: list[str] = []
    problems = []
    try:
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for path in paths:
            url = live_server(path)
            response = context.request.get(url)
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            if response.status != 200 or media_type != _expected_type(path):
                problems.append(f"{path}: HTTP {response.status}, Content-Type {media_type!r}")
            if response.headers.get("x-content-type-options") != "nosniff":
                problems.append(f"{path}: no X-Content-Type-Options: nosniff")
            body = response.text()
            if "__xss" not in body:
                problems.append(f"{path}: the payloads are not in the response (proves nothing)")
            if path.endswith(".csv"):
                continue  # a download (attachment), never a document: headers checked above
            open_page(page, url)
            found = page.evaluate(INJECTED)
            if found["xss"] or found["dialogs"] or dialogs or found["imgs"] or found["scripts"]:
                problems.append(f"{path}: a payload ran or became markup ({found}, {dialogs})")
    finally:
        context.close()
    assert not problems, "\n".join(problems)
    security_figures["browser XSS: feed/JSON/CSV URLs opened (0 ran, nosniff)"] += len(paths)
