"""Public submissions: filing, tracking with the access code, limits, and their handling
in the back office (four eyes for a decision that removes or annuls a listing)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from registry import rules
from registry.db import utcnow
from registry.errors import ValidationError
from registry.models import Event, LogEntry, Notice, OutboxMail, Submission, SubmissionFile
from registry.rules import RuleViolation
from registry.services import casework, evidence, notices
from registry.services.submissions import (
    Intake,
    IntakeLimits,
    RateLimited,
    canonical,
    file_submission,
    format_code,
    track,
)

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n"


@pytest.fixture
def limits(tmp_path):
    return IntakeLimits(
        secret="s" * 40,
        per_address=3,
        per_target=2,
        max_files=2,
        max_bytes=1024,
        evidence_dir=tmp_path / "evidence",
        accept_days=3,
        decide_days=15,
    )


@pytest.fixture
def people(make):
    return {
        "clerk": make.actor("clerk"),
        "reviewer": make.actor("reviewer"),
        "reviewer2": make.actor("reviewer"),
        "ministry": make.actor("reviewer", "MIIT"),
    }


@pytest.fixture
def listing(make, people):
    return make.published_listing(people["clerk"], people["reviewer"], "B3")


def objection(**values) -> Intake:
    base = {
        "kind": "objection",
        "name": "深圳市某某网络科技有限公司",
        "capacity": "firm",
        "email": "legal@example.com",
        "statement": "处罚决定已被行政复议撤销。",
    }
    return Intake(**(base | values))


def file_objection(session, listing, limits, address="203.0.113.5", **values):
    return file_submission(
        session,
        objection(**values),
        authority=listing.authority,
        listing=listing,
        address=address,
        limits=limits,
    )


def test_objection_gets_a_tracking_number_and_a_code_only_its_hash_is_stored(
    session, listing, limits
):
    submission, code = file_objection(session, listing, limits)
    assert submission.tracking_number.startswith("YY")
    assert submission.state == "received"
    assert code not in submission.access_code_hash and len(code) == 16
    assert submission.accept_due == rules.today() + timedelta(days=3)
    event = session.scalar(
        select(Event).where(Event.entity_type == "submission", Event.entity_id == submission.id)
    )
    assert event.action == "receive" and event.actor_label == "public"
    assert "access_code_hash" not in event.after and "address_key" not in event.after
    assert "legal@example.com" not in str(event.after)  # personal data is not in the history


def test_track_needs_the_right_code_and_forgives_case_and_dashes(session, listing, limits):
    submission, code = file_objection(session, listing, limits)
    number = submission.tracking_number
    assert track(session, number.lower(), format_code(code).lower()) is submission
    assert track(session, number, code[:-1] + ("0" if code[-1] != "0" else "1")) is None
    assert track(session, number, "") is None
    assert track(session, "YY000000AAAAAA", code) is None
    assert track(session, "<script>", "x" * 5000) is None
    assert canonical("ab-cd io") == "ABCD10"


def test_objection_to_a_listing_not_in_force_is_refused(session, make, people, limits):
    draft = make.listing(people["clerk"])
    with pytest.raises(RuleViolation):
        file_objection(session, draft, limits)


def test_repair_only_for_a_ground_the_catalogue_makes_repairable(session, make, people, limits):
    b3 = make.published_listing(people["clerk"], people["reviewer"], "B3")
    with pytest.raises(RuleViolation) as refused:
        file_submission(
            session,
            objection(kind="repair"),
            authority=b3.authority,
            listing=b3,
            address="a",
            limits=limits,
        )
    assert refused.value.code == "not_repairable"
    b1 = make.published_listing(people["clerk"], people["reviewer"], "B1")
    submission, _code = file_submission(
        session,
        objection(kind="repair"),
        authority=b1.authority,
        listing=b1,
        address="a",
        limits=limits,
    )
    assert submission.tracking_number.startswith("XF")
    assert submission.decide_days == 7  # from the B1 repair rule


def test_required_fields_and_bad_email_are_field_errors(session, listing, limits):
    with pytest.raises(ValidationError) as bad:
        file_objection(session, listing, limits, name=" ", email="not-an-address", statement="")
    assert {"name", "email", "statement"} <= set(bad.value.errors)


def test_tip_may_be_anonymous_and_names_a_firm(session, make, limits):
    authority = make.authority("440000")
    submission, _code = file_submission(
        session,
        Intake(kind="tip", subject_name="某某公司", statement="违规发展用户"),
        authority=authority,
        listing=None,
        address="a",
        limits=limits,
    )
    assert submission.kind == "tip" and submission.private.name == ""
    assert session.scalar(select(func.count()).select_from(OutboxMail)) == 0


def test_rate_limit_per_address_and_per_target(session, make, people, limits):
    first = make.published_listing(people["clerk"], people["reviewer"])
    file_objection(session, first, limits, address="198.51.100.1")
    file_objection(session, first, limits, address="198.51.100.2")
    with pytest.raises(RateLimited) as per_target:
        file_objection(session, first, limits, address="198.51.100.3")
    assert 0 < per_target.value.retry_after <= 86401
    others = [make.published_listing(people["clerk"], people["reviewer"]) for _ in range(4)]
    file_objection(session, others[0], limits, address="198.51.100.9")
    file_objection(session, others[1], limits, address="198.51.100.9")
    file_objection(session, others[2], limits, address="198.51.100.9")
    with pytest.raises(RateLimited) as per_address:
        file_objection(session, others[3], limits, address="198.51.100.9")
    assert "地址" in per_address.value.message


def test_attachments_are_checked_by_content_and_counted(session, listing, limits):
    with pytest.raises(ValidationError):
        file_objection(session, listing, limits, files=[("a.pdf", b"<html><script>")])
    with pytest.raises(ValidationError):
        file_objection(session, listing, limits, files=[("a.pdf", PDF)] * 3)
    with pytest.raises(evidence.UploadTooLarge):
        file_objection(session, listing, limits, files=[("a.pdf", PDF + b" " * 2000)])
    assert session.scalar(select(func.count()).select_from(Submission)) == 0
    submission, _code = file_objection(session, listing, limits, files=[("../x/证明.pdf", PDF)])
    stored = submission.files[0]
    assert stored.original_name == "证明.pdf" and stored.media_type == evidence.PDF
    assert evidence.storage_path(limits.evidence_dir, stored.sha256).read_bytes() == PDF


def test_objection_upheld_needs_a_second_person_and_removes_the_listing(
    session, listing, limits, people
):
    submission, _code = file_objection(session, listing, limits)
    casework.accept(session, people["clerk"], submission)
    assert submission.decide_due == rules.today() + timedelta(days=15)
    casework.propose(
        session,
        people["clerk"],
        submission,
        outcome="upheld",
        effect="annul",
        reason="处罚决定已被撤销",
    )
    with pytest.raises(RuleViolation):  # a clerk cannot confirm
        casework.confirm(session, people["clerk"], submission)
    log_before = session.scalar(select(func.count()).select_from(LogEntry))
    casework.confirm(session, people["reviewer"], submission)
    assert submission.state == "decided" and submission.outcome == "upheld"
    assert listing.state == "annulled" and listing.end_reason == "处罚决定已被撤销"
    assert session.scalar(select(func.count()).select_from(LogEntry)) == log_before + 1
    mails = session.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()
    assert [m.recipient for m in mails] == ["legal@example.com"] * 2
    assert submission.tracking_number in mails[1].subject


def test_proposer_cannot_confirm_their_own_proposal(session, listing, limits, people):
    submission, _code = file_objection(session, listing, limits)
    casework.accept(session, people["reviewer"], submission)
    casework.propose(
        session, people["reviewer"], submission, outcome="upheld", effect="remove", reason="r"
    )
    with pytest.raises(RuleViolation) as refused:
        casework.confirm(session, people["reviewer"], submission)
    assert refused.value.code == "four_eyes"
    casework.confirm(session, people["reviewer2"], submission)
    assert listing.state == "removed"


def test_removal_not_allowed_by_the_ground_is_refused_at_the_proposal(
    session, make, people, limits
):
    d1 = make.published_listing(people["clerk"], people["reviewer"], "D1")
    submission, _code = file_objection(session, d1, limits)
    casework.accept(session, people["clerk"], submission)
    with pytest.raises(RuleViolation):
        casework.propose(
            session, people["clerk"], submission, outcome="upheld", effect="remove", reason="r"
        )


def test_other_authorities_cannot_handle_and_ministry_does_not_see_contacts(
    session, listing, limits, make, people
):
    submission, _code = file_objection(session, listing, limits)
    other = make.actor("clerk", "110000")
    with pytest.raises(RuleViolation):
        casework.accept(session, other, submission)
    with pytest.raises(RuleViolation):
        casework.accept(session, people["ministry"], submission)
    assert casework.may_see_personal_data(people["clerk"], submission)
    assert not casework.may_see_personal_data(people["ministry"], submission)


def test_refusal_and_rejection_need_a_reason(session, listing, limits, people):
    submission, _code = file_objection(session, listing, limits)
    with pytest.raises(ValidationError):
        casework.refuse(session, people["clerk"], submission, " ")
    casework.accept(session, people["clerk"], submission)
    with pytest.raises(RuleViolation):  # clerks do not decide
        casework.decide(session, people["clerk"], submission, outcome="rejected", reason="x")
    casework.decide(session, people["reviewer"], submission, outcome="rejected", reason="不成立")
    assert submission.state == "decided" and listing.state == "published"


def test_retention_deletes_personal_data_of_closed_cases_with_an_event(
    session, listing, limits, people, make
):
    submission, _code = file_objection(session, listing, limits, files=[("a.pdf", PDF)])
    open_one, _code2 = file_objection(session, listing, limits, address="other")
    casework.refuse(session, people["clerk"], submission, "材料不全")
    casework.add_note(session, people["clerk"], submission, "电话联系了申请人")
    system = make.system
    assert casework.purge_closed(session, system, 30) == 0
    later = utcnow() + timedelta(days=31)
    assert casework.purge_closed(session, system, 30, now=later) == 1
    session.flush()
    session.expire_all()
    assert submission.private is None and submission.files == [] and submission.notes == []
    assert submission.purged_at is not None and submission.refusal_reason == "材料不全"
    assert open_one.private is not None
    assert session.scalar(select(func.count()).select_from(SubmissionFile)) == 0
    refs = set(session.scalars(select(OutboxMail.ref)))
    assert f"submission:{submission.id}" not in refs
    actions = session.scalars(
        select(Event.action).where(
            Event.entity_type == "submission", Event.entity_id == submission.id
        )
    ).all()
    assert actions[-1] == "purge"


def test_confirmed_removal_drafts_a_removal_notice_another_reviewer_publishes(
    session, listing, limits, people, client
):
    submission, _code = file_objection(session, listing, limits)
    casework.accept(session, people["clerk"], submission)
    casework.propose(
        session, people["clerk"], submission, outcome="upheld", effect="remove", reason="已整改"
    )
    casework.confirm(session, people["reviewer"], submission)
    notice = session.scalar(select(Notice).where(Notice.listings.contains(listing)))
    assert notice is not None and notice.kind == "removal" and notice.state == "submitted"
    assert notice.authority_id == listing.authority_id
    assert listing.enterprise.name in notice.title and listing.enterprise.uscc in notice.body_md
    assert "已整改" not in notice.body_md  # the decision's reason is the submitter's case
    assert notice.slug not in client.get("/feeds/notices.atom").get_data(as_text=True)
    with pytest.raises(RuleViolation) as refused:
        notices.transition_notice(session, people["reviewer"], notice, "publish")
    assert refused.value.code == "four_eyes"
    notices.transition_notice(session, people["reviewer2"], notice, "publish")
    session.flush()
    assert notice.slug in client.get("/feeds/notices.atom").get_data(as_text=True)
