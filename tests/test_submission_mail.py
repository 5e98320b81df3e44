"""End to end with a real SMTP server on localhost (aiosmtpd, started by the test): a firm
objects and is mailed its tracking number; a clerk accepts and proposes, a reviewer
upholds, and the annulment reaches search, the feed and the log, /track and the mailbox;
a mail server that is down neither fails nor slows a submission, and the mail goes out
once it is back."""

from __future__ import annotations

import re
import socket
import time
from datetime import timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from registry.db import utcnow
from registry.models import OutboxMail, Submission
from tests.conftest import app_in_transaction
from tests.factories import login, post

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def smtp(port):
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox
    controller.stop()


@pytest.fixture
def mail_app(database_url, session_factory, tmp_path, port):
    return app_in_transaction(
        database_url,
        session_factory,
        tmp_path,
        MAIL_HOST="127.0.0.1",
        MAIL_PORT=port,
        MAIL_FROM="registry@example.org",
        MAIL_TIMEOUT=2,
    )


def deliver(app) -> None:
    from registry.web.indexing import followers

    assert followers(app)["mail"].run_once(foreground=True)


def object_to(client, listing) -> tuple[str, str]:
    url = f"/objections/new?listing={listing.id}"
    token = _TOKEN.search(client.get(url).get_data(as_text=True)).group(1)
    started = time.monotonic()
    response = client.post(
        url,
        data={
            "csrf_token": token,
            "name": "深圳市某某网络科技有限公司",
            "capacity": "firm",
            "email": "legal@example.com",
            "statement": "处罚决定已被行政复议撤销。",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert time.monotonic() - started < 2.0  # no mail server is contacted in the request
    page = response.get_data(as_text=True)
    number = re.search(r'id="tracking-number">([^<]+)<', page).group(1)
    code = re.search(r'id="access-code">([^<]+)<', page).group(1)
    return number, code


@pytest.fixture
def people(make):
    return {"clerk": make.user("clerk"), "reviewer": make.user("reviewer")}


@pytest.fixture
def listing(make, people):
    from registry.services.accounts import actor_for

    other_clerk, reviewer = make.actor("clerk"), actor_for(people["reviewer"])
    return make.published_listing(other_clerk, reviewer, "B3")


def test_objection_upheld_end_to_end_with_mail(mail_app, smtp, session, people, listing):
    public = mail_app.test_client()
    number, code = object_to(public, listing)
    deliver(mail_app)
    [ack] = smtp.messages
    assert number in ack["Subject"] and number in ack.get_content()
    assert code not in ack.get_content() and ack["To"] == "legal@example.com"

    submission = session.scalar(select(Submission).where(Submission.tracking_number == number))
    clerk, reviewer = mail_app.test_client(), mail_app.test_client()
    login(clerk, people["clerk"]), login(reviewer, people["reviewer"])
    base = f"/admin/submissions/{submission.id}"

    def version() -> dict:
        session.refresh(submission)
        return {"version_id": submission.version_id}

    assert post(clerk, f"{base}/accept", version()).status_code == 302
    proposal = version() | {"outcome": "upheld", "effect": "annul"}
    proposal["reason"] = "处罚决定已被撤销，列入错误"
    assert post(clerk, f"{base}/propose", proposal).status_code == 302
    assert post(clerk, f"{base}/confirm", version()).status_code == 403
    assert post(reviewer, f"{base}/confirm", version()).status_code == 302
    session.refresh(listing)
    assert listing.state == "annulled"

    found = public.get("/api/v1/search", query_string={"q": listing.enterprise.uscc}).get_json()
    assert all(not r["listings"] for r in found["results"])
    feed = public.get("/feeds/listings.atom").get_data(as_text=True)
    assert listing.enterprise.name in feed and "撤销" in feed
    log = public.get("/log.json").get_json()["entries"]
    assert any(e["action"] == "annul" and e["id"] == listing.id for e in log)

    track = public.post(
        "/track",
        data={
            "number": number,
            "code": code,
            "csrf_token": _TOKEN.search(public.get("/track").get_data(as_text=True)).group(1),
        },
    ).get_data(as_text=True)
    assert "已办结" in track and "处罚决定已被撤销，列入错误" in track

    deliver(mail_app)
    decision = smtp.messages[-1]
    assert len(smtp.messages) == 2 and number in decision["Subject"]
    assert "成立" in decision.get_content() and "列入错误" in decision.get_content()


def test_mail_server_down_during_submission_delivers_after_it_returns(
    mail_app, session, session_factory, listing, port
):
    public = mail_app.test_client()
    number, _code = object_to(public, listing)  # nothing listens on the port
    deliver(mail_app)  # the follower's step itself succeeds: the failure is the mail's
    mail = session.scalar(select(OutboxMail))
    assert mail.state == "pending" and mail.attempts == 1 and mail.last_error
    assert mail.next_attempt_at > utcnow()

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        deliver(mail_app)  # too early: the backoff holds it
        assert mailbox.messages == []
        from registry import mail as mailer

        settings = mailer.SmtpSettings.from_settings(mail_app.config["SETTINGS"])
        with session_factory() as sender:  # what the follower runs, five minutes later
            mailer.deliver_due(sender, settings, now=utcnow() + timedelta(minutes=5))
    finally:
        controller.stop()
    [message] = mailbox.messages
    assert number in message["Subject"]
    session.refresh(mail)
    assert mail.state == "sent" and mail.sent_at is not None


def test_backoff_grows_and_is_capped():
    from registry.mail import MAX_BACKOFF_SECONDS, backoff

    pauses = [backoff(n).total_seconds() for n in range(1, 12)]
    assert pauses[:3] == [30, 60, 120]
    assert pauses == sorted(pauses) and pauses[-1] == MAX_BACKOFF_SECONDS
