"""Outgoing mail: an outbox and its delivery over SMTP.

A change that should tell someone by mail calls `enqueue` in its own transaction, so the
mail exists exactly when the change was committed. The "mail" follower (registry/web/
mailing.py) sends what is due outside requests: each mail is claimed for a while with a
conditional UPDATE (two processes never send it at once), sent, and marked sent; a failure
is recorded and retried later with a growing pause, up to MAX_ATTEMPTS. A mail server that
is down or slow therefore never fails or slows the request that wrote the mail. Delivery
is at least once: a process killed between sending and marking sends it again later.

Nothing here knows what the mail is about; callers pass a subject, a plain-text body and a
`ref` naming the record (so a retention sweep can delete the mail with the record).
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from registry.claims import claim, unclaimed
from registry.db import utcnow
from registry.messages import translate
from registry.models import OutboxMail

log = logging.getLogger(__name__)

BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 3600
MAX_ATTEMPTS = 20
CLAIM_SECONDS = 120
BATCH = 50
# A deliberately plain check: one @, no spaces or control characters, a dot in the domain.
_ADDRESS = re.compile(
    r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,189}\.[^@\s.\x00-\x1f\x7f]{2,63}"
)


def valid_address(address: str) -> bool:
    return bool(_ADDRESS.fullmatch(address or "")) and len(address) <= 254


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    tls: str = "none"  # none | starttls | ssl
    username: str = ""
    password: str = ""
    sender: str = ""
    timeout: float = 10.0
    ca_file: str = ""  # empty: the system's trusted CAs

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpSettings:
        """From the app's Settings: each field from MAIL_<FIELD> (MAIL_HOST, MAIL_PORT,
        MAIL_TLS, MAIL_USERNAME, MAIL_PASSWORD, MAIL_TIMEOUT, MAIL_CA_FILE), the sender
        from MAIL_FROM."""
        named = {
            f.name: getattr(settings, f"MAIL_{f.name.upper()}")
            for f in fields(cls)
            if f.name != "sender"
        }
        named |= {"sender": settings.MAIL_FROM, "timeout": float(named["timeout"])}
        return cls(**named)


def enqueue(session: Session, recipient: str, subject: str, body: str, ref: str = "") -> OutboxMail:
    """Add a mail to the outbox in the caller's transaction; sent once that commits."""
    if not valid_address(recipient):
        raise ValueError("not a mail address")
    mail = OutboxMail(
        recipient=recipient,
        subject=" ".join(str(subject).split())[:300],
        body=str(body),
        ref=ref,
        state="pending",
        next_attempt_at=utcnow(),
    )
    session.add(mail)
    session.flush()
    return mail


def enqueue_bilingual(
    session: Session, recipient: str, subject: str, lines: Sequence[str], ref: str = ""
) -> OutboxMail:
    """`enqueue` a mail in Chinese with the English translation below it, for a reader whose
    language is not known outside a request: the subject "中文 / English" (once where the
    two are the same), the body's lines, then under a rule the same lines in English."""
    english_subject = translate(subject, "en")
    return enqueue(
        session,
        recipient,
        f"{subject} / {english_subject}" if english_subject != str(subject) else str(subject),
        "\n".join(str(line) for line in lines)
        + "\n\n----\n\n"
        + "\n".join(translate(line, "en") for line in lines)
        + "\n",
        ref=ref,
    )


def forget(session: Session, ref: str) -> int:
    """Delete every mail about `ref` (the record's personal data is being deleted)."""
    result = session.execute(
        delete(OutboxMail).where(OutboxMail.ref == ref).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def outbox_counts(session: Session) -> dict[str, int]:
    """How many mails wait to be sent (`pending`) and how many were given up (`failed`)."""
    rows = session.execute(
        select(OutboxMail.state, func.count())
        .where(OutboxMail.state.in_(("pending", "failed")))
        .group_by(OutboxMail.state)
    ).all()
    return {"pending": 0, "failed": 0} | {state: int(n) for state, n in rows}


def mails_about(session: Session, refs: list[str]) -> list[OutboxMail]:
    """The mails about these records, oldest first."""
    if not refs:
        return []
    query = select(OutboxMail).where(OutboxMail.ref.in_(refs)).order_by(OutboxMail.id)
    return list(session.scalars(query))


def failed_refs(session: Session, prefix: str) -> list[str]:
    """The refs starting with `prefix` that have a mail given up on."""
    query = select(OutboxMail.ref).where(
        OutboxMail.state == "failed", OutboxMail.ref.startswith(prefix, autoescape=True)
    )
    return sorted(set(session.scalars(query)))


def backoff(attempts: int) -> timedelta:
    """The pause after the `attempts`-th failure: 30 s, 1 min, 2 min, ... up to an hour."""
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


def _due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    return list(
        session.scalars(
            select(OutboxMail.id)
            .where(
                OutboxMail.state == "pending",
                OutboxMail.next_attempt_at <= now,
                unclaimed(OutboxMail, now),
            )
            .order_by(OutboxMail.id)
            .limit(limit)
        )
    )


def message_for(mail: OutboxMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(mail.body)
    return message


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """One message over SMTP with the configured TLS and credentials; raises on failure."""
    context = ssl.create_default_context(cafile=settings.ca_file or None)
    client: smtplib.SMTP
    if settings.tls == "ssl":
        client = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with client:
        if settings.tls == "starttls":
            client.starttls(context=context)
        if settings.username:
            client.login(settings.username, settings.password)
        client.send_message(message)


def _finish(session: Session, mail: OutboxMail, error: str | None, now: datetime) -> None:
    mail.claimed_until = None
    if error is None:
        mail.state = "sent"
        mail.sent_at = utcnow()
        mail.last_error = ""
    else:
        mail.attempts += 1
        mail.last_error = error[:1000]
        mail.next_attempt_at = now + backoff(mail.attempts)
        if mail.attempts >= MAX_ATTEMPTS:
            mail.state = "failed"
    session.commit()


def deliver_due(
    session: Session, settings: SmtpSettings, now: datetime | None = None, limit: int = BATCH
) -> bool:
    """Send the mails that are due (the follower's step). Never raises for a mail server
    that fails: the mail is retried later. True (caught up) unless more were due than
    `limit`. Without a MAIL_HOST nothing is sent: the mails wait in the outbox."""
    if not settings.host:
        return True
    now = now or utcnow()
    ids = _due_ids(session, now, limit)
    session.rollback()
    for mail_id in ids:
        if not claim(session, OutboxMail, mail_id, now, CLAIM_SECONDS):
            continue
        mail = session.get(OutboxMail, mail_id)
        if mail is None:
            continue
        try:
            send(settings, message_for(mail, settings.sender))
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("mail %d not sent (attempt %d): %s", mail.id, mail.attempts + 1, exc)
            _finish(session, mail, f"{type(exc).__name__}: {exc}", now)
        else:
            _finish(session, mail, None, now)
    return len(ids) < limit
