"""The back-office queue of public submissions: who sees the submitter, time limits, and
stored text escaped where it is shown."""

from __future__ import annotations

from datetime import timedelta

import pytest

from registry import mail, rules
from registry.services.submissions import Intake, IntakeLimits, file_submission
from tests.factories import login

SCRIPT = "<script>alert(1)</script>"
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n"


@pytest.fixture
def submission(app, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer)
    limits = IntakeLimits("s" * 40, 9, 9, 5, 10**6, app.config["EVIDENCE_DIR"], 3, 15)
    made, _code = file_submission(
        make.session,
        Intake(
            "objection",
            name=f"申请人{SCRIPT}",
            capacity="firm",
            email="secret-person@example.com",
            statement=f"理由{SCRIPT}",
            files=[("证明.pdf", PDF)],
        ),
        authority=listing.authority,
        listing=listing,
        address="192.0.2.7",
        limits=limits,
    )
    return made


def page_as(app, make, role, authority, url):
    client = app.test_client()
    assert login(client, make.user(role, authority)).status_code == 302
    return client.get(url)


def test_handling_authority_sees_the_submitter_escaped(app, make, submission):
    response = page_as(app, make, "clerk", "440000", f"/admin/submissions/{submission.id}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "secret-person@example.com" in body
    assert SCRIPT not in body and "&lt;script&gt;" in body


def test_ministry_reads_the_case_but_not_who_submitted_it(app, make, submission):
    response = page_as(app, make, "reviewer", "MIIT", f"/admin/submissions/{submission.id}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and submission.tracking_number in body
    assert "secret-person@example.com" not in body and "申请人&lt;" not in body


def test_other_bureau_cannot_see_the_case(app, make, submission):
    response = page_as(app, make, "clerk", "110000", f"/admin/submissions/{submission.id}")
    assert response.status_code == 404


def test_queue_lists_open_cases_of_the_authority_and_flags_overdue_ones(
    app, make, session, submission
):
    submission.accept_due = rules.today() - timedelta(days=1)
    session.flush()
    body = page_as(app, make, "clerk", "440000", "/admin/submissions").get_data(as_text=True)
    assert submission.tracking_number in body and "已超期" in body
    other = page_as(app, make, "clerk", "110000", "/admin/submissions").get_data(as_text=True)
    assert submission.tracking_number not in other


def test_tip_offs_never_reach_public_pages(app, make, client):
    limits = IntakeLimits("s" * 40, 9, 9, 5, 10**6, app.config["EVIDENCE_DIR"], 3, 15)
    file_submission(
        make.session,
        Intake("tip", subject_name="举报对象独特名称甲乙丙", statement="线索内容独特词"),
        authority=make.authority("440000"),
        listing=None,
        address="192.0.2.8",
        limits=limits,
    )
    make.session.flush()
    found = client.get("/api/v1/search", query_string={"q": "举报对象独特名称甲乙丙"}).get_json()
    assert found["total"] == 0
    for url in ("/feeds/listings.atom", "/log.json", "/", "/data/listings.csv"):
        body = client.get(url).get_data(as_text=True)
        assert "举报对象独特名称甲乙丙" not in body and "线索内容独特词" not in body


def test_mail_given_up_shows_in_healthz_the_queue_and_the_case(app, make, submission):
    [ack] = mail.mails_about(make.session, [f"submission:{submission.id}"])
    before = app.test_client().get("/healthz").get_json()["mail"]
    ack.state, ack.attempts, ack.last_error = "failed", 20, f"SMTPDataError: {SCRIPT}"
    make.session.flush()
    health = app.test_client().get("/healthz")
    assert health.status_code == 200 and health.get_json()["status"] == "ok"
    after = health.get_json()["mail"]
    assert after == {"pending": before["pending"] - 1, "failed": before["failed"] + 1}

    queue = page_as(app, make, "clerk", "440000", "/admin/submissions?state=decided")
    assert submission.tracking_number in queue.get_data(as_text=True)  # not in this view's list
    assert "邮件发送失败" in queue.get_data(as_text=True)
    other = page_as(app, make, "clerk", "110000", "/admin/submissions").get_data(as_text=True)
    assert submission.tracking_number not in other and "邮件发送失败" not in other

    case = page_as(app, make, "clerk", "440000", f"/admin/submissions/{submission.id}")
    body = case.get_data(as_text=True)
    assert "发送失败" in body and "SMTPDataError: &lt;script&gt;" in body and SCRIPT not in body
    ministry = page_as(app, make, "reviewer", "MIIT", f"/admin/submissions/{submission.id}")
    assert "SMTPDataError" not in ministry.get_data(as_text=True)


def test_attachment_downloads_for_the_handling_authority_only(app, make, submission):
    url = f"/admin/submission-files/{submission.files[0].id}"
    download = page_as(app, make, "clerk", "440000", url)
    assert download.status_code == 200 and download.data == PDF
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "%E8%AF%81%E6%98%8E.pdf" in download.headers["Content-Disposition"]  # 证明.pdf
    assert page_as(app, make, "reviewer", "MIIT", url).status_code == 404
