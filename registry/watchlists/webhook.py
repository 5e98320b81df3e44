"""Webhook deliveries, the parts that need no database: which targets may be called, how a
body is signed, and how long to wait before the next attempt.

* `check_target` refuses a URL that is not http(s), carries credentials, or whose host is
  or resolves to a loopback, private, link-local, shared, reserved, multicast or
  unspecified address (IPv4-mapped IPv6 included), unless an admin allowed that host: a
  subscriber must not make the registry call its own network (SSRF). It returns the
  addresses checked, so the sender connects to one of them and not to what a second DNS
  answer says (rebinding).
* `sign` gives the headers of one delivery: ``Registry-Signature: t=<unix time>,
  v1=<hex HMAC-SHA256 of "t.body" with the subscriber's secret>`` and the delivery's
  ``Idempotency-Key``; `verify` is what a receiver does, with a tolerance on the time.
* `backoff` is the wait before attempt n: exponential, capped, with jitter.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
import socket
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from registry.errors import DomainError
from registry.messages import MessageError, _

Resolver = Callable[[str, int], Iterable[str]]
SIGNATURE_HEADER = "Registry-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, not "private" in Python


class TargetRefused(MessageError, DomainError):
    """A webhook URL the registry will not call; `message` says why."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (A and AAAA)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def forbidden_address(address: str) -> bool:
    """Whether an address is one a webhook must never reach."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED)
    )


def check_target(
    url: str, allowed_hosts: Iterable[str] = (), resolve: Resolver = system_resolver
) -> list[str]:
    """The addresses `url`'s host resolves to, all allowed; TargetRefused otherwise."""
    parts = urlsplit(url.strip() if isinstance(url, str) else "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(_("回调地址须为 http 或 https 网址"))
    if parts.username or parts.password:
        raise TargetRefused(_("回调地址不能包含用户名或密码"))
    host = parts.hostname.rstrip(".").lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused(_("回调地址的端口无效")) from None
    try:
        addresses = list(resolve(host, port))
    except (OSError, UnicodeError):
        raise TargetRefused(_("回调地址的主机名无法解析：%(host)s", host=host[:100])) from None
    if not addresses:
        raise TargetRefused(_("回调地址的主机名无法解析：%(host)s", host=host[:100]))
    if host in {h.rstrip(".").lower() for h in allowed_hosts}:
        return addresses
    if any(forbidden_address(a) for a in addresses):
        raise TargetRefused(
            _("回调地址 %(host)s 指向本机、内网或链路本地地址，不予调用", host=host[:100])
        )
    return addresses


def signature(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def sign(secret: str, body: bytes, delivery_key: str, now: float | None = None) -> dict[str, str]:
    """The headers of one delivery of `body` (the same key on every retry of it)."""
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, body, timestamp),
        IDEMPOTENCY_HEADER: delivery_key,
    }


def verify(
    secret: str, body: bytes, header: str, now: float | None = None, tolerance: int = 300
) -> bool:
    """A receiver's check of a delivery: the signature fits and is at most `tolerance` s old."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, body, timestamp), header)


def backoff(
    attempt: int, base: float = 30.0, cap: float = 6 * 3600.0, jitter: float = 0.1
) -> float:
    """Seconds to wait before attempt `attempt` (1 = the first retry): base × 2^(n-1), at
    most `cap`, ± `jitter` of it so that many failing subscribers do not retry in step."""
    wait = min(cap, base * 2 ** max(0, attempt - 1))
    return wait * (1 + random.uniform(-jitter, jitter))  # noqa: S311 - timing, not secrecy
