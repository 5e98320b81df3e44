"""List entries (名单记录): draft → submitted → published → removed | expired | annulled."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple, Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import rules
from registry.db import utcnow
from registry.errors import ValidationError
from registry.messages import _
from registry.models import Campaign, Enterprise, Ground, ImportBatch, Listing, Sanction
from registry.rules import (
    Actor,
    RuleViolation,
    check_four_eyes,
    check_may,
    check_reason,
    next_state,
)
from registry.services.history import (
    check_change,
    flush,
    record_event,
    record_new,
    recorded,
    snapshot,
)
from registry.services.import_batches import check_not_importer
from registry.services.sanctions import publish_sanction
from registry.services.workflow import StepOptions, check_draft_edit

EDITABLE = ("ground", "decided_on", "sanction", "facts", "source_expires_on", "campaign")


class SanctionLink(NamedTuple):
    """What the listing rules read of the penalty decision behind a listing."""

    authority_id: int
    measures: list[str]
    state: str
    same_firm: bool  # the decision is the listing's firm's


class ListingFacts(NamedTuple):
    """What the listing rules read of a listing: a Listing's (`facts_of`) or a row's."""

    authority_id: int
    state: str
    list_code: str
    ground: Ground
    decided_on: date
    source_expires_on: date | None
    submitted_by_id: int | None
    sanction: SanctionLink | None


def facts_of(listing: Listing) -> ListingFacts:
    sanction = listing.sanction
    return ListingFacts(
        listing.authority_id,
        listing.state,
        listing.list_code,
        listing.ground,
        listing.decided_on,
        listing.source_expires_on,
        listing.submitted_by_id,
        None
        if sanction is None
        else SanctionLink(
            sanction.authority_id,
            sanction.measures,
            sanction.state,
            sanction.enterprise is listing.enterprise,
        ),
    )


def _check_consistency(listing: Listing, on: date) -> None:
    check_consistency(facts_of(listing), on)


def check_consistency(listing: ListingFacts, on: date) -> None:
    """The rules a listing must meet before it leaves the clerk's hands."""
    rules.check_decision_date(listing.decided_on, on)
    rules.check_ground_list(listing.ground.list_code, listing.list_code)
    if listing.sanction is not None:
        if not listing.sanction.same_firm:
            raise RuleViolation(
                "sanction_other_firm",
                _("处罚决定不属于该经营者"),
            )
        rules.check_list_for_sanction(listing.list_code, listing.sanction.measures)
    if listing.ground.term_kind == "source" and listing.source_expires_on is None:
        raise RuleViolation(
            "source_expiry_missing",
            _("该事由的期限以原决定为准，请填写原决定的截止日期"),
        )


def _clean(values: dict[str, Any], on: date) -> dict[str, Any]:
    errors: dict[str, str] = {}
    if "ground" in values and not isinstance(values["ground"], Ground):
        errors["ground"] = _("请选择列入事由")
    elif "ground" in values and not values["ground"].active:
        errors["ground"] = _("该列入事由已停用")
    if "decided_on" in values:
        if not isinstance(values["decided_on"], date):
            errors["decided_on"] = _("请填写处理日期")
        elif values["decided_on"] > on:
            errors["decided_on"] = _("处理日期不能晚于今天")
    if (
        "sanction" in values
        and values["sanction"] is not None
        and not isinstance(values["sanction"], Sanction)
    ):
        errors["sanction"] = _("未知的处罚决定")
    if values.get("campaign") is not None and not isinstance(values["campaign"], Campaign):
        errors["campaign"] = _("未知的专项行动")
    if "facts" in values:
        values["facts"] = (values["facts"] or "").strip()
    if errors:
        raise ValidationError(errors)
    return values


def create_listing(
    session: Session, actor: Actor, enterprise: Enterprise, **values: Any
) -> Listing:
    """A draft listing of the actor's authority; the list follows from the ground. The
    values are those of `new_listing`."""
    return record_new(session, actor, new_listing(actor, enterprise, **values))


def new_listing(
    actor: Actor,
    enterprise: Enterprise,
    *,
    ground: Ground,
    decided_on: date,
    sanction: Sanction | None = None,
    facts: str = "",
    source_expires_on: date | None = None,
    campaign: Campaign | None = None,
    on: date | None = None,
) -> Listing:
    """The checked draft `create_listing` records, not yet added to a session."""
    check_may(actor, "create", actor.authority_id)
    on = on or rules.today()
    _clean(
        {"ground": ground, "decided_on": decided_on, "sanction": sanction, "campaign": campaign},
        on,
    )
    listing = Listing(
        authority_id=actor.authority_id,
        enterprise=enterprise,
        list_code=ground.list_code,
        ground=ground,
        sanction=sanction,
        decided_on=decided_on,
        facts=(facts or "").strip(),
        source_expires_on=source_expires_on,
        campaign=campaign,
        created_by_id=actor.user_id,
    )
    check_new_listing(actor, facts_of(listing), campaign, on)
    return listing


def check_new_listing(
    actor: Actor, listing: ListingFacts, campaign: Campaign | None, on: date
) -> None:
    """The checks of `new_listing` on a draft of the actor's authority."""
    check_may(actor, "create", actor.authority_id)
    _clean({"ground": listing.ground, "decided_on": listing.decided_on, "campaign": campaign}, on)
    if listing.sanction is not None and listing.sanction.authority_id != actor.authority_id:
        raise RuleViolation("forbidden", _("不能引用其他机构的处罚决定"))
    check_consistency(listing, on)


def update_listing(
    session: Session,
    actor: Actor,
    listing: Listing,
    *,
    expected_version: int | None = None,
    on: date | None = None,
    **values: Any,
) -> Listing:
    check_draft_edit(actor, listing, expected_version)
    on = on or rules.today()
    cleaned = _clean({k: v for k, v in values.items() if k in EDITABLE}, on)
    with recorded(session, actor, listing, "update"):
        for key, value in cleaned.items():
            setattr(listing, key, value)
        if "ground" in cleaned:
            listing.list_code = cleaned["ground"].list_code
        _check_consistency(listing, on)
    return listing


def _transition(
    session: Session, actor: Actor, listing: Listing, action: str, **options: Unpack[StepOptions]
) -> tuple[str, dict[str, Any]]:
    """Check who may act and whether the state allows it; returns (new state, snapshot)."""
    check_change(actor, listing, action, options.get("expected_version"))
    check_reason(action, options.get("reason", ""))
    return next_state(listing.state, action), snapshot(listing)


def _finish(
    session: Session,
    actor: Actor,
    listing: Listing,
    action: str,
    new_state: str,
    before: dict[str, Any],
    reason: str,
) -> Listing:
    listing.state = new_state
    flush(session)
    record_event(session, actor, listing, action, before=before, reason=reason)
    return listing


def submit_listing(
    session: Session, actor: Actor, listing: Listing, *, on: date | None = None, **kw: Any
) -> Listing:
    new_state, before = _transition(session, actor, listing, "submit", **kw)
    mark_submitted(actor, listing, on or rules.today())
    return _finish(session, actor, listing, "submit", new_state, before, "")


def mark_submitted(actor: Actor, listing: Listing, on: date) -> str:
    """Check a submission and stamp it on the object; returns the new state (not yet set)."""
    new_state = check_submit(actor, facts_of(listing), on)
    for key, value in submission_values(actor).items():
        setattr(listing, key, value)
    return new_state


def check_submit(actor: Actor, listing: ListingFacts, on: date) -> str:
    """The checks of a submission; returns the new state."""
    check_may(actor, "submit", listing.authority_id)
    new_state = next_state(listing.state, "submit")
    check_consistency(listing, on)
    return new_state


def submission_values(actor: Actor) -> dict[str, Any]:
    """The columns a checked submission sets."""
    return {"submitted_by_id": actor.user_id, "submitted_at": utcnow(), "returned_reason": ""}


def return_listing(
    session: Session, actor: Actor, listing: Listing, reason: str, **kw: Any
) -> Listing:
    """A reviewer sends a submission back to the clerk with a reason (退回)."""
    new_state, before = _transition(session, actor, listing, "return", reason=reason, **kw)
    listing.returned_reason = reason.strip()
    return _finish(session, actor, listing, "return", new_state, before, reason.strip())


def publish_listing(
    session: Session, actor: Actor, listing: Listing, *, at: datetime | None = None, **kw: Any
) -> Listing:
    """Publish (公示): four eyes; the expiry is fixed now from the ground's term in force.

    `at` (default: now) is for loading historical records (demo, migrations of old lists).
    """
    new_state, before = _transition(session, actor, listing, "publish", **kw)
    if listing.import_batch_id is not None and listing.submitted_by_id is None:
        check_not_importer(actor, session.get(ImportBatch, listing.import_batch_id))
    at = at or utcnow()
    if check_publish(actor, listing, at) and listing.sanction is not None:
        publish_sanction(session, actor, listing.sanction)
    mark_published(actor, listing, at)
    return _finish(session, actor, listing, "publish", new_state, before, "")


def check_publish(actor: Actor, listing: Listing, at: datetime) -> bool:
    """The checks of publishing at `at`; True when the penalty decision behind the listing
    is to be published first (it must have been submitted)."""
    return check_publish_facts(actor, facts_of(listing), at)


def check_publish_facts(actor: Actor, listing: ListingFacts, at: datetime) -> bool:
    """`check_publish` of a listing given as its facts."""
    check_may(actor, "publish", listing.authority_id)
    next_state(listing.state, "publish")
    check_four_eyes(actor, listing.submitted_by_id)
    check_consistency(listing, rules.today(at))
    if listing.sanction is not None and listing.sanction.state != "published":
        if listing.sanction.state != "submitted":
            raise RuleViolation(
                "sanction_not_submitted",
                _("所依据的处罚决定尚未提交"),
            )
        return True
    return False


def publication_values(actor: Actor, listing: Listing, at: datetime) -> dict[str, Any]:
    """The columns a checked publication at `at` sets: listed today, expiry fixed from the
    ground's term now in force, who published it and when."""
    return publication_row_values(actor, listing.ground, listing.source_expires_on, at)


def publication_row_values(
    actor: Actor, ground: Ground, source_expires_on: date | None, at: datetime
) -> dict[str, Any]:
    """`publication_values` of a listing on `ground` given its source decision's end."""
    on = rules.today(at)
    return {
        "listed_on": on,
        "expires_on": rules.compute_expiry(
            on, ground.term_kind, ground.term_months, source_expires_on
        ),
        "published_by_id": actor.user_id,
        "published_at": at,
    }


def mark_published(actor: Actor, listing: Listing, at: datetime) -> None:
    """Stamp a checked publication on the object (publication_values)."""
    for key, value in publication_values(actor, listing, at).items():
        setattr(listing, key, value)


def remove_listing(
    session: Session,
    actor: Actor,
    listing: Listing,
    reason: str,
    *,
    report_filed_on: date | None = None,
    filing_confirmed: bool = False,
    **kw: Any,
) -> Listing:
    """Early removal (提前移出) under the ground's removal rule, e.g. art. 38 once the annual
    report is filed and confirmed."""
    new_state, before = _transition(session, actor, listing, "remove", reason=reason, **kw)
    rules.check_early_removal(
        listing.ground.removal_rule,
        report_filed_on=report_filed_on,
        filing_confirmed=filing_confirmed,
    )
    _end(listing, actor, reason)
    return _finish(session, actor, listing, "remove", new_state, before, reason.strip())


def annul_listing(
    session: Session, actor: Actor, listing: Listing, reason: str, **kw: Any
) -> Listing:
    """Annul (撤销): listed in error, or the decision was overturned."""
    new_state, before = _transition(session, actor, listing, "annul", reason=reason, **kw)
    _end(listing, actor, reason)
    return _finish(session, actor, listing, "annul", new_state, before, reason.strip())


def _end(listing: Listing, actor: Actor, reason: str) -> None:
    listing.ended_at = utcnow()
    listing.ended_by_id = actor.user_id
    listing.end_reason = reason.strip()


def expire_due(session: Session, actor: Actor, on: date) -> list[Listing]:
    """Record the expiry of every published listing whose term ended by `on` (registry sweep)."""
    due = session.scalars(
        select(Listing)
        .where(
            Listing.state == "published", Listing.expires_on.is_not(None), Listing.expires_on <= on
        )
        .order_by(Listing.id)
    ).all()
    for listing in due:
        if listing.expires_on is None:  # excluded by the query; narrows the type
            continue
        before = snapshot(listing)
        listing.state = next_state(listing.state, "expire")
        listing.ended_at = utcnow()
        listing.end_reason = f"期满 / term ended {listing.expires_on.isoformat()}"
        flush(session)
        record_event(session, actor, listing, "expire", before=before, reason=listing.end_reason)
    return list(due)
