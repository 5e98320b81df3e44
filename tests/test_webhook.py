"""Webhook targets and signatures (registry/watchlists/webhook.py): no call into the
registry's own network (SSRF), signatures a receiver can check, growing retry waits."""

from __future__ import annotations

import pytest

from registry.watchlists import webhook


def resolver(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


PUBLIC = resolver({"hooks.example.com": ["93.184.216.34"], "rebind.example.com": ["10.1.2.3"]})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1.2.3:8080/hook",
        "http://10.0.0.5/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[fd00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost/hook",
    ],
)
def test_loopback_private_and_link_local_targets_are_refused(url):
    with pytest.raises(webhook.TargetRefused):
        webhook.check_target(url)  # the system resolver: literal addresses and localhost


def test_a_name_resolving_to_a_private_address_is_refused():
    with pytest.raises(webhook.TargetRefused):
        webhook.check_target("https://rebind.example.com/hook", resolve=PUBLIC)


def test_a_public_target_is_accepted_with_the_addresses_to_connect_to():
    assert webhook.check_target("https://hooks.example.com/x", resolve=PUBLIC) == ["93.184.216.34"]


def test_an_admin_may_allow_a_private_host():
    allowed = webhook.check_target(
        "https://rebind.example.com/hook", ["REBIND.example.com."], resolve=PUBLIC
    )
    assert allowed == ["10.1.2.3"]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/",
        "file:///etc/passwd",
        "https://user:pw@hooks.example.com/",
        "https://hooks.example.com:99999/",
        "https://nowhere.example.com/",
        "",
        "hooks.example.com",
    ],
)
def test_malformed_or_unresolvable_targets_are_refused(url):
    with pytest.raises(webhook.TargetRefused):
        webhook.check_target(url, resolve=PUBLIC)


def test_signature_verifies_and_fails_on_any_change():
    body = b'{"event": "listed", "uscc": "91440300MA5FXXXX0A"}'
    headers = webhook.sign("s3cret", body, "delivery-17", now=1_800_000_000)
    assert headers[webhook.IDEMPOTENCY_HEADER] == "delivery-17"
    signed = headers[webhook.SIGNATURE_HEADER]
    assert webhook.verify("s3cret", body, signed, now=1_800_000_010)
    assert not webhook.verify("other", body, signed, now=1_800_000_010)
    assert not webhook.verify("s3cret", body + b" ", signed, now=1_800_000_010)
    assert not webhook.verify("s3cret", body, signed, now=1_800_001_000)  # too old: replay
    assert not webhook.verify("s3cret", body, "garbage", now=1_800_000_010)


def test_backoff_grows_exponentially_up_to_its_cap():
    waits = [webhook.backoff(n, base=10, cap=1000, jitter=0) for n in range(1, 9)]
    assert waits == [10, 20, 40, 80, 160, 320, 640, 1000]
    assert 9 <= webhook.backoff(1, base=10, jitter=0.1) <= 11
