"""Helpers shared by the browser tests: axe-core runs, login through the real form,
saving the rendered HTML for the Nu HTML Checker."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

BLOCKING_IMPACTS = ("serious", "critical")
PHONE = {"width": 375, "height": 812}
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_ATTR = '"><img src=x onerror="window.__xss=1">'


def axe_violations(page) -> list[dict]:
    """axe-core's violations of impact serious or critical on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]


def describe_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        targets = [" ".join(map(str, n.get("target", []))) for n in v.get("nodes", [])[:5]]
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} -> {targets}")
    return "\n".join(lines)


def assert_accessible(page, label: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe on {label}:\n{describe_violations(violations)}"


def open_page(page, url: str, expected_status: int = 200):
    response = page.goto(url, wait_until="load")
    assert response is not None, url
    assert response.status == expected_status, f"{url}: HTTP {response.status}"
    return response


def login(page, live_server, username: str) -> None:
    """Log in through the real form, as a regulator would."""
    open_page(page, live_server("/admin/login"))
    page.fill("#username", username)
    page.fill("#password", live_server.password)
    with page.expect_navigation():
        page.click("form[action$='/admin/login'] button[type=submit]")
    assert page.url.startswith(live_server("/admin")), page.url
    assert "/admin/login" not in page.url, "login failed: " + page.inner_text("main")


def logout(page) -> None:
    with page.expect_navigation():
        page.click("nav.admin form button[type=submit]")


def run_vnu(jar: Path, files: list[Path]) -> list[dict]:
    """The Nu HTML Checker's errors for `files` (the JSON messages of type "error")."""
    completed = subprocess.run(
        [
            "java",
            "-Xss4m",
            "-jar",
            str(jar),
            "--errors-only",
            "--no-langdetect",
            "--format",
            "json",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # vnu writes its JSON report to stderr and exits 1 when it found errors.
    report = completed.stderr.strip() or completed.stdout.strip()
    try:
        messages = json.loads(report)["messages"]
    except (ValueError, KeyError) as exc:
        raise AssertionError(
            f"vnu.jar gave no JSON report (exit {completed.returncode}): {report[:2000]}"
        ) from exc
    return [m for m in messages if m.get("type") == "error" or m.get("subType") == "fatal"]


def describe_vnu(errors: list[dict]) -> str:
    lines = []
    for e in errors:
        name = Path(e.get("url", "?")).name
        lines.append(
            f"{name}:{e.get('lastLine', '?')}: {e.get('message')} [{e.get('extract', '')!r}]"
        )
    return "\n".join(lines)


def sideways_overflow(page) -> int:
    """How many pixels the page is wider than the window (0 when it never scrolls sideways)."""
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def chart_page_problems(browser, live_server, pages: list[tuple[str, int]], size: dict) -> list:
    """For pages of server-drawn SVG charts (path, charts expected) at a window `size`: the
    chart count, axe violations, sideways scrolling and charts wider than the window."""
    context = browser.new_context(locale="zh-CN", viewport=size)
    problems = []
    try:
        page = context.new_page()
        for path, expected_charts in pages:
            open_page(page, live_server(path))
            charts = page.locator("svg.chart")
            if charts.count() != expected_charts:
                problems.append(f"{path}: {charts.count()} charts, expected {expected_charts}")
            violations = axe_violations(page)
            if violations:
                problems.append(f"axe on {path}:\n{describe_violations(violations)}")
            overflow = sideways_overflow(page)
            if overflow > 1:
                problems.append(f"{path}: page is {overflow}px wider than the screen")
            for n in range(charts.count()):
                box = charts.nth(n).bounding_box()
                if box is None or box["width"] > size["width"] or box["height"] < 20:
                    problems.append(f"{path}: chart {n} box {box}")
    finally:
        context.close()
    return problems


def vnu_errors_of(vnu_jar, browser, live_server, paths: list[str], folder: Path) -> list:
    """The Nu HTML Checker's errors on the HTML the server sends for `paths` (each 200)."""
    context = browser.new_context(locale="zh-CN")
    files = []
    try:
        page = context.new_page()
        for n, path in enumerate(paths):
            response = page.goto(live_server(path), wait_until="domcontentloaded")
            assert response is not None and response.status == 200, path
            files.append(folder / f"page-{n}.html")
            files[-1].write_bytes(response.body())
    finally:
        context.close()
    return run_vnu(vnu_jar, files)
