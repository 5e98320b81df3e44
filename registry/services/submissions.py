"""Submissions from the public: file an objection (异议), a credit repair request (信用修复)
or a tip-off (举报线索) without an account, and follow it with a tracking number and a
secret access code.

The code is shown once, carries 80 random bits and is kept only as a SHA-256 together
with the number (so guessing it is hopeless and a fast hash is enough, with no server
secret to rotate). Files pass the same content checks as evidence and are stored the same
way. Rate limits count what was filed in the last day from one client address and about
one target (keyed hashes, never the address itself). Acknowledgement mail goes through the
outbox in the same transaction; it never holds the access code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry import mail, rules, visibility
from registry.db import utcnow
from registry.errors import DomainError, ValidationError
from registry.messages import Message, _
from registry.models import (
    Authority,
    Listing,
    Submission,
    SubmissionFile,
    SubmissionPrivate,
)
from registry.rules import Actor, RuleViolation
from registry.services import evidence
from registry.services.history import record_new
from registry.services.repair_rules import rule_for

# Crockford's base 32: no I, L, O or U to misread.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIXES = {"objection": "YY", "repair": "XF", "tip": "JB"}
CODE_LENGTH = 16
WINDOW = timedelta(days=1)
MAX_TEXT = 5000
CAPACITIES = ("firm", "representative")
_TRACKING = re.compile(r"(YY|XF|JB)(\d{6})([0-9A-Z]{6})")


class RateLimited(DomainError):
    """Too many submissions from one address or about one target (the web answers 429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass
class Intake:
    """What a public form gave, as text; checked by `file_submission`."""

    kind: str
    name: str = ""
    capacity: str = ""
    email: str = ""
    phone: str = ""
    statement: str = ""
    subject_name: str = ""
    subject_uscc: str = ""
    files: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class IntakeLimits:
    """The deployment's settings that bound a submission."""

    secret: str
    per_address: int
    per_target: int
    max_files: int
    max_bytes: int
    evidence_dir: str | Path
    accept_days: int
    decide_days: int


def public_actor(authority_id: int) -> Actor:
    """Who files a submission in the history: the public, for the handling authority."""
    return Actor(None, "public", "public", authority_id, False)


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_tracking_number(kind: str, on: date) -> str:
    return f"{PREFIXES[kind]}{on:%y%m%d}{_random(6)}"


def format_code(code: str) -> str:
    """ABCD-EFGH-JKMN-PQRS: how the code is shown."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def canonical(value: str) -> str:
    """A number or code as typed: case, spaces and dashes ignored, I/L read as 1, O as 0."""
    cleaned = re.sub(r"[^0-9A-Za-z]", "", value or "").upper()
    return cleaned.translate(str.maketrans("ILO", "110"))


def code_hash(tracking_number: str, code: str) -> str:
    return hashlib.sha256(f"{tracking_number}:{canonical(code)}".encode()).hexdigest()


def keyed(secret: str, value: str) -> str:
    """A keyed hash for the rate limits: equal inputs match, the input cannot be read back."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def target_of(intake: Intake, listing: Listing | None) -> str:
    if listing is not None:
        return f"listing:{listing.id}"
    return "firm:" + (_uscc(intake.subject_uscc) or " ".join(intake.subject_name.split()))


def _uscc(value: str) -> str:
    return re.sub(r"[\s-]", "", value or "").upper()


def check_rate(
    session: Session, address_key: str, target_key: str, limits: IntakeLimits, now: datetime
) -> None:
    """Refuse a submission beyond the day's limits, saying when to try again."""
    since = now - WINDOW
    for column, key, limit, message in (
        (Submission.address_key, address_key, limits.per_address, _("本地址今日提交次数已达上限")),
        (Submission.target_key, target_key, limits.per_target, _("针对该对象的提交今日已达上限")),
    ):
        count, oldest = session.execute(
            select(func.count(), func.min(Submission.received_at)).where(
                column == key, Submission.received_at > since
            )
        ).one()
        if count >= limit:
            retry = int(((oldest or now) + WINDOW - now).total_seconds()) + 1
            raise RateLimited(message, max(1, retry))


def _clean_text(errors: dict[str, str], name: str, value: str, limit: int) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        errors[name] = _("不能超过 %(limit)d 个字符", limit=limit)
    return value


def _check_intake(intake: Intake) -> dict[str, str]:
    errors: dict[str, str] = {}
    for name, limit in (("name", 200), ("phone", 40), ("subject_name", 200), ("subject_uscc", 40)):
        setattr(intake, name, _clean_text(errors, name, getattr(intake, name), limit))
    intake.statement = _clean_text(errors, "statement", intake.statement, MAX_TEXT)
    intake.email = (intake.email or "").strip()
    if intake.email and not mail.valid_address(intake.email):
        errors["email"] = _("邮箱地址格式不正确")
    if not intake.statement:
        errors["statement"] = _("请填写具体内容")
    if intake.kind == "tip":
        if not intake.subject_name:
            errors["subject_name"] = _("请填写被举报的经营者名称")
    else:
        if not intake.name:
            errors["name"] = _("请填写申请人")
        if intake.capacity not in CAPACITIES:
            errors["capacity"] = _("请选择申请人身份")
        if not (intake.email or intake.phone):
            errors["email"] = _("请至少填写一种联系方式")
    return errors


def _check_files(
    files: list[tuple[str, bytes]], limits: IntakeLimits
) -> list[tuple[str, bytes, str]]:
    """Every attachment checked before any is written: count, size and content."""
    files = [(name, data) for name, data in files if data]
    if len(files) > limits.max_files:
        raise ValidationError({"files": _("最多上传 %(count)d 个附件", count=limits.max_files)})
    checked = []
    for name, data in files:
        if len(data) > limits.max_bytes:
            megabytes = limits.max_bytes // (1024 * 1024) or 1
            raise evidence.UploadTooLarge(
                _("文件超过大小上限（%(megabytes)s MB）", megabytes=megabytes)
            )
        media_type = evidence.sniff(data)
        if media_type is None:
            raise ValidationError(
                {"files": _("只接受 PDF、PNG、JPEG、OFD、XLSX 文件（按文件内容判断，而非扩展名）")}
            )
        checked.append((name, data, media_type))
    return checked


def check_target(session: Session, kind: str, listing: Listing | None, on: date) -> None:
    """Objections and repairs concern a listing the public sees; a repair needs a ground
    whose catalogue rule allows it."""
    if kind == "tip":
        return
    if listing is None or not visibility.listing_is_in_force(listing, on):
        raise RuleViolation("listing_not_public", _("没有这条公示中的名单记录"))
    if kind == "repair" and rule_for(session, listing) is None:
        raise RuleViolation("not_repairable", _("该列入事由不适用网上信用修复"))


def file_submission(
    session: Session,
    intake: Intake,
    *,
    authority: Authority,
    listing: Listing | None,
    address: str,
    limits: IntakeLimits,
    now: datetime | None = None,
) -> tuple[Submission, str]:
    """Check and record a submission; returns it and its access code (shown once). The
    caller commits; the files are on disk before that (orphans are swept)."""
    now = now or utcnow()
    on = rules.today(now)
    if intake.kind not in PREFIXES:
        raise ValidationError({"kind": _("未知的申请类型")})
    check_target(session, intake.kind, listing, on)
    errors = _check_intake(intake)
    if errors:
        raise ValidationError(errors)
    files = _check_files(intake.files, limits)
    address_key = keyed(limits.secret, "address:" + (address or "unknown"))
    target_key = keyed(limits.secret, target_of(intake, listing))
    check_rate(session, address_key, target_key, limits, now)
    accept_days, decide_days = _time_limits(session, intake.kind, listing, limits)
    submission, code = _new_submission(session, intake, authority, listing, on)
    submission.received_at = now
    submission.accept_due = on + timedelta(days=accept_days)
    submission.decide_days = decide_days
    submission.address_key, submission.target_key = address_key, target_key
    submission.private = SubmissionPrivate(
        name=intake.name,
        capacity=intake.capacity if intake.kind != "tip" else "",
        email=intake.email,
        phone=intake.phone,
        statement=intake.statement,
    )
    for name, data, media_type in files:
        sha256 = hashlib.sha256(data).hexdigest()
        evidence._write_once(limits.evidence_dir, sha256, data)
        submission.files.append(
            SubmissionFile(
                sha256=sha256,
                size=len(data),
                media_type=media_type,
                original_name=evidence.safe_name(name),
            )
        )
    record_new(session, public_actor(authority.id), submission, "receive")
    if intake.email:
        _acknowledge(session, submission, intake.email)
    return submission, code


def _time_limits(
    session: Session, kind: str, listing: Listing | None, limits: IntakeLimits
) -> tuple[int, int]:
    if kind == "repair" and listing is not None:
        rule = rule_for(session, listing)
        if rule is not None:
            return rule.accept_days, rule.decide_days
    return limits.accept_days, limits.decide_days


def _new_submission(
    session: Session, intake: Intake, authority: Authority, listing: Listing | None, on: date
) -> tuple[Submission, str]:
    while True:
        number = new_tracking_number(intake.kind, on)
        if (
            session.scalar(select(Submission.id).where(Submission.tracking_number == number))
            is None
        ):
            break
    code = _random(CODE_LENGTH)
    return (
        Submission(
            tracking_number=number,
            access_code_hash=code_hash(number, code),
            kind=intake.kind,
            state="received",
            authority_id=authority.id,
            listing=listing,
            subject_name=intake.subject_name if intake.kind == "tip" else "",
            subject_uscc=_uscc(intake.subject_uscc) if intake.kind == "tip" else "",
        ),
        code,
    )


MAIL_REF = "submission:"  # the outbox ref of a case's mail: MAIL_REF + its id

KIND_TITLES = {"objection": _("异议申请"), "repair": _("信用修复申请"), "tip": _("举报线索")}


def _acknowledge(session: Session, submission: Submission, email: str) -> None:
    kind = KIND_TITLES[submission.kind]
    subject = _("已收到您的%(kind)s：%(number)s", kind=kind, number=submission.tracking_number)
    body = _(
        "您的%(kind)s已收到，受理编号 %(number)s。\n"
        "请凭受理编号和提交时页面显示的查询码在本站“进度查询”页面查看办理进度。"
        "查询码不会通过邮件发送，请妥善保管。\n"
        "受理期限：%(due)s 前。",
        kind=kind,
        number=submission.tracking_number,
        due=submission.accept_due.isoformat(),
    )
    send_bilingual(session, submission, email, subject, body)


def send_bilingual(
    session: Session, submission: Submission, email: str, subject: Message, body: Message
) -> None:
    """A mail in Chinese with the English translation below it (the submitter's language is
    not known outside the request)."""
    mail.enqueue_bilingual(session, email, subject, [body], ref=f"{MAIL_REF}{submission.id}")


def track(session: Session, number: str, code: str) -> Submission | None:
    """The submission with this number, only when the code is its code; else None (a
    wrong number and a wrong code look the same)."""
    wanted = canonical(number)
    if not _TRACKING.fullmatch(wanted):
        return None
    submission = session.scalar(select(Submission).where(Submission.tracking_number == wanted))
    given = code_hash(wanted, code)
    stored = submission.access_code_hash if submission is not None else "0" * 64
    if not hmac.compare_digest(given, stored) or submission is None:
        return None
    return submission
