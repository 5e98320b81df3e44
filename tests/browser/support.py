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
