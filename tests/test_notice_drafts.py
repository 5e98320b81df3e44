"""The quarterly exposure notice and the removal notice drafted from the data."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from registry import rules, visibility
from registry.markdown import render_markdown
from registry.services import listings, notice_drafts, notices

A, B = "440000", "110000"


def _draft(session, make, actor, kind: str = "exposure", day: date | None = None):
    """`actor` drafts the notice of `kind` for bureau A's bad list, in the quarter of `day`
    (default today)."""
    day = day or rules.today()
    return notice_drafts.draft_notice(
        session,
        actor,
        kind=kind,
        authority=make.authority(A),
        list_code="bad",
        year=day.year,
        quarter=(day.month - 1) // 3 + 1,
    )


@pytest.fixture
def people(make):
    return make.actor("clerk", A), make.actor("reviewer", A), make.actor("reviewer", B)


def test_exposure_draft_names_exactly_the_quarters_published_listings_of_the_list(
    make, session, people
):
    clerk, reviewer, reviewer_b = people
    firm = make.enterprise(clerk, name="广州市公告|测试*网络科技有限公司")
    from registry.services import enterprises

    enterprises.add_licence(session, clerk, firm, number="粤B2-20190001")
    named = [
        make.published_listing(clerk, reviewer, "B3", enterprise=firm),
        make.published_listing(clerk, reviewer, "B1"),
    ]
    make.published_listing(clerk, reviewer, "D2")  # the other list
    make.listing(clerk)  # not published
    other_clerk = make.actor("clerk", B)
    make.published_listing(other_clerk, reviewer_b)  # another authority
    authority = make.authority(A)
    draft = _draft(session, make, clerk)
    assert draft.state == "draft" and draft.kind == "exposure"
    assert sorted(item.id for item in draft.listings) == sorted(item.id for item in named)
    assert "2家经营者、2条记录" in draft.body_md
    html = str(render_markdown(draft.body_md))
    assert html.count("<tr>") == 3  # header and two firms: the | in a name stays in its cell
    for text in (
        "广州市公告|测试*网络科技有限公司",
        firm.uscc,
        "粤B2-20190001",
        named[0].decided_on.isoformat(),
        "B3",
        authority.name,
    ):
        assert text in html
    # Last quarter: none.
    with pytest.raises(rules.RuleViolation):
        last = rules.today().replace(day=1) - timedelta(days=95)
        _draft(session, make, clerk, day=last)


def test_removal_draft_names_the_listings_that_left_in_the_quarter(make, session, people):
    clerk, reviewer, _b = people
    gone = make.published_listing(clerk, reviewer, "B3")
    listings.annul_listing(session, reviewer, gone, "列入错误")
    make.published_listing(clerk, reviewer, "B3")  # still in force
    draft = _draft(session, make, clerk, "removal")
    assert [item.id for item in draft.listings] == [gone.id]


def test_another_bureau_cannot_draft_from_a_bureaus_listings(make, session, people):
    clerk, reviewer, reviewer_b = people
    make.published_listing(clerk, reviewer)
    with pytest.raises(rules.RuleViolation) as refused:
        _draft(session, make, reviewer_b)
    assert refused.value.code == "forbidden"


def test_the_draft_goes_through_review_and_is_published(make, session, people):
    clerk, reviewer, _b = people
    make.published_listing(clerk, reviewer)
    draft = _draft(session, make, clerk)
    notices.transition_notice(session, clerk, draft, "submit")
    with pytest.raises(rules.RuleViolation):
        notices.transition_notice(session, clerk, draft, "publish")  # four eyes
    notices.transition_notice(session, reviewer, draft, "publish")
    assert visibility.notice_is_public(draft)


@pytest.mark.parametrize("period", [(2026, 0), (2026, 5), (1999, 1)])
def test_a_quarter_out_of_range_is_refused(period):
    with pytest.raises(rules.RuleViolation):
        notice_drafts.quarter_bounds(*period)


def test_quarter_bounds_cover_the_calendar_quarter():
    assert notice_drafts.quarter_bounds(2019, 2) == (date(2019, 4, 1), date(2019, 6, 30))
    assert notice_drafts.quarter_bounds(2019, 4) == (date(2019, 10, 1), date(2019, 12, 31))
