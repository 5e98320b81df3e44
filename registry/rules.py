"""The law as pure functions (no Flask, no database session).

Sources: 《电信业务经营许可管理办法》 (MIIT Order 42, 2017), articles 35–45, and the 2018
MIIT notice 《关于做好电信业务经营不良名单和失信名单管理工作的通知》. Every function names
the rule it encodes; the tests in tests/test_rules.py name the article.

Grounds, their terms and removal rules are data (the catalogue), passed in as arguments:
nothing here knows a ground code.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from registry.messages import _

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Art. 42 and the 2018 notice: a penalised operator is listed within 30 days of the decision.
LISTING_DEADLINE_DAYS = 30


class RuleViolation(Exception):
    """An action the rules forbid. `code` is stable for programs; `message` is for people
    (a Message from `registry.messages._`, translated where it is shown)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- dates -----------------------------------------------------------------------------


# The last whole second `today()` was asked at, and its day: every instant of one second
# has the same day in Asia/Shanghai (its offsets, past ones included, are whole hours).
_TODAY: tuple[int, date] = (-1, date.min)


def today(now: datetime | None = None) -> date:
    """Today's date in Asia/Shanghai, the calendar every deadline and term is counted in."""
    global _TODAY
    if now is None:
        second = int(time.time())
        kept = _TODAY
        if kept[0] == second:
            return kept[1]
        day = datetime.fromtimestamp(second, SHANGHAI).date()
        _TODAY = (second, day)
        return day
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime")
    return now.astimezone(SHANGHAI).date()


def add_months(start: date, months: int) -> date:
    """Calendar months later; the 31st or 29 Feb falls back to the month's last day."""
    if months < 0:
        raise ValueError("months must not be negative")
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


# --- the 30-day listing deadline (art. 42) -----------------------------------------------


def listing_deadline(decided_on: date) -> date:
    """Last day on which a listing for a penalty decided on `decided_on` is on time."""
    return decided_on + timedelta(days=LISTING_DEADLINE_DAYS)


def is_overdue(decided_on: date, listed_on: date | None, on: date) -> bool:
    """A listing is overdue when it was published after the deadline, or is still not
    published on date `on` after the deadline has passed."""
    deadline = listing_deadline(decided_on)
    if listed_on is not None:
        return listed_on > deadline
    return on > deadline


def days_left(decided_on: date, on: date) -> int:
    """Days left to list before the deadline (negative once overdue)."""
    return (listing_deadline(decided_on) - on).days


def check_decision_date(decided_on: date, on: date) -> None:
    """A decision date cannot lie in the future."""
    if decided_on > on:
        raise RuleViolation("future_decision", _("处理日期不能晚于今天"))


# --- terms and expiry (2018 notice; catalogue data) -----------------------------------


def compute_expiry(
    listed_on: date,
    term_kind: str,
    term_months: int | None,
    source_expires_on: date | None = None,
) -> date | None:
    """Expiry date fixed at publication from the ground's term then in force.

    The expiry date is the first day the listing is no longer in force. `fixed`: a term of
    N months counted as the Civil Code counts periods (arts. 201–202: the listing day is not
    counted and the term ends on the corresponding day N months later, which is still in
    force; a missing corresponding day means the month's last day), so the expiry date is
    the day after that; `until_removed`: no expiry (e.g. art. 38 annual reports);
    `source`: the end date of the source decision (joint punishment), required.
    """
    if term_kind == "fixed":
        if term_months is None or term_months <= 0:
            raise RuleViolation("bad_term", _("期限须为正的月数"))
        return add_months(listed_on, term_months) + timedelta(days=1)
    if term_kind == "until_removed":
        return None
    if term_kind == "source":
        if source_expires_on is None:
            raise RuleViolation(
                "source_expiry_missing",
                _("该事由的期限以原决定为准，请填写原决定的截止日期"),
            )
        if source_expires_on <= listed_on:
            raise RuleViolation("source_expiry_past", _("原决定的截止日期已过"))
        return source_expires_on
    raise RuleViolation("bad_term", _("未知的期限类型：%(kind)s", kind=repr(term_kind)))


class HasLifecycle(Protocol):
    state: str
    expires_on: date | None


def effective_state(listing: HasLifecycle, on: date) -> str:
    """The state as of date `on`: a published listing past its expiry date is expired,
    whether or not `registry sweep` has recorded it yet."""
    if listing.state == "published" and listing.expires_on is not None and on >= listing.expires_on:
        return "expired"
    return listing.state


def in_force(listing: HasLifecycle, on: date) -> bool:
    """In force (公示中): published, not removed or annulled, and `on` before its expiry date."""
    return effective_state(listing, on) == "published"


# --- which list (art. 42; 2018 notice) ------------------------------------------------


def required_list(measures: Iterable[str]) -> str | None:
    """Licence revocation sends the operator to the dishonesty list (art. 42); other
    penalties leave the choice to the ground."""
    return "dishonest" if "licence_revocation" in set(measures) else None


def check_list_for_sanction(list_code: str, measures: Iterable[str]) -> None:
    required = required_list(measures)
    if required is not None and list_code != required:
        raise RuleViolation(
            "revocation_goes_to_dishonest_list",
            _("吊销经营许可证的，列入失信名单而非不良名单（办法第42条）"),
        )


def check_ground_list(ground_list: str, list_code: str) -> None:
    if ground_list != list_code:
        raise RuleViolation("ground_list_mismatch", _("列入事由与名单类型不符"))


# --- state machine ---------------------------------------------------------------------

# Listings, sanctions and notices share the road to publication: a draft is submitted
# for review, then published or returned to draft.
_REVIEW: dict[tuple[str, str], str] = {
    ("draft", "submit"): "submitted",
    ("submitted", "return"): "draft",
    ("submitted", "publish"): "published",
}
LISTING_TRANSITIONS: dict[tuple[str, str], str] = {
    **_REVIEW,
    ("published", "remove"): "removed",
    ("published", "expire"): "expired",
    ("published", "annul"): "annulled",
}
SANCTION_TRANSITIONS: dict[tuple[str, str], str] = {**_REVIEW, ("published", "annul"): "annulled"}
NOTICE_TRANSITIONS: dict[tuple[str, str], str] = dict(_REVIEW)

# Submissions from the public: received → accepted (受理) | refused (不予受理); a decision
# that changes a listing is proposed by one handler and confirmed by a second person.
SUBMISSION_TRANSITIONS: dict[tuple[str, str], str] = {
    ("received", "accept"): "accepted",
    ("received", "refuse"): "refused",
    ("accepted", "propose"): "proposed",
    ("proposed", "return_proposal"): "accepted",
    ("proposed", "confirm"): "decided",
    ("accepted", "decide"): "decided",
}

EDITABLE_STATES = frozenset({"draft"})
# Actions that must carry a reason the public or the clerk can read.
ACTIONS_NEEDING_REASON = frozenset({"return", "remove", "annul"})


def next_state(
    state: str, action: str, transitions: dict[tuple[str, str], str] = LISTING_TRANSITIONS
) -> str:
    try:
        return transitions[(state, action)]
    except KeyError:
        raise RuleViolation(
            "bad_transition",
            _("当前状态（%(state)s）不能执行此操作（%(action)s）", state=state, action=action),
        ) from None


def check_reason(action: str, reason: str | None) -> None:
    if action in ACTIONS_NEEDING_REASON and not (reason or "").strip():
        raise RuleViolation("reason_required", _("此操作须填写理由"))


def check_editable(state: str) -> None:
    if state not in EDITABLE_STATES:
        raise RuleViolation("not_editable", _("只有草稿可以修改"))


# --- removal (art. 38; catalogue removal rules) ---------------------------------------


def check_early_removal(
    removal_rule: str, *, report_filed_on: date | None = None, filing_confirmed: bool = False
) -> None:
    """May a published listing leave the list before its expiry?

    `on_filing` (art. 38, missing annual report): only once the report is filed and the
    authority confirmed it. `expiry_or_early`: by decision (with a reason).
    `expiry_only`: never early (annulment for error stays possible). `source`: when the
    source decision is lifted (with a reason).
    """
    if removal_rule == "on_filing":
        if report_filed_on is None or not filing_confirmed:
            raise RuleViolation(
                "annual_report_not_confirmed",
                _("年报补报并经电信管理机构确认后方可移出（办法第38条）"),
            )
        return
    if removal_rule in ("expiry_or_early", "source"):
        return
    if removal_rule == "expiry_only":
        raise RuleViolation("no_early_removal", _("该事由只能期满移出"))
    raise RuleViolation("bad_removal_rule", _("未知的移出规则：%(rule)s", rule=repr(removal_rule)))


# --- who may act: roles, four eyes, tenancy -------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who acts, passed explicitly to every service (the CLI and tests build one too)."""

    user_id: int | None
    username: str
    role: str  # clerk | reviewer | admin | system
    authority_id: int
    is_ministry: bool


_CLERK_ACTIONS = frozenset(
    {
        "read",
        "create",
        "edit",
        "submit",
        "upload",
        "record_petition",
        "import",
        "handle_submission",
    }
)
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "clerk": _CLERK_ACTIONS,
    # A reviewer does what a clerk does, and reviews.
    "reviewer": _CLERK_ACTIONS
    | {
        "publish",
        "return",
        "remove",
        "annul",
        "decide_petition",
        "mark_public",
        "retract",
        "decide_submission",
    },
    "admin": frozenset({"read", "manage_users", "manage_catalogue"}),
    # The command line and the expiry sweep.
    "system": frozenset({"read", "create", "edit", "submit", "expire", "manage_catalogue"}),
}

# Actions by which a ministry reviewer may act on a bureau's submitted records (部省联动),
# and the ministry's batch import on a bureau's behalf: the import is the submission by a
# system actor of the listing authority, as with `registry import --authority`.
MINISTRY_CROSS_ACTIONS = frozenset({"publish", "return", "import"})


def may_read(actor: Actor, record_authority_id: int) -> bool:
    """A bureau reads its own records; the ministry reads everything."""
    return actor.is_ministry or actor.authority_id == record_authority_id


def may(actor: Actor, action: str, record_authority_id: int) -> bool:
    """Role and tenancy together: may `actor` do `action` on a record of that authority?"""
    if action not in ROLE_ACTIONS.get(actor.role, frozenset()):
        return False
    if action == "read":
        return may_read(actor, record_authority_id)
    if actor.authority_id == record_authority_id:
        return True
    return actor.is_ministry and action in MINISTRY_CROSS_ACTIONS


def is_cross_authority(actor: Actor, record_authority_id: int) -> bool:
    return actor.authority_id != record_authority_id


def check_may(actor: Actor, action: str, record_authority_id: int) -> None:
    if not may(actor, action, record_authority_id):
        raise RuleViolation("forbidden", _("无权执行此操作"))


# The catalogue of grounds is national: only the ministry's admins change it.
NATIONAL_ACTIONS = frozenset({"manage_catalogue"})


def check_national(actor: Actor, action: str) -> None:
    """Role check for actions on national data (no record authority)."""
    if action not in ROLE_ACTIONS.get(actor.role, frozenset()) or not actor.is_ministry:
        raise RuleViolation(
            "forbidden",
            _("只有工业和信息化部的管理员可以执行此操作"),
        )


def check_four_eyes(actor: Actor, submitted_by_id: int | None) -> None:
    """Four eyes: nobody publishes what they submitted themselves."""
    if submitted_by_id is not None and actor.user_id == submitted_by_id:
        raise RuleViolation(
            "four_eyes",
            _("不能发布自己提交的记录（双人复核）"),
        )
