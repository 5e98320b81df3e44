"""Watchlist subscriptions: create one, change its firms, unsubscribe.

A subscriber is a webhook (URL + shared secret) or a mail address, watching up to MAX_FIRMS
firms, one a line:
a USCC, or a name compared after normalisation (registry.screening.normalize.clean). The
URL is checked against SSRF rules (registry.watchlists.webhook) when it is saved and again
before every delivery. A mail address gets a confirmation mail with the subscription's
address and receives nothing until it was confirmed there. The subscriber manages it
through the secret token in its address;
no account is involved, so no Event is recorded (the rows are private, not the registry's
record).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from registry import mail, text
from registry.db import utcnow
from registry.errors import ValidationError
from registry.messages import _
from registry.models import LogEntry, WatchedFirm, WatchSubscriber
from registry.screening.normalize import clean
from registry.watchlists import alerts, webhook

MAX_FIRMS = 10_000
MIN_SECRET = 16
MAX_SECRET = 200
MAIL_MODES = ("immediate", "daily")
MAX_PENDING_CONFIRMATIONS = 3  # unconfirmed subscriptions of one address within a day


@dataclass(frozen=True)
class Watched:
    uscc: str | None
    name_key: str | None
    label: str


def parse_firms(lines: str) -> list[Watched]:
    """The firms of a text, one a line (blank lines skipped, repeats dropped)."""
    if not isinstance(lines, str):
        raise ValidationError({"firms": _("请填写要关注的经营者")})
    firms: dict[tuple[str | None, str | None], Watched] = {}
    for raw in lines.splitlines():
        label = text.clean_display(raw)[:200]
        if not label:
            continue
        code = text.canonical_uscc(label)
        if text.looks_like_uscc(code):
            item = Watched(code, None, label)
        else:
            key = clean(label)[:200]
            if not key:
                continue
            item = Watched(None, key, label)
        firms.setdefault((item.uscc, item.name_key), item)
        if len(firms) > MAX_FIRMS:
            raise ValidationError({"firms": _("最多关注 %(n)s 个经营者", n=MAX_FIRMS)})
    if not firms:
        raise ValidationError({"firms": _("请填写要关注的经营者")})
    return list(firms.values())


def check_secret(secret: str) -> str:
    if not isinstance(secret, str) or not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise ValidationError(
            {"secret": _("共享密钥须为 %(min)s 到 %(max)s 个字符", min=MIN_SECRET, max=MAX_SECRET)}
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in secret):
        raise ValidationError({"secret": _("共享密钥不能包含控制字符")})
    return secret


def check_url(
    url: str, allowed_hosts: Iterable[str], resolve: webhook.Resolver | None = None
) -> str:
    if not isinstance(url, str) or not url.strip() or len(url.strip()) > 2000:
        raise ValidationError({"url": _("请填写回调地址（不超过 2000 个字符）")})
    try:
        webhook.check_target(url.strip(), allowed_hosts, resolve or webhook.system_resolver)
    except webhook.TargetRefused as exc:
        raise ValidationError({"url": exc.message}) from None
    return url.strip()


def subscribe(
    session: Session,
    url: str,
    secret: str,
    firms: str,
    allowed_hosts: Iterable[str] = (),
    resolve: webhook.Resolver | None = None,
) -> WatchSubscriber:
    """A new webhook subscriber with its firms, flushed (the caller commits)."""
    errors: dict[str, str] = {}
    checked: dict[str, Any] = {}
    for name, check in (
        ("url", lambda: check_url(url, allowed_hosts, resolve)),
        ("secret", lambda: check_secret(secret)),
        ("firms", lambda: parse_firms(firms)),
    ):
        try:
            checked[name] = check()
        except ValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    firm_list: list[Watched] = checked["firms"]
    return _new(session, firm_list, url=checked["url"], secret=checked["secret"], confirmed=True)


def _new(session: Session, firms: list[Watched], **values: object) -> WatchSubscriber:
    subscriber = WatchSubscriber(
        token=secrets.token_urlsafe(32),
        after_log_number=session.scalar(select(func.coalesce(func.max(LogEntry.number), 0))),
        **values,
    )
    session.add(subscriber)
    session.flush()
    _add_firms(session, subscriber, firms)
    return subscriber


def check_mail_mode(mode: object) -> str:
    """ "immediate" (one mail per change, the default) or "daily" (one digest a day)."""
    mode = mode.strip() if isinstance(mode, str) else ""
    if mode not in MAIL_MODES:
        raise ValidationError({"mail_mode": _("请选择立即提醒或每日汇总")})
    return mode


def subscribe_email(
    session: Session,
    address: str,
    firms: str,
    link_for: Callable[[str], str],
    mail_mode: str = "immediate",
) -> WatchSubscriber:
    """A new mail subscriber, unconfirmed: the confirmation mail carries its page's address
    (`link_for(token)`), which only the owner of the mailbox gets to see."""
    errors: dict[str, str] = {}
    try:
        mail_mode = check_mail_mode(mail_mode)
    except ValidationError as exc:
        errors.update(exc.errors)
    address = address.strip() if isinstance(address, str) else ""
    if not mail.valid_address(address):
        errors["email"] = _("请填写有效的电子邮箱地址")
    elif _pending_confirmations(session, address) >= MAX_PENDING_CONFIRMATIONS:
        # A stranger must not be able to fill someone's mailbox with confirmation mails.
        errors["email"] = _("该邮箱已有待确认的订阅，请先查看邮件中的确认链接")
    try:
        parsed = parse_firms(firms)
    except ValidationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    subscriber = _new(session, parsed, email=address, confirmed=False, mail_mode=mail_mode)
    alerts.confirmation(session, address, link_for(subscriber.token), ref(subscriber))
    return subscriber


def _pending_confirmations(session: Session, address: str) -> int:
    since = utcnow() - timedelta(days=1)
    return (
        session.scalar(
            select(func.count())
            .select_from(WatchSubscriber)
            .where(
                WatchSubscriber.email == address,
                WatchSubscriber.confirmed.is_(False),
                WatchSubscriber.created_at >= since,
            )
        )
        or 0
    )


def ref(subscriber: WatchSubscriber) -> str:
    """What the subscriber's mails are about, for the outbox."""
    return f"watchlist:{subscriber.id}"


def set_mail_mode(session: Session, subscriber: WatchSubscriber, mode: str) -> None:
    """Switch a mail subscriber between immediate alerts and the daily digest. Changes
    already waiting for a digest still go out in the next one."""
    subscriber.mail_mode = check_mail_mode(mode)
    session.flush()


def confirm(session: Session, subscriber: WatchSubscriber) -> None:
    subscriber.confirmed = True
    session.flush()


def _add_firms(session: Session, subscriber: WatchSubscriber, firms: list[Watched]) -> None:
    session.add_all(
        WatchedFirm(subscriber_id=subscriber.id, uscc=f.uscc, name_key=f.name_key, label=f.label)
        for f in firms
    )
    session.flush()


def by_token(session: Session, token: str) -> WatchSubscriber | None:
    if not isinstance(token, str) or not 20 <= len(token) <= 64:
        return None
    return session.scalar(select(WatchSubscriber).where(WatchSubscriber.token == token))


def replace_firms(session: Session, subscriber: WatchSubscriber, firms: str) -> None:
    """The subscriber now watches exactly these firms."""
    parsed = parse_firms(firms)
    session.execute(delete(WatchedFirm).where(WatchedFirm.subscriber_id == subscriber.id))
    _add_firms(session, subscriber, parsed)


def firms_of(session: Session, subscriber: WatchSubscriber) -> list[WatchedFirm]:
    return list(
        session.scalars(
            select(WatchedFirm)
            .where(WatchedFirm.subscriber_id == subscriber.id)
            .order_by(WatchedFirm.id)
        )
    )


def unsubscribe(session: Session, subscriber: WatchSubscriber) -> None:
    """No more deliveries; the firms are forgotten (the delivery log stays until deleted)."""
    subscriber.state = "unsubscribed"
    session.execute(delete(WatchedFirm).where(WatchedFirm.subscriber_id == subscriber.id))
    session.flush()


def resume(session: Session, subscriber: WatchSubscriber) -> None:
    """Deliver again after the subscriber was disabled for failures."""
    if subscriber.state == "disabled":
        subscriber.state = "active"
        subscriber.failures = 0
        session.flush()
