"""The public forms: objection, credit repair, tip-off and tracking, without an account."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from registry.models import Submission

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n"
_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def token(client, url: str) -> str:
    match = _TOKEN.search(client.get(url).get_data(as_text=True))
    assert match, url
    return match.group(1)


def submit(client, url: str, data: dict, **kw):
    return client.post(
        url,
        data=data | {"csrf_token": token(client, url)},
        content_type="multipart/form-data",
        **kw,
    )


def objection_data(**values) -> dict:
    return {
        "name": "深圳市某某网络科技有限公司",
        "capacity": "firm",
        "email": "legal@example.com",
        "phone": "",
        "statement": "处罚决定已被撤销。",
    } | values


@pytest.fixture
def listing(make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    return make.published_listing(clerk, reviewer, "B1")


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(Submission))


def receipt(response) -> tuple[str, str]:
    page = response.get_data(as_text=True)
    number = re.search(r'id="tracking-number">([^<]+)<', page).group(1)
    code = re.search(r'id="access-code">([^<]+)<', page).group(1)
    return number, code


def test_objection_form_files_a_submission_and_shows_number_and_code_once(client, session, listing):
    url = f"/objections/new?listing={listing.id}"
    page = client.get(url)
    assert page.status_code == 200 and listing.enterprise.name in page.get_data(as_text=True)
    response = submit(client, url, objection_data(files=[(io.BytesIO(PDF), "证明.pdf")]))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    number, code = receipt(response)
    stored = session.scalar(select(Submission))
    assert stored.tracking_number == number and len(stored.files) == 1
    assert code.replace("-", "") not in str(stored.access_code_hash)


def test_track_shows_progress_for_the_right_code_and_nothing_for_a_wrong_one(client, listing):
    number, code = receipt(
        submit(client, f"/objections/new?listing={listing.id}", objection_data())
    )
    found = client.post(
        "/track", data={"number": number, "code": code, "csrf_token": token(client, "/track")}
    )
    assert found.status_code == 200 and number in found.get_data(as_text=True)
    wrong = client.post(
        "/track",
        data={
            "number": number,
            "code": "AAAA-BBBB-CCCC-DDDD",
            "csrf_token": token(client, "/track"),
        },
    )
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 404 and 'id="progress"' not in body and "深圳" not in body


def test_repair_form_only_for_repairable_grounds(client, make, listing):
    assert client.get(f"/repairs/new?listing={listing.id}").status_code == 200
    b3 = make.published_listing(make.actor("clerk"), make.actor("reviewer"), "B3")
    assert client.get(f"/repairs/new?listing={b3.id}").status_code == 404
    response = submit(client, f"/repairs/new?listing={listing.id}", objection_data())
    assert receipt(response)[0].startswith("XF")


@pytest.mark.parametrize("raw", ["", "abc", "-1", "99999999", "1e3", str(2**40)])
def test_unknown_or_hidden_listing_is_404(client, raw):
    assert client.get(f"/objections/new?listing={raw}").status_code == 404


def test_draft_listing_cannot_be_objected_to(client, make):
    draft = make.listing(make.actor("clerk"))
    assert client.get(f"/objections/new?listing={draft.id}").status_code == 404


def test_tip_can_be_anonymous(client, session):
    response = submit(
        client,
        "/tips/new",
        {"authority": "440000", "subject_name": "某某公司", "statement": "违规发展用户"},
    )
    assert response.status_code == 200
    assert receipt(response)[0].startswith("JB")
    assert session.scalar(select(Submission)).authority.code == "440000"


def test_honeypot_filled_writes_nothing(client, session, listing):
    response = submit(
        client, f"/objections/new?listing={listing.id}", objection_data(website="http://spam")
    )
    assert response.status_code == 400 and count(session) == 0


def test_missing_csrf_token_writes_nothing(client, session, listing):
    response = client.post(f"/objections/new?listing={listing.id}", data=objection_data())
    assert response.status_code == 400 and count(session) == 0


def test_field_errors_are_shown_at_the_fields(client, session, listing):
    response = submit(
        client,
        f"/objections/new?listing={listing.id}",
        objection_data(email="nope", files=[(io.BytesIO(b"<html>"), "x.pdf")]),
    )
    assert response.status_code == 400 and count(session) == 0
    assert 'aria-invalid="true"' in response.get_data(as_text=True)


def test_rate_limit_answers_429_with_retry_after(app, client, session, listing):
    limit = app.config["SETTINGS"].SUBMISSIONS_PER_ADDRESS
    url = "/tips/new"
    for n in range(limit):
        data = {"authority": "440000", "subject_name": f"公司{n}", "statement": "线索"}
        assert submit(client, url, data).status_code == 200
    refused = submit(
        client, url, {"authority": "440000", "subject_name": "又一家", "statement": "x"}
    )
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert count(session) == limit


def test_firm_page_links_to_objection_and_repair(client, listing):
    page = client.get(f"/enterprises/{listing.enterprise.uscc}").get_data(as_text=True)
    assert f"/objections/new?listing={listing.id}" in page
    assert f"/repairs/new?listing={listing.id}" in page


@pytest.mark.parametrize(
    "url", ["/objections/new?listing={id}", "/repairs/new?listing={id}", "/tips/new", "/track"]
)
@pytest.mark.parametrize("forged", [None, "forged-" + "x" * 40, "other-session"])
def test_public_post_without_its_sessions_csrf_token_is_400_and_writes_nothing(
    app, client, session, listing, url, forged
):
    from tests.test_csrf import snapshot

    url = url.format(id=listing.id)
    data = objection_data() | {"authority": "440000", "subject_name": "某公司"}
    data |= {"number": "YY000000AAAAAA", "code": "x"}
    if forged == "other-session":
        forged = token(app.test_client(), url)
    if forged is not None:
        data["csrf_token"] = forged
    client.get(url)
    before = snapshot(session)
    response = client.post(url, data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert snapshot(session) == before
