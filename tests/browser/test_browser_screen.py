"""Screening in a real browser: a 200-row file uploaded through the form gives a streamed
page whose progress shows its latest step only, then a report with one line per row, the
listed firms flagged; the report downloads as CSV and is saved as a watchlist without
uploading the file again; the form, the report and the saved watchlist are axe-clean and
valid HTML (Nu HTML Checker)."""

from __future__ import annotations

import csv
import io
import json
import urllib.request

import pytest

from tests.browser.support import assert_accessible, describe_vnu, open_page, run_vnu

pytestmark = pytest.mark.browser


def _listed_names(live_server) -> list[str]:
    with urllib.request.urlopen(live_server("/api/v1/listings?per_page=100"), timeout=30) as r:
        rows = json.load(r)["results"]
    return sorted({row["name"] for row in rows if "<" not in row["name"]})


def _file(listed: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["经营者名称", "统一社会信用代码"])
    for i in range(200):
        if i % 4 == 0:  # a listed firm, in traditional characters with full-width brackets
            name = listed[i % len(listed)].replace("网络", "網絡").replace("(", "（")
        else:
            name = f"无关{i:03d}商贸有限公司"
        writer.writerow([name, ""])
    return buffer.getvalue().encode("utf-8")


def test_screening_a_200_row_file_in_the_browser(page, live_server, vnu_jar, tmp_path):
    listed = _listed_names(live_server)
    assert listed, "the demo data has no listed firm"
    open_page(page, live_server("/screen"))
    assert_accessible(page, "/screen")
    path = tmp_path / "counterparties.csv"
    path.write_bytes(_file(listed))
    page.set_input_files("#screen-file", str(path))
    with page.expect_navigation():
        page.click("form button[type=submit]")
    rows = page.locator("section table tbody tr")
    assert rows.count() == 200
    flagged = page.locator("section table tbody tr td strong")
    assert flagged.count() >= 40  # each of the 50 listed names, save the odd near namesake
    status = page.locator("[role=status][aria-live=polite]")
    steps = status.locator("progress")
    assert [steps.nth(i).get_attribute("value") for i in range(steps.count())] == [
        "0",
        "200",
        "200",
    ]
    assert not steps.first.is_visible() and steps.last.is_visible()
    assert status.inner_text().strip() == "已筛查 200 / 200 行"
    shown = page.get_by_role("progressbar", name="已筛查 200 / 200 行", exact=True)
    assert shown.count() == 1 and shown.is_visible()  # the bar is named by its step's text
    assert_accessible(page, "/screen report")
    with page.expect_download() as download:
        page.click("form[action$='/screen/download'] button[value=csv]")
    lines = list(csv.reader(io.StringIO(download.value.path().read_text("utf-8-sig"))))
    assert len(lines) == 201 and sum(line[3] == "yes" for line in lines) == flagged.count()
    report = tmp_path / "report.html"
    report.write_text(page.content())
    form = tmp_path / "form.html"
    response = page.goto(live_server("/screen"))
    form.write_bytes(response.body())
    errors = run_vnu(vnu_jar, [form, report])
    assert not errors, describe_vnu(errors)


def test_a_screened_200_row_file_is_saved_as_a_watchlist(page, live_server, vnu_jar, tmp_path):
    listed = _listed_names(live_server)
    open_page(page, live_server("/screen"))
    path = tmp_path / "counterparties.csv"
    path.write_bytes(_file(listed))
    page.set_input_files("#screen-file", str(path))
    with page.expect_navigation():
        page.click("#screen-file >> xpath=ancestor::form//button[@type='submit']")
    assert page.locator("section table tbody tr").count() == 200
    flagged = page.locator("section table tbody tr td strong").count()
    assert page.is_checked("input[name=scope][value=matched]")
    assert_accessible(page, "/screen report with the save form")
    report = tmp_path / "report.html"
    report.write_text(page.content())
    # A public address written as an IP: the SSRF check passes without asking DNS.
    page.fill("#watch-url", "https://93.184.216.34/hook")
    page.fill("#watch-secret", "secret-of-the-browser-test")
    with page.expect_navigation():
        page.click("#save-watchlist")
    assert "/watchlists/" in page.url
    watched = int(page.locator("dl dd").nth(2).inner_text())
    assert 0 < watched <= flagged  # the matched rows' firms, repeats dropped
    assert_accessible(page, "the saved watchlist")
    saved = tmp_path / "watchlist.html"
    saved.write_text(page.content())
    errors = run_vnu(vnu_jar, [report, saved])
    assert not errors, describe_vnu(errors)
