"""Watchlist mail end to end with a real SMTP server on localhost (aiosmtpd): the
confirmation, an immediate alert and the daily digest each reach the mailbox with the
page's address that manages or unsubscribes without login; the digest waits for its
Asia/Shanghai day to end and for the fan-out, and goes out once per subscriber per day."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.db import utcnow
from registry.errors import ValidationError
from registry.models import OutboxMail, WatchDelivery
from registry.services import listings
from registry.services import watchlists as service
from registry.watchlists import digest, fanout
from tests.test_submission_mail import deliver, mail_app, port, smtp  # noqa: F401 - fixtures

BASE = "https://registry.example.cn"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_LINK = re.compile(re.escape(BASE) + r"/watchlists/([\w-]+)")


@pytest.fixture
def app_with_base(mail_app):  # noqa: F811 - the imported fixture
    import dataclasses

    settings = mail_app.config["SETTINGS"]
    mail_app.config["SETTINGS"] = dataclasses.replace(settings, BASE_URL=BASE)
    return mail_app


def _token(client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200
    return _TOKEN.search(page.get_data(as_text=True)).group(1)


def _subscribe(client, address: str, firms: str, mode: str) -> None:
    form = {"email": address, "firms": firms, "mail_mode": mode}
    form["csrf_token"] = _token(client, "/watchlists/new")
    assert client.post("/watchlists/new", data=form).status_code == 200


def _mails_to(mailbox, address: str) -> list:
    return [m for m in mailbox.messages if m["To"] == address]


def _follow_watchlist(app) -> None:
    from registry.web.indexing import followers

    assert followers(app)["watchlist"].run_once(foreground=True)


def _confirm_from(client, message) -> str:
    """Open the mailed link without login and confirm there; the page's token."""
    token = _LINK.search(message.get_content()).group(1)
    page = f"/watchlists/{token}"
    answer = client.post(page, data={"csrf_token": _token(client, page), "action": "confirm"})
    assert answer.status_code == 303
    return token


def test_confirmation_immediate_alert_and_daily_digest_reach_the_smtp_server(
    app_with_base,
    smtp,  # noqa: F811 - the imported fixture
    session,
    session_factory,
    make,
):
    app, client = app_with_base, app_with_base.test_client()
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    firm = make.enterprise(clerk, name="深圳市邮件摘要网络科技有限公司")
    session.commit()
    now_mail, daily = "now@carrier.example.cn", "daily@carrier.example.cn"
    _subscribe(client, now_mail, firm.uscc, "immediate")
    _subscribe(client, daily, firm.uscc, "daily")
    deliver(app)
    [now_confirmation], [daily_confirmation] = _mails_to(smtp, now_mail), _mails_to(smtp, daily)
    _confirm_from(client, now_confirmation)
    daily_token = _confirm_from(client, daily_confirmation)

    listing = make.published_listing(clerk, reviewer, enterprise=firm)
    listings.remove_listing(session, reviewer, listing, "已纠正")
    session.commit()
    _follow_watchlist(app)
    deliver(app)
    alerts = _mails_to(smtp, now_mail)[1:]
    assert len(alerts) == 2 and all(firm.name in m["Subject"] for m in alerts)
    assert all(_LINK.search(m.get_content()) for m in alerts)
    assert _mails_to(smtp, daily) == [daily_confirmation]  # the day is not over yet

    tomorrow = utcnow() + timedelta(days=1)
    with session_factory() as follower:  # what the follower runs once the day is over
        digest.send_digests(follower, BASE, now=tomorrow)
        digest.send_digests(follower, BASE, now=tomorrow)  # a second pass sends nothing
    deliver(app)
    [summary] = _mails_to(smtp, daily)[1:]
    text = summary.get_content()
    assert firm.uscc in text and "列入" in text and "移出" in text and "removed" in text
    assert _LINK.search(text).group(1) == daily_token
    assert len(_mails_to(smtp, now_mail)) == 3  # the immediate subscriber gets no digest

    page = f"/watchlists/{daily_token}"  # the digest's link unsubscribes without login
    form = {"csrf_token": _token(client, page), "action": "unsubscribe"}
    assert client.post(page, data=form).status_code == 303
    assert service.by_token(session, daily_token).state == "unsubscribed"


def _daily_subscriber(session, address: str, firms: str):
    subscriber = service.subscribe_email(session, address, firms, lambda t: t, "daily")
    service.confirm(session, subscriber)
    return subscriber


def _digests(session, address: str) -> list[OutboxMail]:
    query = select(OutboxMail).where(OutboxMail.recipient == address).order_by(OutboxMail.id)
    return list(session.scalars(query))[1:]  # after the confirmation


def test_the_digest_waits_until_the_days_changes_were_fanned_out(session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    firm = make.enterprise(clerk)
    address = "waits@carrier.example.cn"
    _daily_subscriber(session, address, firm.uscc)
    make.published_listing(clerk, reviewer, enterprise=firm)
    session.commit()
    tomorrow = utcnow() + timedelta(days=1)

    digest.send_digests(session, BASE, now=tomorrow)
    assert _digests(session, address) == []  # the change is not fanned out yet
    fanout.fan_out(session, base_url=BASE)
    assert _digests(session, address) == []  # a daily subscriber gets no immediate alert
    digest.send_digests(session, BASE, now=tomorrow)
    [mail] = _digests(session, address)
    assert firm.uscc in mail.body and "：1 " in mail.subject
    states = session.scalars(select(WatchDelivery.state)).all()
    assert states == ["delivered"]


def test_a_second_process_with_a_stale_view_does_not_send_the_days_digest_again(session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    firm = make.enterprise(clerk)
    address = "once@carrier.example.cn"
    subscriber = _daily_subscriber(session, address, firm.uscc)
    make.published_listing(clerk, reviewer, enterprise=firm)
    session.commit()
    fanout.fan_out(session, base_url=BASE)
    tomorrow = utcnow() + timedelta(days=1)
    day, end = digest.digest_day(tomorrow), digest.day_end(digest.digest_day(tomorrow))

    # Both processes saw the subscriber due; the first one's claim wins.
    assert digest._send_one(session, subscriber.id, day.isoformat(), end, BASE) is True
    assert digest._send_one(session, subscriber.id, day.isoformat(), end, BASE) is False
    digest.send_digests(session, BASE, now=tomorrow)
    assert len(_digests(session, address)) == 1
    session.refresh(subscriber)
    assert subscriber.digest_day == day.isoformat()

    # The next day's change goes into the next day's digest, not a repeat of this one.
    make.published_listing(clerk, reviewer, enterprise=firm)
    session.commit()
    fanout.fan_out(session, base_url=BASE)
    digest.send_digests(session, BASE, now=tomorrow)
    assert len(_digests(session, address)) == 1
    digest.send_digests(session, BASE, now=tomorrow + timedelta(days=1))
    assert len(_digests(session, address)) == 2


def test_the_mail_mode_is_chosen_on_the_page_and_a_bad_one_is_refused(app, client, session):
    subscriber = service.subscribe_email(session, "mode@carrier.example.cn", "甲公司", str)
    session.commit()
    page = f"/watchlists/{subscriber.token}"
    assert "每日汇总" in client.get(page).get_data(as_text=True)
    form = {"csrf_token": _token(client, page), "action": "mail_mode", "mail_mode": "weekly"}
    assert client.post(page, data=form).status_code == 400
    form["mail_mode"] = "daily"
    assert client.post(page, data=form).status_code == 303
    session.refresh(subscriber)
    assert subscriber.mail_mode == "daily"
    with pytest.raises(ValidationError):
        service.subscribe_email(session, "x@carrier.example.cn", "甲公司", str, "hourly")
