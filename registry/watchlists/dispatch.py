"""The second half of the watchlist follower: send the pending deliveries.

In order per subscriber: only a subscriber's oldest pending delivery is tried; the next
waits until it went through (or finally failed). Each attempt is claimed with a
conditional UPDATE (two processes never send it at once) and committed before the call,
so a process killed mid-delivery leaves a claim that runs out and the delivery is sent
again: at least once, with the same Idempotency-Key. The claim lasts CLAIM_FACTOR call
timeouts, longer than an attempt takes, so a live sender's claim never runs out under it. A failure is retried after an
exponential backoff (webhook.backoff); after DISABLE_AFTER failures in a row the subscriber
is disabled until it resumes from its page, and a delivery that still fails after
MAX_ATTEMPTS is given up. The
URL is checked again before every call and the connection goes to the address checked.
"""

from __future__ import annotations

import http.client
import logging
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.claims import claim, unclaimed
from registry.db import utcnow
from registry.models import WatchDelivery, WatchSubscriber
from registry.watchlists import webhook

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 15
DISABLE_AFTER = 10
TIMEOUT_SECONDS = 10.0  # default of each socket operation of a call (WEBHOOK_TIMEOUT)
CLAIM_FACTOR = 12  # a claim lasts this many timeouts: connect, send and read, with margin
BATCH = 50


class DeliveryFailed(Exception):
    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever DNS answers now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    allowed_hosts: Iterable[str],
    timeout: float = TIMEOUT_SECONDS,
) -> int:
    """POST `body` to `url` if it may be called; the status, or DeliveryFailed."""
    try:
        addresses = webhook.check_target(url, allowed_hosts)
    except webhook.TargetRefused as exc:
        raise DeliveryFailed(str(exc)) from None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = kind(host, port, addresses[0], timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body, headers | {"Host": parts.netloc.rpartition("@")[2]})
        response = connection.getresponse()
        response.read(65536)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
    finally:
        connection.close()
    if not 200 <= status < 300:
        raise DeliveryFailed(f"HTTP {status}", status)
    return status


def _heads(session: Session, now: datetime, limit: int) -> list[int]:
    """Each active webhook subscriber's oldest pending delivery, when due and unclaimed."""
    oldest = (
        select(func.min(WatchDelivery.id))
        .join(WatchSubscriber, WatchSubscriber.id == WatchDelivery.subscriber_id)
        .where(
            WatchDelivery.state == "pending",
            WatchSubscriber.state == "active",
            WatchSubscriber.url != "",  # a mail subscriber's pending rows await the digest
        )
        .group_by(WatchDelivery.subscriber_id)
    )
    return list(
        session.scalars(
            select(WatchDelivery.id)
            .where(
                WatchDelivery.id.in_(oldest),
                WatchDelivery.next_attempt_at <= now,
                unclaimed(WatchDelivery, now),
            )
            .order_by(WatchDelivery.id)
            .limit(limit)
        )
    )


def _finish(
    session: Session, delivery: WatchDelivery, failure: DeliveryFailed | None, now: datetime
) -> None:
    subscriber = session.get(WatchSubscriber, delivery.subscriber_id)
    assert subscriber is not None
    delivery.claimed_until = None
    delivery.attempts += 1
    if failure is None:
        delivery.state = "delivered"
        delivery.delivered_at = utcnow()
        delivery.last_status = 200
        delivery.last_error = ""
        subscriber.failures = 0
    else:
        delivery.last_status = failure.status
        delivery.last_error = str(failure)[:1000]
        delivery.next_attempt_at = now + timedelta(seconds=webhook.backoff(delivery.attempts))
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.state = "failed"
        subscriber.failures += 1
        if subscriber.failures >= DISABLE_AFTER and subscriber.state == "active":
            subscriber.state = "disabled"
    session.commit()


def _attempt(
    session: Session, delivery_id: int, now: datetime, allowed: list[str], timeout: float
) -> bool:
    """One claimed attempt; True if it went through."""
    if not claim(session, WatchDelivery, delivery_id, now, CLAIM_FACTOR * timeout):
        return False
    delivery = session.get(WatchDelivery, delivery_id)
    subscriber = session.get(WatchSubscriber, delivery.subscriber_id) if delivery else None
    if delivery is None or subscriber is None:
        return False
    body = delivery.payload.encode()
    failure = None
    try:
        headers = webhook.sign(subscriber.secret, body, delivery.key)
        post(subscriber.url, body, headers, allowed, timeout)
    except DeliveryFailed as exc:
        log.warning(
            "webhook delivery %d failed (attempt %d): %s", delivery.id, delivery.attempts + 1, exc
        )
        failure = exc
    _finish(session, delivery, failure, now)
    return failure is None


def deliver_due(
    session: Session,
    allowed_hosts: Iterable[str] = (),
    now: datetime | None = None,
    limit: int = BATCH,
    timeout: float = TIMEOUT_SECONDS,
) -> bool:
    """Send what is due, each subscriber's deliveries in order; True when caught up.
    `timeout`: of each socket operation of a call, in seconds (it sets the claim's length)."""
    now = now or utcnow()
    allowed = list(allowed_hosts)
    for _round in range(limit):
        ids = _heads(session, now, limit)
        session.rollback()
        if not ids:
            return True
        if not any([_attempt(session, i, now, allowed, timeout) for i in ids]):
            return True
    return False
