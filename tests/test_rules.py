"""The law, one test per rule (registry/rules.py).

Sources: 《电信业务经营许可管理办法》 (MIIT Order 42, 2017) — "办法" — articles 35–45, and the
2018 MIIT notice 《关于做好电信业务经营不良名单和失信名单管理工作的通知》 — "2018 通知".
docs/DOMAIN.md states the same rules in prose.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from registry import rules
from registry.rules import Actor, RuleViolation

MIIT, GUANGDONG, BEIJING = 1, 44, 11


def listing(state: str = "published", expires_on: date | None = None) -> SimpleNamespace:
    return SimpleNamespace(state=state, expires_on=expires_on)


def actor(role: str, authority_id: int, user_id: int = 1) -> Actor:
    return Actor(
        user_id=user_id,
        username=f"{role}{user_id}",
        role=role,
        authority_id=authority_id,
        is_ministry=authority_id == MIIT,
    )


def violation_code(excinfo: pytest.ExceptionInfo[RuleViolation]) -> str:
    return excinfo.value.code


# --- 30-day listing deadline -------------------------------------------------------------


def test_listing_due_within_30_days_of_decision():
    """办法第42条 / 2018 通知: a penalised operator is listed within 30 days of the decision."""
    decided = date(2024, 1, 15)
    assert rules.LISTING_DEADLINE_DAYS == 30
    assert rules.listing_deadline(decided) == date(2024, 2, 14)
    # Across a month end and a leap February.
    assert rules.listing_deadline(date(2024, 2, 10)) == date(2024, 3, 11)
    assert rules.days_left(decided, date(2024, 1, 15)) == 30
    assert rules.days_left(decided, date(2024, 2, 14)) == 0
    assert rules.days_left(decided, date(2024, 2, 16)) == -2
    # Listed on the last day is on time.
    assert rules.is_overdue(decided, listed_on=date(2024, 2, 14), on=date(2024, 6, 1)) is False
    assert rules.is_overdue(decided, listed_on=decided, on=decided) is False


def test_listing_published_after_deadline_is_overdue():
    """办法第42条: a listing published on day 31 or later missed the 30-day deadline."""
    decided = date(2024, 1, 15)
    assert rules.is_overdue(decided, listed_on=date(2024, 2, 15), on=date(2024, 2, 15)) is True
    # Once published late it stays overdue; the reading date no longer matters.
    assert rules.is_overdue(decided, listed_on=date(2024, 3, 1), on=date(2030, 1, 1)) is True


def test_unpublished_listing_becomes_overdue_after_day_30():
    """办法第42条: a listing not yet published is overdue from day 31 after the decision."""
    decided = date(2024, 1, 15)
    assert rules.is_overdue(decided, listed_on=None, on=date(2024, 1, 20)) is False
    assert rules.is_overdue(decided, listed_on=None, on=date(2024, 2, 14)) is False
    assert rules.is_overdue(decided, listed_on=None, on=date(2024, 2, 15)) is True


def test_decision_date_in_future_rejected():
    """2018 通知 (处理日期 is a recorded field): a decision cannot be dated after today."""
    on = date(2024, 5, 1)
    rules.check_decision_date(date(2024, 5, 1), on)  # today is fine
    rules.check_decision_date(date(2019, 4, 30), on)
    with pytest.raises(RuleViolation) as excinfo:
        rules.check_decision_date(on + timedelta(days=1), on)
    assert violation_code(excinfo) == "future_decision"


# --- terms and expiry ------------------------------------------------------------------


def test_fixed_term_expiry_counts_calendar_months_from_listing():
    """2018 通知 (B2, B3: 3 years; D1–D3: 5 years): the term runs in calendar
    months from the listing date, fixed at publication. 民法典第201–202条: the listing day is
    not counted and the corresponding day N months later is the last day in force, so the
    expiry date (first day out of force) is the day after it."""
    assert rules.compute_expiry(date(2024, 3, 15), "fixed", 36) == date(2027, 3, 16)
    assert rules.compute_expiry(date(2024, 3, 15), "fixed", 60) == date(2029, 3, 16)
    assert rules.compute_expiry(date(2024, 11, 30), "fixed", 3) == date(2025, 3, 1)
    assert rules.compute_expiry(date(2024, 1, 31), "fixed", 1) == date(2024, 3, 1)
    assert rules.compute_expiry(date(2024, 12, 1), "fixed", 1) == date(2025, 1, 2)
    for bad in (None, 0, -12):
        with pytest.raises(RuleViolation) as excinfo:
            rules.compute_expiry(date(2024, 3, 15), "fixed", bad)
        assert violation_code(excinfo) == "bad_term"


def test_leap_day_term_ends_on_month_end():
    """2018 通知 (term in years): a listing dated 29 Feb is last in force on the last day of
    February (民法典第202条: no corresponding day → the month's last day)."""
    assert rules.compute_expiry(date(2024, 2, 29), "fixed", 36) == date(2027, 3, 1)
    assert rules.compute_expiry(date(2024, 2, 29), "fixed", 12) == date(2025, 3, 1)
    assert rules.compute_expiry(date(2024, 2, 29), "fixed", 48) == date(2028, 3, 1)


def test_until_removed_ground_has_no_expiry():
    """办法第38条 (B1, missing annual report): listed until removed, no expiry date."""
    assert rules.compute_expiry(date(2019, 5, 1), "until_removed", None) is None
    item = listing("published", expires_on=None)
    assert rules.in_force(item, date(2099, 12, 31)) is True
    assert rules.effective_state(item, date(2099, 12, 31)) == "published"


def test_source_term_requires_source_end_date():
    """联合惩戒 (D4): the term is the source decision's; its end date must be given and
    lie after the listing date."""
    listed = date(2024, 6, 1)
    assert rules.compute_expiry(listed, "source", None, date(2026, 6, 1)) == date(2026, 6, 1)
    with pytest.raises(RuleViolation) as excinfo:
        rules.compute_expiry(listed, "source", None)
    assert violation_code(excinfo) == "source_expiry_missing"
    for ended in (listed, date(2024, 5, 31)):
        with pytest.raises(RuleViolation) as excinfo:
            rules.compute_expiry(listed, "source", None, ended)
        assert violation_code(excinfo) == "source_expiry_past"


def test_unknown_term_kind_rejected():
    """Terms are catalogue data; an unknown kind is an error, not a silent default."""
    with pytest.raises(RuleViolation) as excinfo:
        rules.compute_expiry(date(2024, 6, 1), "forever", None)
    assert violation_code(excinfo) == "bad_term"


# --- in force ----------------------------------------------------------------------------


def test_listing_in_force_until_day_before_expiry():
    """2018 通知: in force while published and today is before the expiry date;
    past it the listing is expired even before `registry sweep` records it."""
    item = listing("published", expires_on=date(2027, 3, 15))
    assert rules.in_force(item, date(2024, 3, 15)) is True
    assert rules.in_force(item, date(2027, 3, 14)) is True
    assert rules.in_force(item, date(2027, 3, 15)) is False
    assert rules.in_force(item, date(2027, 3, 16)) is False
    assert rules.effective_state(item, date(2027, 3, 14)) == "published"
    assert rules.effective_state(item, date(2027, 3, 15)) == "expired"


def test_in_force_uses_shanghai_date_not_utc():
    """Today is the Asia/Shanghai date (UTC+8), not the server's or UTC's."""
    now = datetime(2026, 1, 1, 16, 30, tzinfo=UTC)  # 2026-01-02 00:30 in Shanghai
    assert rules.today(now=now) == date(2026, 1, 2)
    assert rules.today(now=datetime(2026, 1, 1, 15, 59, tzinfo=UTC)) == date(2026, 1, 1)
    item = listing("published", expires_on=date(2026, 1, 2))
    assert rules.in_force(item, rules.today(now=now)) is False
    assert rules.in_force(item, now.date()) is True  # what a UTC-date bug would show
    with pytest.raises(ValueError):
        rules.today(now=datetime(2026, 1, 1, 16, 30))  # naive: ambiguous


def test_today_changes_at_shanghai_midnight_however_often_it_is_asked(monkeypatch):
    """`today()` keeps the day of the last second it was asked at: asked many times in
    the last second of a day and then in the first of the next, each answer is right."""
    midnight = datetime(2026, 1, 1, 16, 0, tzinfo=UTC).timestamp()  # 00:00 in Shanghai
    clock = {"now": midnight - 0.999}
    monkeypatch.setattr(rules.time, "time", lambda: clock["now"])
    for step in range(1, 999):
        clock["now"] = midnight - 1 + step / 1000
        assert rules.today() == date(2026, 1, 1)
    clock["now"] = midnight
    assert rules.today() == date(2026, 1, 2)
    clock["now"] = midnight - 0.5  # a clock set back: the day of that instant again
    assert rules.today() == date(2026, 1, 1)
    monkeypatch.undo()
    assert rules.today() == datetime.now(rules.SHANGHAI).date()


@pytest.mark.parametrize(
    "state", ["draft", "submitted", "removed", "expired", "annulled"], ids=lambda s: s
)
def test_removed_annulled_and_unpublished_listings_are_not_in_force(state):
    """Only a published listing, not removed or annulled, is in force."""
    on = date(2025, 1, 1)
    assert rules.in_force(listing(state, expires_on=date(2030, 1, 1)), on) is False
    assert rules.in_force(listing(state, expires_on=None), on) is False
    assert rules.in_force(listing("published", expires_on=date(2030, 1, 1)), on) is True


# --- removal -----------------------------------------------------------------------------


def test_annual_report_listing_removed_only_after_filing_confirmed():
    """办法第38条: a missing-annual-report listing is removed once the operator files and
    the authority confirms the filing."""
    with pytest.raises(RuleViolation) as excinfo:
        rules.check_early_removal("on_filing")
    assert violation_code(excinfo) == "annual_report_not_confirmed"
    with pytest.raises(RuleViolation) as excinfo:
        rules.check_early_removal("on_filing", report_filed_on=date(2019, 6, 1))
    assert violation_code(excinfo) == "annual_report_not_confirmed"
    with pytest.raises(RuleViolation) as excinfo:
        rules.check_early_removal("on_filing", filing_confirmed=True)
    assert violation_code(excinfo) == "annual_report_not_confirmed"
    rules.check_early_removal("on_filing", report_filed_on=date(2019, 6, 1), filing_confirmed=True)


def test_early_removal_follows_the_grounds_removal_rule():
    """2018 通知: B2, B3, D2 may leave early by decision; D1, D3 only at expiry;
    D4 follows the source decision."""
    rules.check_early_removal("expiry_or_early")
    rules.check_early_removal("source")
    with pytest.raises(RuleViolation) as excinfo:
        rules.check_early_removal("expiry_only")
    assert violation_code(excinfo) == "no_early_removal"
    with pytest.raises(RuleViolation) as excinfo:
        rules.check_early_removal("whenever")
    assert violation_code(excinfo) == "bad_removal_rule"


# --- which list ------------------------------------------------------------------------


def test_revocation_goes_to_dishonesty_list():
    """办法第42条 / 2018 通知: licence revocation puts the operator on the dishonesty list,
    not the bad-conduct list."""
    assert rules.required_list(["fine", "licence_revocation"]) == "dishonest"
    assert rules.required_list(["warning", "fine"]) is None
    assert rules.required_list([]) is None
    rules.check_list_for_sanction("dishonest", ["licence_revocation"])
    rules.check_list_for_sanction("bad", ["fine", "order_to_rectify"])
    rules.check_list_for_sanction("dishonest", ["fine"])
    with pytest.raises(RuleViolation) as excinfo:
        rules.check_list_for_sanction("bad", ("fine", "licence_revocation"))
    assert violation_code(excinfo) == "revocation_goes_to_dishonest_list"


def test_ground_must_belong_to_the_chosen_list():
    """2018 通知: the bad-conduct list has its three grounds, the dishonesty list its own."""
    rules.check_ground_list("bad", "bad")
    rules.check_ground_list("dishonest", "dishonest")
    with pytest.raises(RuleViolation) as excinfo:
        rules.check_ground_list("dishonest", "bad")
    assert violation_code(excinfo) == "ground_list_mismatch"


# --- state machine ---------------------------------------------------------------------

STATES = ["draft", "submitted", "published", "removed", "expired", "annulled"]
ACTIONS = ["submit", "return", "publish", "remove", "expire", "annul"]
# The state machine of docs/DOMAIN.md, written out independently of rules.LISTING_TRANSITIONS.
EXPECTED_LISTING_TRANSITIONS = {
    ("draft", "submit"): "submitted",
    ("submitted", "publish"): "published",
    ("submitted", "return"): "draft",
    ("published", "remove"): "removed",
    ("published", "expire"): "expired",
    ("published", "annul"): "annulled",
}


@pytest.mark.parametrize(
    ("state", "action"),
    list(itertools.product(STATES, ACTIONS)),
    ids=lambda v: v,
)
def test_listing_state_transitions_follow_the_state_machine(state, action):
    """Draft → submitted → published → removed | expired; submitted → draft
    (returned); published → annulled. Every other state × action is refused."""
    expected = EXPECTED_LISTING_TRANSITIONS.get((state, action))
    if expected is not None:
        assert rules.next_state(state, action) == expected
    else:
        with pytest.raises(RuleViolation) as excinfo:
            rules.next_state(state, action)
        assert violation_code(excinfo) == "bad_transition"


def test_listing_transition_table_is_exactly_the_spec():
    """No extra transitions (e.g. un-removing, re-publishing an expired listing)."""
    assert rules.LISTING_TRANSITIONS == EXPECTED_LISTING_TRANSITIONS
    for terminal in ("removed", "expired", "annulled"):
        assert not any(s == terminal for s, _ in rules.LISTING_TRANSITIONS)


def test_sanctions_and_notices_are_never_removed_or_expired():
    """A sanction is published or annulled; a notice, once published, stays."""
    assert rules.next_state("published", "annul", rules.SANCTION_TRANSITIONS) == "annulled"
    for action in ("remove", "expire"):
        with pytest.raises(RuleViolation):
            rules.next_state("published", action, rules.SANCTION_TRANSITIONS)
    assert rules.next_state("submitted", "publish", rules.NOTICE_TRANSITIONS) == "published"
    for action in ACTIONS:
        with pytest.raises(RuleViolation):
            rules.next_state("published", action, rules.NOTICE_TRANSITIONS)


def test_only_drafts_are_editable():
    """Nothing is ever deleted and history is append-only: only a draft is edited."""
    rules.check_editable("draft")
    for state in STATES[1:]:
        with pytest.raises(RuleViolation) as excinfo:
            rules.check_editable(state)
        assert violation_code(excinfo) == "not_editable"


@pytest.mark.parametrize("action", ["return", "remove", "annul"])
def test_return_remove_annul_need_a_reason(action):
    """Returns, early removals and annulments are explained to the clerk or the public: a
    return, removal or annulment needs a reason; blank text does not count."""
    for reason in (None, "", "   \n\t"):
        with pytest.raises(RuleViolation) as excinfo:
            rules.check_reason(action, reason)
        assert violation_code(excinfo) == "reason_required"
    rules.check_reason(action, "企业已补报年报并经确认")


def test_submit_and_publish_need_no_reason():
    """Only return, remove and annul carry a reason."""
    for action in ("submit", "publish", "expire"):
        rules.check_reason(action, None)


# --- four eyes, roles, tenancy -----------------------------------------------------------


def test_nobody_publishes_own_submission():
    """Four eyes (双人复核): a reviewer publishes; nobody publishes what they
    themselves submitted."""
    reviewer = actor("reviewer", GUANGDONG, user_id=7)
    with pytest.raises(RuleViolation) as excinfo:
        rules.check_four_eyes(reviewer, submitted_by_id=7)
    assert violation_code(excinfo) == "four_eyes"
    rules.check_four_eyes(reviewer, submitted_by_id=8)


def test_bureau_reads_and_writes_only_its_own_records():
    """Tenancy: a bureau's users read and write their own authority's records only."""
    clerk = actor("clerk", GUANGDONG)
    reviewer = actor("reviewer", GUANGDONG, user_id=2)
    for user in (clerk, reviewer):
        assert rules.may_read(user, GUANGDONG) is True
        assert rules.may_read(user, BEIJING) is False
        assert rules.may_read(user, MIIT) is False
        for act in ("read", "create", "edit", "submit", "upload"):
            assert rules.may(user, act, GUANGDONG) is True
            assert rules.may(user, act, BEIJING) is False
            assert rules.may(user, act, MIIT) is False
    for act in ("publish", "return", "remove", "annul"):
        assert rules.may(reviewer, act, GUANGDONG) is True
        assert rules.may(reviewer, act, BEIJING) is False
        assert rules.may(reviewer, act, MIIT) is False
    with pytest.raises(RuleViolation) as excinfo:
        rules.check_may(clerk, "edit", BEIJING)
    assert violation_code(excinfo) == "forbidden"
    rules.check_may(clerk, "edit", GUANGDONG)


def test_ministry_reads_all_writes_own():
    """Tenancy: ministry users read everything and write the ministry's records."""
    clerk = actor("clerk", MIIT)
    reviewer = actor("reviewer", MIIT, user_id=2)
    for user in (clerk, reviewer):
        for authority in (MIIT, GUANGDONG, BEIJING):
            assert rules.may_read(user, authority) is True
            assert rules.may(user, "read", authority) is True
        for act in ("create", "edit", "submit", "upload"):
            assert rules.may(user, act, MIIT) is True
            assert rules.may(user, act, GUANGDONG) is False
    for act in ("remove", "annul"):
        assert rules.may(reviewer, act, MIIT) is True
        assert rules.may(reviewer, act, GUANGDONG) is False


def test_ministry_reviewer_may_publish_bureau_submission():
    """部省联动: ministry reviewers may publish (or return) any authority's submitted
    records, recorded as cross-authority; a ministry clerk may not."""
    reviewer = actor("reviewer", MIIT, user_id=2)
    assert rules.may(reviewer, "publish", GUANGDONG) is True
    assert rules.may(reviewer, "return", BEIJING) is True
    assert rules.is_cross_authority(reviewer, GUANGDONG) is True
    assert rules.is_cross_authority(reviewer, MIIT) is False
    assert rules.may(actor("clerk", MIIT), "publish", GUANGDONG) is False
    # The privilege is the ministry's, not every reviewer's.
    assert rules.may(actor("reviewer", BEIJING), "publish", GUANGDONG) is False


def test_clerk_cannot_publish():
    """Roles (录入员 enters, 审核员 checks and publishes): a clerk never publishes,
    returns, removes or annuls, even at their own authority."""
    clerk = actor("clerk", GUANGDONG)
    for act in ("publish", "return", "remove", "annul", "decide_petition", "mark_public"):
        assert rules.may(clerk, act, GUANGDONG) is False
    with pytest.raises(RuleViolation) as excinfo:
        rules.check_may(clerk, "publish", GUANGDONG)
    assert violation_code(excinfo) == "forbidden"


def test_admin_cannot_edit_records():
    """Roles (system admin: users, authorities, catalogue): an admin does not enter or
    publish records."""
    admin = actor("admin", MIIT)
    for act in ("create", "edit", "submit", "upload", "publish", "remove", "annul"):
        assert rules.may(admin, act, MIIT) is False
    assert rules.may(admin, "manage_users", MIIT) is True
    assert rules.may(admin, "manage_catalogue", MIIT) is True


def test_unknown_role_may_do_nothing():
    """Roles are clerk, reviewer, admin (and the system); anything else is refused."""
    assert rules.may(actor("guest", GUANGDONG), "read", GUANGDONG) is False


# --- purity ----------------------------------------------------------------------------


def test_rules_import_without_flask_or_sqlalchemy():
    """registry/rules.py is the law as pure functions: no web framework, no database."""
    code = (
        "import sys, registry.rules; "
        "assert not any(m.split('.')[0] in ('flask','sqlalchemy') for m in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
