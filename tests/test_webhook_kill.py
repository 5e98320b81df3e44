"""Watchlist webhooks survive a dispatcher killed with SIGKILL mid-delivery.

The dispatcher is the "watchlist" follower of a real `registry serve` process, on a file
SQLite database and (REGISTRY_TEST_POSTGRES_URL) on a PostgreSQL database of the test's
own. A receiver on 127.0.0.1 checks each delivery's HMAC-SHA256 signature by itself and,
on subscriber A's second change, kills the server with SIGKILL while that request is
still open (no answer sent). A fresh server then has to deliver everything: every change
to every subscriber, in order per subscriber, under one Idempotency-Key per change whose
body is the same on every attempt. The request that was in flight may arrive again, with
the same key and body, right after itself: that is what at-least-once means; nothing else
arrives twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db import make_engine, utcnow
from registry.migrate import upgrade
from registry.models import WatchDelivery
from registry.rules import Actor
from registry.services import listings
from registry.services import watchlists as service
from registry.services.reference import seed
from registry.watchlists import webhook
from tests.conftest import BACKENDS, TEST_SECRET, create_database
from tests.factories import Factory
from tests.receiver import LocalReceiver

REGISTRY = str(Path(sys.executable).with_name("registry"))
LOCAL = ["127.0.0.1"]
SECRETS = {"/a": "secret-of-subscriber-a", "/b": "secret-of-subscriber-b"}
HELD = ("/a", 2)  # the delivery in flight when the sender is killed: A's second change
TIMEOUT = 1  # WEBHOOK_TIMEOUT of the servers: a dead sender's claim runs out after 12 s
DEADLINE = 120.0  # seconds for the fresh server to deliver everything


@dataclass
class Delivery:
    path: str
    key: str
    body: bytes
    signed: bool


class Receiver(LocalReceiver):
    """Webhook endpoints that answer 200 to each signed delivery, except the HELD one: the
    first time it arrives `on_hold` runs (the test's SIGKILL) while the request is still
    open, and it is then closed without an answer."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()
        self.held = threading.Event()
        self.on_hold = lambda: None
        super().__init__()

    def answer(self, path: str, headers: Message, body: bytes) -> int | None:
        delivery = Delivery(
            path,
            headers.get(webhook.IDEMPOTENCY_HEADER, ""),
            body,
            _signed(SECRETS.get(path, ""), body, headers),
        )
        if not self.take(delivery):
            return None
        return 200 if delivery.signed else 401

    def take(self, delivery: Delivery) -> bool:
        """Record a delivery; False for the held one, after the sender was killed."""
        with self.lock:
            self.deliveries.append(delivery)
            keys = {d.key for d in self.deliveries if d.path == delivery.path}
            hold = (delivery.path, len(keys)) == HELD and not self.held.is_set()
        if hold:
            self.on_hold()
            self.held.set()
        return not hold

    def of(self, path: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.path == path]


def _signed(secret: str, body: bytes, headers) -> bool:
    """The receiver's own check of `t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`."""
    try:
        fields = dict(part.split("=", 1) for part in headers[webhook.SIGNATURE_HEADER].split(","))
        timestamp = int(fields["t"])
    except (AttributeError, KeyError, ValueError):
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    fresh = abs(time.time() - timestamp) < 300
    return bool(secret) and fresh and hmac.compare_digest(expected.hexdigest(), fields["v1"])


def _prepare(url: str, receiver: Receiver) -> dict[str, list[tuple[str, str]]]:
    """Migrate and seed the database; two subscribers, then five changes of their firms,
    committed. The (event, USCC) each subscriber is due, in order."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        with Session(engine) as session:
            seed(session, Actor(None, "test", "system", 0, True))
            session.commit()
            make = Factory(session)
            clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
            x, y = make.enterprise(clerk), make.enterprise(clerk)
            service.subscribe(session, receiver.url("/a"), SECRETS["/a"], x.uscc, LOCAL)
            both = f"{x.uscc}\n{y.uscc}"
            service.subscribe(session, receiver.url("/b"), SECRETS["/b"], both, LOCAL)
            session.commit()
            first = make.published_listing(clerk, reviewer, enterprise=x)
            other = make.published_listing(clerk, reviewer, enterprise=y)
            listings.remove_listing(session, reviewer, first, "已纠正")
            make.published_listing(clerk, reviewer, enterprise=x)
            listings.remove_listing(session, reviewer, other, "已纠正")
            session.commit()
            changes = [
                ("listing.publish", x.uscc),
                ("listing.publish", y.uscc),
                ("listing.remove", x.uscc),
                ("listing.publish", x.uscc),
                ("listing.remove", y.uscc),
            ]
    finally:
        engine.dispose()
    return {"/a": [c for c in changes if c[1] == x.uscc], "/b": changes}


class Server:
    """`registry serve` on a free loopback port, its output in a log file."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.env = os.environ | {
            "REGISTRY_INSTANCE_PATH": str(root / "instance"),
            "REGISTRY_DATABASE_URL": url,
            "REGISTRY_INDEX_DIR": str(root / "index"),
            "REGISTRY_EVIDENCE_DIR": str(root / "evidence"),
            "REGISTRY_EXPORT_DIR": str(root / "exports"),
            "REGISTRY_SECRET_KEY": TEST_SECRET,
            "REGISTRY_LOG_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
            "REGISTRY_WEBHOOK_ALLOWED_HOSTS": ",".join(LOCAL),
            "REGISTRY_WEBHOOK_TIMEOUT": str(TIMEOUT),
            "PYTHONWARNINGS": "ignore",
        }
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        from tests.test_crash_upload import _free_port

        number = len(self.processes)
        with open(self.root / f"serve-{number}.log", "wb") as log:
            process = subprocess.Popen(
                [REGISTRY, "serve", "--port", str(_free_port())],
                env=self.env,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def log(self) -> str:
        return "\n".join(
            (self.root / f"serve-{n}.log").read_text(errors="replace")[-3000:]
            for n in range(len(self.processes))
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _deliveries(url: str) -> list[WatchDelivery]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(WatchDelivery).order_by(WatchDelivery.id)))
    finally:
        engine.dispose()


def _wait(check, timeout: float, server: Server, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        assert server.processes[-1].poll() is None, f"the server exited\n{server.log()}"
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout} s\n{server.log()}")


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path):
    url, drop = create_database(request.param, tmp_path)
    yield url
    drop()


def test_a_dispatcher_killed_mid_delivery_loses_and_repeats_nothing(database, tmp_path):
    receiver = Receiver()
    server = Server(tmp_path, database)
    try:
        due = _prepare(database, receiver)
        first = server.start()
        receiver.on_hold = lambda: (os.kill(first.pid, signal.SIGKILL), first.wait(timeout=30))
        assert receiver.held.wait(90), f"the held delivery did not arrive\n{server.log()}"
        # Killed with the call open: the delivery is claimed, pending, never answered.
        in_flight = [d for d in _deliveries(database) if d.claimed_until is not None]
        assert len(in_flight) == 1 and in_flight[0].state == "pending", in_flight
        assert in_flight[0].claimed_until > utcnow()
        assert in_flight[0].key == receiver.of(HELD[0])[-1].key

        server.start()

        def done() -> bool:
            rows = _deliveries(database)
            return bool(rows) and all(d.state == "delivered" for d in rows)

        _wait(done, DEADLINE, server, "every delivery")
        rows = _deliveries(database)
        for path, changes in due.items():
            got = receiver.of(path)
            assert all(d.signed for d in got), path
            # one key per change, the changes in order; repeats only of the key just sent
            keys = [d.key for d in got]
            firsts = list(dict.fromkeys(keys))
            assert all(k == keys[i - 1] for i, k in enumerate(keys) if k in keys[:i]), keys
            events = [json.loads(got[keys.index(k)].body) for k in firsts]
            assert [(e["event"], e["listing"]["uscc"]) for e in events] == changes, path
            numbers = [e["log_number"] for e in events]
            assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
            # every attempt at a change carries the same body under its key
            for key in firsts:
                assert len({d.body for d in got if d.key == key}) == 1, key
            stored = {d.key: d.payload.encode() for d in rows}
            assert all(stored[d.key] == d.body for d in got)
            repeated = {k for k in keys if keys.count(k) > 1}
            assert repeated == ({in_flight[0].key} if path == HELD[0] else set()), keys
        assert len(rows) == sum(len(changes) for changes in due.values())
        held = next(d for d in rows if d.key == in_flight[0].key)
        assert held.attempts == 1  # the killed attempt left no count, the redelivery did
    finally:
        server.stop()
        receiver.close()
