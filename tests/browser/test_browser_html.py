"""HTML validity: the HTML the server sends for every public page and every
back-office page is checked by the Nu HTML Checker (vnu.jar, the W3C validator): 0 errors."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.browser.support import (
    PHONE,
    axe_violations,
    describe_violations,
    describe_vnu,
    login,
    run_vnu,
    sideways_overflow,
)

pytestmark = pytest.mark.browser


def public_paths(live_server) -> list[str]:
    return [
        "/",
        "/search?q=" + quote("网络"),
        "/search?q=" + quote("有限公司") + "&list=bad&page=2",
        "/search?q=" + quote("不存在的名字"),
        f"/enterprises/{live_server.firm_uscc}",
        f"/enterprises/{live_server.xss_uscc}",
        "/lists/bad",
        "/lists/dishonest",
        "/notices",
        f"/notices/{live_server.notice_slug}",
        f"/notices/{live_server.xss_notice_slug}",
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
        "/watchlists/new",
        "/enterprises/91440300MA5XXX0000",  # the 404 page
    ]


def admin_paths(live_server) -> list[str]:
    ids = live_server.xss_ids
    return [
        "/admin/",
        "/admin/enterprises",
        "/admin/enterprises/new",
        f"/admin/enterprises/{ids['enterprise']}",
        f"/admin/enterprises/{ids['enterprise']}/edit",
        f"/admin/enterprises/{ids['enterprise']}/sanctions/new",
        f"/admin/enterprises/{ids['enterprise']}/listings/new",
        f"/admin/sanctions/{ids['sanction']}",
        f"/admin/listings/{ids['listing']}",
        f"/admin/listings/{ids['listing']}/petitions/new",
        "/admin/notices",
        "/admin/notices/new",
        f"/admin/notices/{ids['notice']}",
    ]


# Back-office pages the flow test (test_browser_admin_flow) does not pass through: axe-checked here.
AXE_ONLY_HERE = ("/edit", "/petitions/new", "/admin/notices")


def save(page, url: str, target, expected=(200,)) -> None:
    response = page.goto(url, wait_until="domcontentloaded")
    assert response is not None and response.status in expected, f"{url}: {response.status}"
    assert response.headers["content-type"].startswith("text/html"), url
    target.write_bytes(response.body())


def test_pages_are_valid_html(vnu_jar, browser, live_server, tmp_path):
    context = browser.new_context(locale="zh-CN")
    files = []
    axe_problems: list[str] = []
    try:
        page = context.new_page()
        for n, path in enumerate(public_paths(live_server)):
            files.append(tmp_path / f"public-{n:02d}.html")
            save(page, live_server(path), files[-1], (404,) if path.endswith("0000") else (200,))
        files.append(tmp_path / "admin-login.html")
        save(page, live_server("/admin/login"), files[-1])
        login(page, live_server, live_server.clerk)
        for n, path in enumerate(admin_paths(live_server)):
            files.append(tmp_path / f"admin-{n:02d}.html")
            save(page, live_server(path), files[-1])
            if any(part in path for part in AXE_ONLY_HERE):
                violations = axe_violations(page)
                if violations:
                    axe_problems.append(f"axe on {path}:\n{describe_violations(violations)}")
    finally:
        context.close()
    names = {
        f.name: path
        for f, path in zip(
            files,
            [*public_paths(live_server), "/admin/login", *admin_paths(live_server)],
            strict=True,
        )
    }
    errors = run_vnu(vnu_jar, files)
    report = "\n".join(
        f"{names.get(line.split(':', 1)[0], '?')} {line}"
        for line in describe_vnu(errors).splitlines()
    )
    assert not errors, f"{len(errors)} HTML errors:\n{report}"
    assert not axe_problems, "\n".join(axe_problems)


def back_office_pages(live_server) -> list[str]:
    """Every kind of back-office page a clerk opens: the records, their forms, the registers,
    the catalogues, imports and the public submissions' queue."""
    return [
        *admin_paths(live_server),
        "/admin/listings",
        "/admin/sanctions",
        "/admin/petitions",
        "/admin/imports",
        "/admin/import",
        "/admin/notices/draft",
        "/admin/submissions",
        "/admin/grounds",
        "/admin/campaigns",
        "/admin/repair-rules",
    ]


def test_back_office_pages_fit_a_phone_without_sideways_scrolling(browser, live_server):
    """At 375 px the page itself never scrolls sideways: wide tables scroll inside their box."""
    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    too_wide = []
    try:
        page = context.new_page()
        login(page, live_server, live_server.clerk)
        for path in back_office_pages(live_server):
            response = page.goto(live_server(path), wait_until="load")  # styles applied
            assert response is not None and response.status == 200, f"{path}: {response.status}"
            overflow = sideways_overflow(page)
            if overflow > 1:
                too_wide.append(f"{path}: {overflow}px wider than the screen")
    finally:
        context.close()
    assert not too_wide, "\n".join(too_wide)
