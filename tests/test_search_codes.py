"""Exact code matches (USCC, licence and decision numbers) of queries written in
ideographs alone."""

from __future__ import annotations

from registry.search import SearchIndex


def test_a_decision_number_of_ideographs_alone_is_still_matched_exactly(session, make, tmp_path):
    """A query of ideographs alone is not looked up as a code while every code held has an
    ASCII digit (none of its canonical forms has one); once a decision number written
    without one is held, such a query finds it."""
    from registry.services import sanctions

    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    digits = make.enterprise(clerk, name="珠海市数字通信有限公司")
    make.published_listing(clerk, reviewer, "B3", enterprise=digits)
    index = SearchIndex(tmp_path / "index")
    index.catch_up(session)
    assert not index.bitmaps().may_hold_ideographic_code()
    assert index.search("粤通管罚字第十二号").total == 0

    firm = make.enterprise(clerk, name="佛山市汉字网络科技有限公司")
    record = make.sanction(clerk, firm, decision_no="粤通管罚字第十二号")
    sanctions.submit_sanction(session, clerk, record)
    sanctions.publish_sanction(session, reviewer, record)
    make.published_listing(clerk, reviewer, "B3", enterprise=firm, sanction=record)
    session.flush()
    index.catch_up(session)
    assert index.bitmaps().may_hold_ideographic_code()
    result = index.search("粤通管罚字第十二号")
    assert [hit.enterprise_id for hit in result.hits] == [firm.id]
    assert result.hits[0].code_match
