"""Watchlists: a webhook subscriber watching firms gets one signed delivery per public change
of a watched firm's listing, in order, after failures too; SSRF targets are refused; the
pages work without login and refuse forged or hostile requests."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import timedelta
from email.message import Message

import pytest
from sqlalchemy import func, select

from registry import claims
from registry.db import utcnow
from registry.errors import ValidationError
from registry.models import LogEntry, SequenceCounter, WatchDelivery, WatchedFirm, WatchSubscriber
from registry.services import listings
from registry.services import watchlists as service
from registry.watchlists import dispatch, fanout, webhook
from registry.web.watchlists import follow
from tests.receiver import LocalReceiver

LOCAL = ["127.0.0.1"]
SECRET_A = "secret-of-subscriber-a"
SECRET_B = "secret-of-subscriber-b"


class Receiver(LocalReceiver):
    """A webhook endpoint that answers `failures` 500s, then 200s."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        super().__init__()

    def answer(self, path: str, headers: Message, body: bytes) -> int:
        self.requests.append((path, dict(headers), body))
        failing = self.failures > 0
        self.failures -= 1
        return 500 if failing else 200

    def received(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for p, headers, body in self.requests if p == path]


@pytest.fixture
def receiver():
    made = []

    def start(failures: int = 0) -> Receiver:
        made.append(Receiver(failures))
        return made[-1]

    yield start
    for r in made:
        r.close()


@pytest.fixture
def staff(make):
    return make.actor("clerk"), make.actor("reviewer")


def _subscribe(session, url: str, secret: str, firms: str) -> WatchSubscriber:
    return service.subscribe(session, url, secret, firms, LOCAL)


def _events(pairs: list[tuple[dict[str, str], bytes]], secret: str) -> list[dict]:
    events = []
    for headers, body in pairs:
        assert webhook.verify(secret, body, headers[webhook.SIGNATURE_HEADER])
        assert not webhook.verify(
            "another-secret-entirely", body, headers[webhook.SIGNATURE_HEADER]
        )
        events.append(json.loads(body) | {"key": headers[webhook.IDEMPOTENCY_HEADER]})
    return events


def test_each_subscriber_gets_one_signed_delivery_per_change_of_a_watched_firm(
    session, make, staff, receiver
):
    clerk, reviewer = staff
    hook = receiver()
    firm = make.enterprise(clerk, name="深圳市关注测试网络科技有限公司")
    other = make.enterprise(clerk)
    _subscribe(session, hook.url("/a"), SECRET_A, f"{firm.uscc}\n")
    # by name, written in traditional characters with full-width brackets dropped
    _subscribe(session, hook.url("/b"), SECRET_B, "深圳市關注測試網絡科技有限公司")
    _subscribe(session, hook.url("/c"), SECRET_B, other.uscc)
    listing = make.listing(clerk, enterprise=firm)
    listings.submit_listing(session, clerk, listing)
    listings.publish_listing(session, reviewer, listing)
    listings.remove_listing(session, reviewer, listing, "已纠正")
    session.commit()

    assert follow(session, LOCAL) is True
    assert follow(session, LOCAL) is True  # a second pass sends nothing again

    for path, secret in (("/a", SECRET_A), ("/b", SECRET_B)):
        events = _events(hook.received(path), secret)
        assert [e["event"] for e in events] == ["listing.publish", "listing.remove"], path
        assert {e["listing"]["uscc"] for e in events} == {firm.uscc}
        assert len({e["key"] for e in events}) == 2
    assert hook.received("/c") == []
    delivered = session.scalars(select(WatchDelivery.state)).all()
    assert sorted(delivered) == ["delivered"] * 4


def test_a_receiver_that_fails_twice_gets_every_change_in_order(session, make, staff, receiver):
    clerk, reviewer = staff
    hook = receiver(failures=2)
    listing = make.published_listing(clerk, reviewer)
    subscriber = _subscribe(session, hook.url("/hook"), SECRET_A, listing.enterprise.uscc)
    session.commit()
    listings.remove_listing(session, reviewer, listing, "已纠正")
    second = make.published_listing(clerk, reviewer, enterprise=listing.enterprise)
    session.commit()
    assert second.id != listing.id

    now = utcnow()
    fanout.fan_out(session)
    for step in range(4):
        dispatch.deliver_due(session, LOCAL, now=now + timedelta(hours=step * 7))

    received = hook.received("/hook")
    events = _events(received, SECRET_A)
    # two failed attempts at the first change, then it and the next, in order, once each
    assert [e["event"] for e in events] == ["listing.remove"] * 3 + ["listing.publish"]
    assert events[0]["key"] == events[1]["key"] == events[2]["key"] != events[3]["key"]
    log = session.scalars(
        select(WatchDelivery)
        .where(WatchDelivery.subscriber_id == subscriber.id)
        .order_by(WatchDelivery.id)
    ).all()
    assert [(d.state, d.attempts) for d in log] == [("delivered", 3), ("delivered", 1)]
    assert subscriber.failures == 0


def test_a_later_change_waits_while_the_earlier_one_is_retried(session, make, staff, receiver):
    clerk, reviewer = staff
    hook = receiver(failures=1)
    firm = make.enterprise(clerk)
    _subscribe(session, hook.url("/hook"), SECRET_A, firm.uscc)
    make.published_listing(clerk, reviewer, enterprise=firm)
    make.published_listing(clerk, reviewer, enterprise=firm)
    session.commit()
    follow(session, LOCAL)
    assert len(hook.received("/hook")) == 1  # the first failed; the second was not tried
    states = session.scalars(select(WatchDelivery.state).order_by(WatchDelivery.id)).all()
    assert states == ["pending", "pending"]


def test_fan_out_resumes_from_its_cursor_without_writing_a_delivery_twice(
    session, make, staff, receiver
):
    clerk, reviewer = staff
    firm = make.enterprise(clerk)
    _subscribe(session, receiver().url("/hook"), SECRET_A, firm.uscc)
    for _ in range(3):
        make.published_listing(clerk, reviewer, enterprise=firm)
    session.commit()
    assert fanout.fan_out(session, limit=2) is False  # stopped half way, as a crash would
    assert session.scalar(select(func.count()).select_from(WatchDelivery)) == 2
    assert fanout.fan_out(session, limit=2) is True
    assert fanout.fan_out(session) is True
    numbers = session.scalars(select(WatchDelivery.log_number).order_by(WatchDelivery.id)).all()
    assert len(numbers) == 3 and numbers == sorted(numbers)
    cursor = session.get(SequenceCounter, fanout.CURSOR)
    assert cursor is not None and cursor.value == numbers[-1]


def test_fan_out_skips_to_the_log_head_when_nobody_subscribed_before_it(
    session, make, staff, receiver
):
    clerk, reviewer = staff
    firm = make.enterprise(clerk)
    for _ in range(3):
        make.published_listing(clerk, reviewer, enterprise=firm)
    session.commit()
    head = session.scalar(select(func.max(LogEntry.number)))
    assert fanout.fan_out(session, limit=1) is True  # one step, though the batch is 1
    cursor = session.get(SequenceCounter, fanout.CURSOR)
    assert cursor is not None and cursor.value == head
    assert session.scalar(select(func.count()).select_from(WatchDelivery)) == 0
    # a subscriber of now hears of the next change, and the walk is entry by entry again
    _subscribe(session, receiver().url("/hook"), SECRET_A, firm.uscc)
    make.published_listing(clerk, reviewer, enterprise=firm)
    make.published_listing(clerk, reviewer, enterprise=firm)
    session.commit()
    assert fanout.fan_out(session, limit=1) is False
    assert fanout.fan_out(session, limit=1) is False
    assert fanout.fan_out(session) is True
    assert session.scalar(select(func.count()).select_from(WatchDelivery)) == 2


def test_a_subscriber_is_disabled_after_repeated_failures_and_can_resume(
    session, make, staff, receiver
):
    clerk, reviewer = staff
    hook = receiver(failures=10_000)
    firm = make.enterprise(clerk)
    subscriber = _subscribe(session, hook.url("/hook"), SECRET_A, firm.uscc)
    make.published_listing(clerk, reviewer, enterprise=firm)
    session.commit()
    fanout.fan_out(session)
    now = utcnow()
    for step in range(dispatch.DISABLE_AFTER + 3):
        dispatch.deliver_due(session, LOCAL, now=now + timedelta(days=step))
    assert subscriber.state == "disabled"
    delivery = session.scalars(select(WatchDelivery)).one()
    assert delivery.state == "pending" and delivery.attempts == dispatch.DISABLE_AFTER
    assert len(hook.received("/hook")) == dispatch.DISABLE_AFTER  # none while disabled
    hook.failures = 0
    service.resume(session, subscriber)
    session.commit()
    dispatch.deliver_due(session, LOCAL, now=now + timedelta(days=60))
    assert (
        delivery.state == "delivered" and len(hook.received("/hook")) == dispatch.DISABLE_AFTER + 1
    )
    assert subscriber.state == "active" and subscriber.failures == 0


def test_unsubscribed_and_disabled_subscribers_get_no_new_deliveries(session, make, staff):
    clerk, reviewer = staff
    firm = make.enterprise(clerk)
    gone = _subscribe(session, "http://127.0.0.1:9/gone", SECRET_A, firm.uscc)
    paused = _subscribe(session, "http://127.0.0.1:9/paused", SECRET_A, firm.uscc)
    service.unsubscribe(session, gone)
    paused.state = "disabled"
    make.published_listing(clerk, reviewer, enterprise=firm)
    session.commit()
    fanout.fan_out(session)
    assert session.scalar(select(func.count()).select_from(WatchDelivery)) == 0


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "192.168.0.1", "[::1]"]
)
def test_webhook_urls_aimed_at_local_addresses_are_refused_without_the_allowance(session, address):
    with pytest.raises(ValidationError) as refused:
        service.subscribe(session, f"http://{address}:8080/hook", SECRET_A, "91440300MA5F000000")
    assert "url" in refused.value.errors
    with pytest.raises(dispatch.DeliveryFailed):
        dispatch.post(f"http://{address}:8080/hook", b"{}", {}, [])


def test_a_name_resolving_to_a_private_address_is_refused(session):
    def resolve(host: str, port: int) -> list[str]:
        return ["10.0.0.7"]

    with pytest.raises(ValidationError):
        service.subscribe(
            session, "https://hooks.example.com/x", SECRET_A, "某某公司", resolve=resolve
        )
    allowed = service.subscribe(
        session,
        "https://hooks.example.com/x",
        SECRET_A,
        "某某公司",
        allowed_hosts=["hooks.example.com"],
        resolve=resolve,
    )
    assert allowed.url == "https://hooks.example.com/x"


@pytest.mark.parametrize(
    ("field", "url", "secret", "firms"),
    [
        ("url", "javascript:alert(1)", SECRET_A, "某某公司"),
        ("url", "http://user:pw@127.0.0.1/x", SECRET_A, "某某公司"),
        ("url", "http://" + "a" * 3000, SECRET_A, "某某公司"),
        ("secret", "http://127.0.0.1:9/x", "short", "某某公司"),
        ("secret", "http://127.0.0.1:9/x", "x" * 20 + "\x00", "某某公司"),
        ("firms", "http://127.0.0.1:9/x", SECRET_A, "\n \n\x00\n"),
        ("firms", "http://127.0.0.1:9/x", SECRET_A, "\n".join(f"公司{i}" for i in range(10_001))),
    ],
)
def test_bad_subscriptions_are_refused_with_a_message_for_the_field(
    session, field, url, secret, firms
):
    with pytest.raises(ValidationError) as refused:
        _subscribe(session, url, secret, firms)
    assert field in refused.value.errors


def test_firms_are_kept_by_uscc_or_normalised_name_without_repeats(session):
    subscriber = _subscribe(
        session,
        "http://127.0.0.1:9/x",
        SECRET_A,
        "91440300ma5f000000\n91440300MA5F000000\n（深圳）某某有限公司\n\n某某有限公司",
    )
    firms = session.scalars(select(WatchedFirm).where(WatchedFirm.subscriber_id == subscriber.id))
    kept = sorted((f.uscc or "", f.name_key or "") for f in firms)
    assert kept[0] == ("", kept[0][1]) and len(kept) == 3
    assert ("91440300MA5F000000", "") in kept


# --- pages ------------------------------------------------------------------------------

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _allow_local(app) -> None:
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = dataclasses.replace(settings, WEBHOOK_ALLOWED_HOSTS="127.0.0.1")


def _form_token(client, url: str = "/watchlists/new") -> str:
    page = client.get(url)
    assert page.status_code == 200
    return _TOKEN.search(page.get_data(as_text=True)).group(1)


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(WatchSubscriber))


def test_subscribe_then_manage_and_unsubscribe_without_login(app, client, session):
    _allow_local(app)
    token = _form_token(client)
    response = client.post(
        "/watchlists/new",
        data={
            "csrf_token": token,
            "url": "http://127.0.0.1:9/hook",
            "secret": SECRET_A,
            "firms": "91440300MA5F000000\n某某网络科技有限公司",
        },
    )
    assert response.status_code == 303
    page_url = response.headers["Location"]
    page = client.get(page_url)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "某某网络科技有限公司" in page.get_data(as_text=True)
    subscriber = session.scalars(select(WatchSubscriber)).one()
    assert SECRET_A not in page.get_data(as_text=True)

    answer = client.post(page_url, data={"csrf_token": token, "action": "firms", "firms": "甲公司"})
    assert answer.status_code == 303
    assert [f.label for f in service.firms_of(session, subscriber)] == ["甲公司"]
    answer = client.post(page_url, data={"csrf_token": token, "action": "unsubscribe"})
    assert answer.status_code == 303
    session.refresh(subscriber)
    assert subscriber.state == "unsubscribed" and service.firms_of(session, subscriber) == []
    again = client.post(page_url, data={"csrf_token": token, "action": "firms", "firms": "乙"})
    assert again.status_code == 409


def test_local_webhook_is_refused_on_the_form_without_the_allowance(client, session):
    token = _form_token(client)
    before = _count(session)
    response = client.post(
        "/watchlists/new",
        data={"csrf_token": token, "url": "http://10.0.0.1/x", "secret": SECRET_A, "firms": "甲"},
    )
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert _count(session) == before


def test_watchlist_posts_without_a_valid_csrf_token_are_400_and_write_nothing(app, client, session):
    _allow_local(app)
    subscriber = _subscribe(session, "http://127.0.0.1:9/x", SECRET_A, "甲公司")
    session.commit()
    data = {"url": "http://127.0.0.1:9/y", "secret": SECRET_A, "firms": "乙", "action": "firms"}
    for token in (None, "forged-" + "x" * 40):
        sent = data | ({"csrf_token": token} if token else {})
        before = _count(session)
        assert client.post("/watchlists/new", data=sent).status_code == 400
        assert client.post(f"/watchlists/{subscriber.token}", data=sent).status_code == 400
        assert _count(session) == before
        assert [f.label for f in service.firms_of(session, subscriber)] == ["甲公司"]


@pytest.mark.parametrize(
    "token", ["x", "no-such-token-" + "y" * 30, "%00" * 10, "../" * 10, "a" * 500]
)
def test_unknown_or_hostile_tokens_are_404(client, token):
    assert client.get(f"/watchlists/{token}").status_code == 404


@pytest.mark.parametrize(
    "form",
    [
        {"url": "\x00", "secret": "\u202e\ufeff" * 10, "firms": "\x00"},
        {"url": ["a", "b"], "secret": "", "firms": ""},
        {"action": "nonsense"},
        {},
    ],
)
def test_hostile_watchlist_forms_are_4xx_never_500(app, client, session, form):
    _allow_local(app)
    token = _form_token(client)
    subscriber = _subscribe(session, "http://127.0.0.1:9/x", SECRET_A, "甲公司")
    session.commit()
    for url in ("/watchlists/new", f"/watchlists/{subscriber.token}"):
        response = client.post(url, data=form | {"csrf_token": token})
        assert 400 <= response.status_code < 500, (url, form, response.status_code)


def test_a_delivery_claimed_by_a_process_that_died_is_sent_once_its_claim_runs_out(
    session, make, staff, receiver
):
    clerk, reviewer = staff
    hook = receiver()
    firm = make.enterprise(clerk)
    _subscribe(session, hook.url("/hook"), SECRET_A, firm.uscc)
    make.published_listing(clerk, reviewer, enterprise=firm)
    session.commit()
    fanout.fan_out(session)
    now = utcnow()
    delivery = session.scalars(select(WatchDelivery)).one()
    # Claimed, then the process was killed.
    assert claims.claim(
        session, WatchDelivery, delivery.id, now, dispatch.CLAIM_FACTOR * dispatch.TIMEOUT_SECONDS
    )
    dispatch.deliver_due(session, LOCAL, now=now + timedelta(seconds=10))
    assert hook.received("/hook") == []  # still held by the dead process's claim
    claim = dispatch.CLAIM_FACTOR * dispatch.TIMEOUT_SECONDS
    dispatch.deliver_due(session, LOCAL, now=now + timedelta(seconds=claim + 1))
    session.refresh(delivery)
    assert delivery.state == "delivered" and len(hook.received("/hook")) == 1


def test_the_registered_follower_fans_out_and_delivers(app, session, make, staff, receiver):
    from registry.web.indexing import followers

    clerk, reviewer = staff
    _allow_local(app)
    hook = receiver()
    firm = make.enterprise(clerk)
    _subscribe(session, hook.url("/hook"), SECRET_A, firm.uscc)
    make.published_listing(clerk, reviewer, enterprise=firm)
    session.commit()
    follower = followers(app)["watchlist"]
    assert follower.gates_start is False
    assert follower.run_once(foreground=True)
    ((headers, body),) = hook.received("/hook")
    assert webhook.verify(SECRET_A, body, headers[webhook.SIGNATURE_HEADER])


# --- mail subscribers -------------------------------------------------------------------


def _outbox(session, address: str) -> list:
    from registry.models import OutboxMail

    return list(
        session.scalars(
            select(OutboxMail).where(OutboxMail.recipient == address).order_by(OutboxMail.id)
        )
    )


def test_a_mail_subscriber_confirms_from_the_mailed_link_then_gets_alerts(
    app, client, session, make, staff
):
    clerk, reviewer = staff
    firm = make.enterprise(clerk, name="深圳市邮件关注网络科技有限公司")
    session.flush()
    address = "compliance@carrier.example.cn"
    response = client.post(
        "/watchlists/new",
        data={"csrf_token": _form_token(client), "email": address, "firms": firm.uscc},
    )
    assert response.status_code == 200
    (confirmation,) = _outbox(session, address)
    link = re.search(r"http\S*/watchlists/[\w-]+", confirmation.body).group(0)
    token = link.rsplit("/", 1)[1]
    assert token not in response.get_data(as_text=True)  # only the mailbox gets the page
    subscriber = service.by_token(session, token)
    assert subscriber is not None and not subscriber.confirmed

    make.published_listing(clerk, reviewer, enterprise=firm)  # before confirming: no alert
    session.commit()
    follow(session, LOCAL)
    assert len(_outbox(session, address)) == 1

    page = f"/watchlists/{token}"
    answer = client.post(page, data={"csrf_token": _form_token(client), "action": "confirm"})
    assert answer.status_code == 303
    listing = make.published_listing(clerk, reviewer, enterprise=firm)
    listings.remove_listing(session, reviewer, listing, "已纠正")
    session.commit()
    follow(session, LOCAL, "https://registry.example.cn")
    follow(session, LOCAL, "https://registry.example.cn")
    alerts = _outbox(session, address)[1:]
    assert len(alerts) == 2  # the publication and the removal after confirming, once each
    assert all(firm.name in mail.subject and firm.uscc in mail.body for mail in alerts)
    assert all(f"https://registry.example.cn/watchlists/{token}" in m.body for m in alerts)
    assert "移出" in alerts[1].body and "removed" in alerts[1].body.lower()


def test_mail_subscriptions_refuse_bad_addresses_and_confirmation_floods(session):
    with pytest.raises(ValidationError) as refused:
        service.subscribe_email(session, "not an address", "甲公司", lambda t: t)
    assert "email" in refused.value.errors
    victim = "victim@example.cn"
    for _ in range(service.MAX_PENDING_CONFIRMATIONS):
        service.subscribe_email(session, victim, "甲公司", lambda t: t)
    with pytest.raises(ValidationError):
        service.subscribe_email(session, victim, "甲公司", lambda t: t)
    assert len(_outbox(session, victim)) == service.MAX_PENDING_CONFIRMATIONS
