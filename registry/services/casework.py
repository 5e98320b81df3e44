"""Handling public submissions in the back office (受理、办理、决定).

The handling authority's clerks and reviewers accept or refuse a submission within its
acceptance time limit, assign it, keep notes and decide it within its decision time limit.
A decision that removes or annuls a listing is proposed by one person and confirmed by a
reviewer who is not that person (four eyes); the confirmation removes or annuls the
listing through services.listings, so the removal reaches the pages, search, feeds and
the publication log like any other, and drafts the removal notice (移出公告), which another
reviewer publishes. A decision without effect on a list (a refused or
rejected case, a tip-off dealt with) is taken by a reviewer in one step. The submitter is
told by mail when an address was given. Personal data of cases closed longer than the
retention period is deleted by `purge_closed` (registry sweep), with an Event.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import TypedDict, Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import mail, rules
from registry.db import utcnow
from registry.errors import ValidationError
from registry.messages import _
from registry.models import OUTCOMES, Submission, SubmissionNote, User
from registry.rules import (
    SUBMISSION_TRANSITIONS,
    Actor,
    RuleViolation,
    check_four_eyes,
    next_state,
)
from registry.services import listings, notice_drafts
from registry.services.history import check_change, record_event, recorded, snapshot
from registry.services.submissions import KIND_TITLES, MAIL_REF, send_bilingual

MAX_REASON = 5000


def may_see_personal_data(actor: Actor, submission: Submission) -> bool:
    """Who submitted and how to reach them: the handling authority only (not the ministry
    reading a bureau's queue)."""
    return actor.authority_id == submission.authority_id and actor.role in ("clerk", "reviewer")


class AsLoaded(TypedDict, total=False):
    """The version of the case the form was loaded at (a stale form is refused)."""

    expected_version: int | None


class Decision(AsLoaded):
    """What a reviewer decides: upheld or rejected, and why."""

    outcome: str
    reason: str


class Proposal(Decision):
    """A decision that also removes or annuls the listing (`effect`)."""

    effect: str


DECIDING = ("return_proposal", "confirm", "decide")  # a reviewer's steps; the rest a handler's


def _step(actor: Actor, submission: Submission, action: str, loaded: AsLoaded) -> str:
    permission = "decide_submission" if action in DECIDING else "handle_submission"
    check_change(actor, submission, permission, loaded.get("expected_version"))
    return next_state(submission.state, action, SUBMISSION_TRANSITIONS)


@contextmanager
def _stepping(
    session: Session,
    actor: Actor,
    submission: Submission,
    action: str,
    loaded: AsLoaded,
    reason: str | None = None,
) -> Iterator[str]:
    """Check the step (and its reason, when it takes one), then make the block's change in
    the new state as one recorded Event; the block gets the checked reason."""
    new_state = _step(actor, submission, action, loaded)
    checked = "" if reason is None else _reason(reason)
    with recorded(session, actor, submission, action, reason=checked):
        submission.state = new_state
        yield checked


def _reason(text: str, field: str = "reason") -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError({field: _("请填写理由")})
    if len(text) > MAX_REASON:
        raise ValidationError({field: _("不能超过 %(limit)d 个字符", limit=MAX_REASON)})
    return text


def accept(
    session: Session, actor: Actor, submission: Submission, **loaded: Unpack[AsLoaded]
) -> Submission:
    """受理: the decision time limit starts today."""
    with _stepping(session, actor, submission, "accept", loaded):
        submission.accepted_at = utcnow()
        submission.accepted_by_id = actor.user_id
        submission.decide_due = rules.today() + timedelta(days=submission.decide_days)
        if submission.assigned_to_id is None:
            submission.assigned_to_id = actor.user_id
    return submission


def refuse(
    session: Session, actor: Actor, submission: Submission, reason: str, **loaded: Unpack[AsLoaded]
) -> Submission:
    """不予受理, with the reason the submitter reads on /track."""
    with _stepping(session, actor, submission, "refuse", loaded, reason) as checked:
        submission.refusal_reason = checked
        submission.closed_at = utcnow()
        submission.decided_on = rules.today()
    _tell(session, submission, _("不予受理"), submission.refusal_reason)
    return submission


def assign(
    session: Session,
    actor: Actor,
    submission: Submission,
    user: User | None,
    **loaded: Unpack[AsLoaded],
) -> Submission:
    """Give the case to a clerk or reviewer of the handling authority (None: nobody)."""
    check_change(actor, submission, "handle_submission", loaded.get("expected_version"))
    if user is not None and (
        user.authority_id != submission.authority_id
        or not user.active
        or user.role not in ("clerk", "reviewer")
    ):
        raise ValidationError({"user": _("只能分配给本机构的在岗经办人员")})
    with recorded(session, actor, submission, "assign"):
        submission.assigned_to_id = user.id if user is not None else None
    return submission


def add_note(session: Session, actor: Actor, submission: Submission, body: str) -> SubmissionNote:
    """An internal note; its Event records that a note was added, not what it says (notes
    may quote personal data, deleted with it)."""
    check_change(actor, submission, "handle_submission", None)
    body = _reason(body, "body")
    note = SubmissionNote(submission=submission, author_id=actor.user_id, body=body)
    session.add(note)
    before = snapshot(submission)
    record_event(session, actor, submission, "note", before=before)
    return note


def _check_decision(submission: Submission, outcome: str, effect: str) -> None:
    if outcome not in OUTCOMES:
        raise ValidationError({"outcome": _("请选择处理结果")})
    if effect not in ("none", "remove", "annul"):
        raise ValidationError({"effect": _("请选择对名单记录的处理")})
    if effect != "none" and (outcome != "upheld" or submission.listing is None):
        raise ValidationError({"effect": _("只有成立的异议或信用修复才能移出或撤销名单记录")})
    if effect == "remove" and submission.listing is not None:
        rules.check_early_removal(
            submission.listing.ground.removal_rule,
            report_filed_on=rules.today(),
            filing_confirmed=True,
        )


def _decision(
    actor: Actor, submission: Submission, action: str, decision: Decision, effect: str
) -> tuple[str, str]:
    """The state a decision step leads to and its checked reason."""
    new_state = _step(actor, submission, action, decision)
    reason = _reason(decision["reason"])
    _check_decision(submission, decision["outcome"], effect)
    return new_state, reason


def propose(
    session: Session, actor: Actor, submission: Submission, **proposal: Unpack[Proposal]
) -> Submission:
    """A handler proposes a decision that changes a listing; a second person confirms."""
    outcome, effect = proposal["outcome"], proposal["effect"]
    new_state, reason = _decision(actor, submission, "propose", proposal, effect)
    if effect == "none":
        raise ValidationError({"effect": _("不涉及名单记录的决定由审核员直接作出")})
    with recorded(session, actor, submission, "propose", reason=reason):
        submission.state = new_state
        submission.outcome, submission.effect = outcome, effect
        submission.decision_reason = reason
        submission.proposed_by_id = actor.user_id
        submission.proposed_at = utcnow()
    return submission


def return_proposal(
    session: Session, actor: Actor, submission: Submission, reason: str, **loaded: Unpack[AsLoaded]
) -> Submission:
    """The second person does not confirm: back to the handler, with a reason."""
    with _stepping(session, actor, submission, "return_proposal", loaded, reason):
        submission.outcome, submission.effect = "", "none"
        submission.proposed_by_id = None
        submission.proposed_at = None
    return submission


def confirm(
    session: Session, actor: Actor, submission: Submission, **loaded: Unpack[AsLoaded]
) -> Submission:
    """A reviewer other than the proposer confirms: the listing is removed or annulled
    (its own Event and publication-log entry), its removal notice is drafted and submitted
    for another reviewer to publish (four eyes, as every notice), then the case is decided."""
    new_state = _step(actor, submission, "confirm", loaded)
    check_four_eyes(actor, submission.proposed_by_id)
    listing = submission.listing
    if listing is None:  # a proposal always concerns a listing (`_check_decision`)
        raise RuleViolation("no_listing", _("该申请未涉及名单记录"))
    if submission.effect == "remove":
        listings.remove_listing(
            session,
            actor,
            listing,
            submission.decision_reason,
            report_filed_on=rules.today(),
            filing_confirmed=True,
        )
    elif submission.effect == "annul":
        listings.annul_listing(session, actor, listing, submission.decision_reason)
    notice_drafts.listing_removal_notice(session, actor, listing, f"removal-listing-{listing.id}")
    return _close(session, actor, submission, new_state, "confirm")


def decide(
    session: Session, actor: Actor, submission: Submission, **decision: Unpack[Decision]
) -> Submission:
    """A reviewer decides a case that changes no listing, in one step."""
    new_state, reason = _decision(actor, submission, "decide", decision, "none")
    submission.outcome, submission.effect = decision["outcome"], "none"
    submission.decision_reason = reason
    return _close(session, actor, submission, new_state, "decide")


def _close(
    session: Session, actor: Actor, submission: Submission, new_state: str, action: str
) -> Submission:
    before = snapshot(submission)
    submission.state = new_state
    submission.decided_by_id = actor.user_id
    submission.decided_on = rules.today()
    submission.closed_at = utcnow()
    session.flush()
    record_event(
        session, actor, submission, action, before=before, reason=submission.decision_reason
    )
    label = _("成立") if submission.outcome == "upheld" else _("不成立")
    _tell(session, submission, label, submission.decision_reason)
    return submission


def _tell(session: Session, submission: Submission, result: str, reason: str) -> None:
    """Mail the submitter the decision, when they gave an address."""
    private = submission.private
    if private is None or not private.email or not mail.valid_address(private.email):
        return
    kind = KIND_TITLES[submission.kind]
    subject = _("%(kind)s %(number)s 已办结", kind=kind, number=submission.tracking_number)
    body = _(
        "您的%(kind)s（受理编号 %(number)s）已于 %(day)s 办结。\n结果：%(result)s\n理由：%(reason)s\n"
        "可凭受理编号和查询码在本站“进度查询”页面查看。",
        kind=kind,
        number=submission.tracking_number,
        day=(submission.decided_on or rules.today()).isoformat(),
        result=result,
        reason=reason,
    )
    send_bilingual(session, submission, private.email, subject, body)


def purge_closed(session: Session, actor: Actor, days: int, now: datetime | None = None) -> int:
    """Delete the personal data (submitter, contact, statement, files, notes, mail) of the
    cases closed more than `days` days ago; the case itself, its decision and its history
    stay. One Event per case. Returns how many cases were purged."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    due = session.scalars(
        select(Submission)
        .where(
            Submission.closed_at.is_not(None),
            Submission.closed_at <= cutoff,
            Submission.purged_at.is_(None),
        )
        .order_by(Submission.id)
    ).all()
    for submission in due:
        with recorded(session, actor, submission, "purge", reason=f"retention {days} days"):
            submission.private = None
            submission.files.clear()
            submission.notes.clear()
            submission.address_key = ""
            submission.purged_at = utcnow()
        mail.forget(session, f"{MAIL_REF}{submission.id}")
    return len(due)


def overdue(submission: Submission, on: date) -> bool:
    """Past its acceptance or decision time limit and still open."""
    if submission.state == "received":
        return on > submission.accept_due
    if submission.state in ("accepted", "proposed") and submission.decide_due is not None:
        return on > submission.decide_due
    return False
