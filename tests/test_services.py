"""Domain services: every change writes its Event in the same transaction; the rules of
rules.py hold when called through the services (the CLI and the forms share them)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from registry import rules
from registry.errors import ConflictError, ValidationError
from registry.models import Event, FormerName, Listing
from registry.rules import RuleViolation
from registry.services import enterprises, listings, petitions, sanctions
from registry.services.reference import save_ground


def events_for(session, entity) -> list[str]:
    session.flush()  # events are written with the next flush (sessions do not autoflush)
    return list(
        session.scalars(
            select(Event.action)
            .where(Event.entity_type == entity.__table__.name, Event.entity_id == entity.id)
            .order_by(Event.seq)
        )
    )


def test_services_and_rules_import_no_flask():
    """Services and rules are plain Python: the CLI, tests and other programs use them."""
    code = (
        "import sys, registry.rules, registry.services.listings, registry.services.sanctions, "
        "registry.services.enterprises, registry.services.petitions, registry.services.notices, "
        "registry.services.reference, registry.services.accounts; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'flask'], 'flask imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_listing_lifecycle_writes_an_event_per_step(session, make, today):
    """Draft → submitted → published → removed, each step an Event."""
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.listing(clerk, "B3")
    listings.submit_listing(session, clerk, listing)
    listings.publish_listing(session, reviewer, listing)
    listings.remove_listing(session, reviewer, listing, "已履行处罚决定，经决定提前移出")
    assert events_for(session, listing) == ["create", "submit", "publish", "remove"]
    publish_event = session.scalar(
        select(Event).where(Event.entity_id == listing.id, Event.action == "publish")
    )
    assert publish_event.before["state"] == "submitted"
    assert publish_event.after["state"] == "published"
    assert publish_event.actor_label == reviewer.username
    assert listing.state == "removed" and listing.end_reason


def test_event_sequence_increases_in_commit_order(session, make):
    clerk = make.actor("clerk")
    make.enterprise(clerk)
    session.flush()
    seqs = list(session.scalars(select(Event.seq).order_by(Event.id)))
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_publish_fixes_expiry_from_ground_term(session, make, today):
    """2018 notice: B3 carries a 3-year term, fixed when published."""
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer, "B3")
    assert listing.listed_on == today
    assert listing.expires_on == rules.add_months(today, 36) + timedelta(days=1)
    assert rules.in_force(listing, today)


def test_term_change_applies_to_later_publications_only(session, make, today):
    """A listing's expiry is fixed at publication from the term then in force."""
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    admin = make.actor("admin", "MIIT")
    first = make.published_listing(clerk, reviewer, "B2")
    ground = make.ground("B2")
    save_ground(session, admin, ground, term_months=24, expected_version=ground.version_id)
    second = make.published_listing(clerk, reviewer, "B2")
    assert first.expires_on == rules.add_months(today, 36) + timedelta(days=1)
    assert second.expires_on == rules.add_months(today, 24) + timedelta(days=1)
    assert "update" in events_for(session, ground)


def test_annual_report_listing_has_no_expiry_and_leaves_on_confirmed_filing(session, make, today):
    """办法第38条: B1 lasts until the report is filed and the authority confirms it."""
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer, "B1")
    assert listing.expires_on is None
    with pytest.raises(RuleViolation) as info:
        listings.remove_listing(session, reviewer, listing, "已补报", report_filed_on=today)
    assert info.value.code == "annual_report_not_confirmed"
    assert listing.state == "published"
    listings.remove_listing(
        session, reviewer, listing, "已补报并确认", report_filed_on=today, filing_confirmed=True
    )
    assert listing.state == "removed"


def test_revocation_cannot_go_to_bad_conduct_list(session, make):
    """办法第42条: a licence revocation goes to the dishonesty list."""
    clerk = make.actor("clerk")
    firm = make.enterprise(clerk)
    revocation = make.sanction(clerk, firm, measures=("licence_revocation",))
    with pytest.raises(RuleViolation) as info:
        make.listing(clerk, "B3", enterprise=firm, sanction=revocation)
    assert info.value.code == "revocation_goes_to_dishonest_list"
    listing = make.listing(clerk, "D1", enterprise=firm, sanction=revocation)
    assert listing.list_code == "dishonest"


def test_nobody_publishes_own_submission(session, make):
    """Four eyes: nobody publishes what they submitted."""
    reviewer = make.actor("reviewer")
    listing = make.listing(reviewer)
    listings.submit_listing(session, reviewer, listing)
    with pytest.raises(RuleViolation) as info:
        listings.publish_listing(session, reviewer, listing)
    assert info.value.code == "four_eyes"
    assert listing.state == "submitted"


def test_bureau_cannot_act_on_another_bureaus_listing(session, make):
    """Tenancy: a bureau writes its own authority's records only."""
    gd_clerk = make.actor("clerk", "440000")
    bj_reviewer = make.actor("reviewer", "110000")
    listing = make.listing(gd_clerk)
    listings.submit_listing(session, gd_clerk, listing)
    with pytest.raises(RuleViolation) as info:
        listings.publish_listing(session, bj_reviewer, listing)
    assert info.value.code == "forbidden"
    with pytest.raises(RuleViolation):
        listings.update_listing(session, make.actor("clerk", "110000"), listing, facts="x")


def test_ministry_reviewer_publishes_bureau_submission_marked_cross_authority(session, make):
    """部省联动: the ministry compiles the national lists; the Event says so."""
    gd_clerk = make.actor("clerk", "440000")
    miit_reviewer = make.actor("reviewer", "MIIT")
    listing = make.listing(gd_clerk)
    listings.submit_listing(session, gd_clerk, listing)
    listings.publish_listing(session, miit_reviewer, listing)
    session.flush()
    event = session.scalar(
        select(Event).where(Event.entity_id == listing.id, Event.action == "publish")
    )
    assert event.cross_authority is True
    with pytest.raises(RuleViolation):  # but the ministry does not remove bureau records
        listings.remove_listing(session, miit_reviewer, listing, "提前移出")


def test_returned_listing_goes_back_to_draft_with_reason(session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.listing(clerk)
    listings.submit_listing(session, clerk, listing)
    with pytest.raises(RuleViolation):
        listings.return_listing(session, reviewer, listing, "  ")
    listings.return_listing(session, reviewer, listing, "处理日期有误")
    assert listing.state == "draft" and listing.returned_reason == "处理日期有误"
    listings.update_listing(session, clerk, listing, facts="已更正")
    listings.submit_listing(session, clerk, listing)
    assert listing.returned_reason == ""


def test_published_listing_cannot_be_edited(session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer)
    with pytest.raises(RuleViolation) as info:
        listings.update_listing(session, clerk, listing, facts="悄悄修改")
    assert info.value.code == "not_editable"


def test_stale_form_version_is_a_conflict(session, make):
    """Optimistic locking: a form loaded at version N cannot overwrite version N+1."""
    clerk = make.actor("clerk")
    firm = make.enterprise(clerk)
    loaded_version = firm.version_id
    enterprises.update_enterprise(
        session, clerk, firm, address="广州市", expected_version=loaded_version
    )
    with pytest.raises(ConflictError):
        enterprises.update_enterprise(
            session, clerk, firm, address="深圳市", expected_version=loaded_version
        )
    assert firm.address == "广州市"


def test_rename_keeps_former_name(session, make):
    clerk = make.actor("clerk")
    firm = make.enterprise(clerk, name="深圳市旧名网络科技有限公司")
    enterprises.update_enterprise(session, clerk, firm, name="深圳市新名网络科技有限公司")
    assert [f.name for f in firm.former_names] == ["深圳市旧名网络科技有限公司"]
    enterprises.add_former_name(
        session, clerk, firm, "深圳市舊名網絡科技有限公司"
    )  # same, traditional
    assert (
        session.scalar(select(func.count(FormerName.id)).where(FormerName.enterprise_id == firm.id))
        == 1
    )


def test_bad_uscc_is_reported_at_the_field(session, make):
    clerk = make.actor("clerk")
    with pytest.raises(ValidationError) as info:
        make.enterprise(clerk, uscc="91110108551385082A")  # check character should be Q
    assert "uscc" in info.value.errors and "Q" in info.value.errors["uscc"]


def test_duplicate_uscc_rejected(session, make):
    clerk = make.actor("clerk")
    firm = make.enterprise(clerk)
    with pytest.raises(ValidationError) as info:
        make.enterprise(clerk, uscc=firm.uscc.lower())
    assert "uscc" in info.value.errors


def test_fine_needs_amount_and_decision_date_not_in_future(session, make, today):
    clerk = make.actor("clerk")
    firm = make.enterprise(clerk)
    with pytest.raises(ValidationError) as info:
        sanctions.record_sanction(
            session,
            clerk,
            firm,
            decision_no="粤通管罚〔2026〕999号",
            decided_on=today + timedelta(days=1),
            measures=["fine"],
        )
    assert set(info.value.errors) == {"decided_on", "fine_amount"}


def test_decision_number_variants_are_one_decision(session, make):
    clerk = make.actor("clerk")
    firm = make.enterprise(clerk)
    make_args = {"decided_on": rules.today(), "measures": ["warning"]}
    sanctions.record_sanction(session, clerk, firm, decision_no="粤通管罚〔2025〕77号", **make_args)
    with pytest.raises(ValidationError):
        sanctions.record_sanction(
            session, clerk, firm, decision_no="粵通管罰[2025]77號", **make_args
        )


def test_publishing_listing_publishes_its_submitted_sanction(session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    firm = make.enterprise(clerk)
    sanction = make.sanction(clerk, firm)
    listing = make.listing(clerk, "B3", enterprise=firm, sanction=sanction)
    listings.submit_listing(session, clerk, listing)
    with pytest.raises(RuleViolation) as info:
        listings.publish_listing(session, reviewer, listing)
    assert info.value.code == "sanction_not_submitted"
    sanctions.submit_sanction(session, clerk, sanction)
    listings.publish_listing(session, reviewer, listing)
    assert sanction.state == "published" and sanction.published_by_id == reviewer.user_id


def test_sweep_expires_due_listings_with_event(session, make, today):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer, "B3")
    assert listings.expire_due(session, make.system, today) == []
    later = listing.expires_on
    assert listing in listings.expire_due(session, make.system, later)
    assert listing.state == "expired" and events_for(session, listing)[-1] == "expire"


def test_petition_recorded_and_decided_by_reviewer(session, make, today):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer)
    petition = petitions.record_petition(
        session, clerk, listing, kind="objection", petitioner="某某公司", received_on=today
    )
    with pytest.raises(RuleViolation):
        petitions.decide_petition(session, clerk, petition, outcome_state="upheld", outcome="x")
    petitions.decide_petition(
        session, reviewer, petition, outcome_state="rejected", outcome="事实清楚"
    )
    assert petition.state == "rejected"
    assert events_for(session, petition) == ["create", "decide"]


def test_overdue_listings_are_found_by_rule(session, make, today):
    """办法第42条: listed within 30 days of the decision."""
    clerk = make.actor("clerk")
    late = make.listing(clerk, decided_on=today - timedelta(days=31))
    on_time = make.listing(clerk, decided_on=today - timedelta(days=30))
    drafts = session.scalars(select(Listing).where(Listing.id.in_([late.id, on_time.id]))).all()
    overdue = {
        item.id for item in drafts if rules.is_overdue(item.decided_on, item.listed_on, today)
    }
    assert overdue == {late.id}


def test_only_ministry_admins_change_the_national_catalogue(session, make):
    """Grounds are a national catalogue; a bureau admin cannot change terms."""
    ground = make.ground("B3")
    with pytest.raises(RuleViolation) as info:
        save_ground(session, make.actor("admin", "440000"), ground, term_months=12)
    assert info.value.code == "forbidden" and ground.term_months == 36
    with pytest.raises(RuleViolation):
        save_ground(session, make.actor("reviewer", "MIIT"), ground, term_months=12)
    save_ground(session, make.actor("admin", "MIIT"), ground, term_months=12)
    assert ground.term_months == 12


def test_rolled_back_savepoint_does_not_reuse_event_numbers(session, make):
    """Event numbers reserved inside a savepoint that is rolled back are not handed out
    again from a stale cache: every number stays unique."""
    clerk = make.actor("clerk")
    for _ in range(3):
        make.enterprise(clerk)
    nested = session.begin_nested()
    for _ in range(4):  # uses up the current block and reserves a new one inside
        make.enterprise(clerk)
    nested.rollback()  # the counter goes back; the rest of the block must be forgotten
    for _ in range(10):
        make.enterprise(clerk)
    session.flush()
    seqs = list(session.scalars(select(Event.seq)))
    assert len(seqs) == len(set(seqs))
