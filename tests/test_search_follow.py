"""The index follows the database through the change stream (Event.seq): publication,
renaming, removal, expiry at read time, a locked writer."""

from __future__ import annotations

from datetime import timedelta

from registry import rules, text
from registry.search import SearchFilters, SearchIndex
from registry.services import enterprises as enterprise_service
from registry.services import listings as listing_service


def _ids(index: SearchIndex, query: str, **filters) -> set[int]:
    result = index.search(query, SearchFilters(**filters), per_page=100)
    return {hit.enterprise_id for hit in result.hits}


def test_index_follows_publication_removal_and_renaming(session, make, tmp_path):
    """The change stream (Event.seq) drives the index: publish adds, remove/annul drop,
    a new name is searchable and the old one stays as a former name."""
    index = SearchIndex(tmp_path / "index")
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    firm = make.enterprise(clerk, name="深圳市蓝鲸通讯技术有限公司")
    listing = make.listing(clerk, "B3", enterprise=firm)
    index.catch_up(session)
    assert _ids(index, "蓝鲸通讯") == set()  # a draft is not public
    listing_service.submit_listing(session, clerk, listing)
    listing_service.publish_listing(session, reviewer, listing)
    before = index._reader().seq  # the highest event applied
    index.catch_up(session)
    assert index._reader().seq > before
    assert _ids(index, "蓝鲸通讯") == {firm.id}
    enterprise_service.update_enterprise(session, clerk, firm, name="深圳市白鲸数据有限公司")
    index.catch_up(session)
    assert _ids(index, "白鲸数据") == {firm.id}
    assert _ids(index, "蓝鲸通讯") == {firm.id}  # former name
    listing_service.remove_listing(session, reviewer, listing, "处罚决定已履行")
    index.catch_up(session)
    assert _ids(index, "白鲸数据") == set()
    assert index.catch_up(session) == 0


def test_expired_listing_leaves_results_on_its_expiry_date(session, make, tmp_path):
    """Expiry is computed at read time: no sweep, no catch-up needed."""
    index = SearchIndex(tmp_path / "index")
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer, "B3")
    index.catch_up(session)
    name = listing.enterprise.name
    assert listing.expires_on is not None
    assert _ids(index, name) == {listing.enterprise_id}
    last_day = listing.expires_on - timedelta(days=1)
    assert index.search(name, on=last_day).total == 1
    assert index.search(name, on=listing.expires_on).total == 0


def test_a_locked_index_skips_catch_up_without_failing(session, make, tmp_path):
    index = SearchIndex(tmp_path / "index")
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer, "B3")
    other = SearchIndex(tmp_path / "index")._reader().ix.writer()
    try:
        assert index.catch_up(session) is None
    finally:
        other.cancel()
    assert index.catch_up(session) >= 1
    assert _ids(index, listing.enterprise.name) == {listing.enterprise_id}


def test_bitmaps_follow_publication_removal_and_expiry_without_restart(session, make, tmp_path):
    """An index's bitmaps change with it: publish adds, removal drops, expiry drops on its
    date; a second SearchIndex object on the same folder (as another worker holds, here in
    the same process) follows the change log."""
    index = SearchIndex(tmp_path / "index")
    # a second object on the same folder, looking at the disk on every search (one
    # without a session looks at most every REFRESH_INTERVAL seconds)
    other = SearchIndex(tmp_path / "index", refresh_interval=0)
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    first = make.published_listing(clerk, reviewer, "B3")
    index.catch_up(session)
    query = text.normalize(first.enterprise.name)[-6:]
    assert index.search(query).total >= 1
    assert other.search(query).total >= 1
    state = index.bitmaps()
    firm = make.enterprise(clerk, name="杭州市青鸾星链信息技术有限公司")
    second = make.listing(clerk, "B3", enterprise=firm)
    listing_service.submit_listing(session, clerk, second)
    listing_service.publish_listing(session, reviewer, second)
    index.catch_up(session)
    for searcher in (index, other):
        result = searcher.search("青鸾星链")
        assert [hit.enterprise_id for hit in result.hits] == [firm.id]
        assert dict(result.facets["ground"]) == {"B3": 1}
    assert index.bitmaps() is state  # updated in place from the change log, not reloaded
    assert firm.id in state.alive
    assert second.expires_on is not None
    assert index.search("青鸾星链", on=second.expires_on - timedelta(days=1)).total == 1
    expired = index.search("青鸾星链", on=second.expires_on)
    assert expired.total == 0 and expired.hits == [] and expired.facets["ground"] == []
    listing_service.remove_listing(session, reviewer, second, "已整改")
    index.catch_up(session)
    for searcher in (index, other):
        assert searcher.search("青鸾星链").total == 0
    assert firm.id not in state.alive and "鸾星" not in state.grams


def test_a_firm_with_one_expired_and_one_live_listing_counts_only_the_live_one(
    session, make, tmp_path
):
    index = SearchIndex(tmp_path / "index")
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    firm = make.enterprise(clerk, name="成都市赤霄云网科技有限公司")
    listings = []
    for ground in ("B3", "B1"):
        listing = make.listing(clerk, ground, enterprise=firm)
        listing_service.submit_listing(session, clerk, listing)
        listing_service.publish_listing(session, reviewer, listing)
        listings.append(listing)
    index.catch_up(session)
    term = listings[0].expires_on
    assert term is not None and listings[1].expires_on is None
    before = index.search("赤霄云网", on=term - timedelta(days=1))
    assert dict(before.facets["ground"]) == {"B1": 1, "B3": 1}
    after = index.search("赤霄云网", on=term)
    assert after.total == 1 and dict(after.facets["ground"]) == {"B1": 1}
    assert [li["ground"] for li in after.hits[0].listings] == ["B1"]
    assert index.search("赤霄云网", SearchFilters(ground="B3"), on=term).total == 0


def test_whole_word_matches_rank_before_spans_across_words(session, make, tmp_path):
    """jieba ranks (never filters): 通信 as a word of the name comes before 通信 spanning
    交通|信息, even when that name is shorter; both are found. A rename moves a firm
    between the tiers (the word bitmaps follow the change stream)."""
    index = SearchIndex(tmp_path / "index")
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    word = make.enterprise(clerk, name="北京长城通信技术服务有限公司")
    span = make.enterprise(clerk, name="交通信息有限公司")
    for firm in (word, span):
        make.published_listing(clerk, reviewer, "B3", enterprise=firm)
    index.catch_up(session)
    hits = [hit.enterprise_id for hit in index.search("通信").hits]
    assert hits == [word.id, span.id]
    # two-word query: both words in the name, in one firm only
    assert [hit.enterprise_id for hit in index.search("长城通信").hits] == [word.id]
    index.bitmaps()  # loaded: the rename below is applied incrementally
    enterprise_service.update_enterprise(session, clerk, span, name="交通通信有限公司")
    index.catch_up(session)
    hits = [hit.enterprise_id for hit in index.search("通信").hits]
    assert hits == [span.id, word.id]  # now a whole word, and the shorter name
    assert span.id in index.bitmaps().aligned(["交通", "信息"])  # the former name's words


def test_the_follower_step_readies_index_and_bitmaps_before_any_request(app, session, make):
    """The follower's step (what registry.wsgi's workers run before their first request)
    catches the index up and loads the bitmaps, so the first search opens nothing."""
    from registry.web.indexing import follow_now, get_index

    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    make.published_listing(clerk, reviewer, "B3")
    index = get_index(app)
    follow_now(app)
    assert index._bitmaps is not None
    assert index.last_applied() > 0
    opened = index.opened
    with app.test_client() as client:
        assert client.get("/search?q=公司").status_code == 200
    assert index.opened == opened  # nothing left to open on the first request


def test_codes_added_after_the_first_load_are_found_exactly(session, make, tmp_path):
    """Code lookups are skipped for terms no document of the generation holds: a USCC, a
    licence and a decision number (of any shape: four Chinese characters here) given after
    the bitmaps were loaded are found by the searcher that follows them."""
    from registry.services import sanctions as sanction_service

    index = SearchIndex(tmp_path / "index")
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    first = make.published_listing(clerk, reviewer, "B3")
    index.catch_up(session)
    index.bitmaps()  # loaded before the codes below exist
    assert index.search("蓝鲸通讯").total == 0 and index.search("B2-20260007").total == 0
    firm = make.enterprise(clerk, name="深圳市白鲸数据有限公司", uscc="91440300MA5DC8XQ6Q")
    make.published_listing(clerk, reviewer, "B3", enterprise=firm)
    enterprise_service.add_licence(session, clerk, firm, number="B2-20260007")
    decision = sanction_service.record_sanction(
        session,
        clerk,
        first.enterprise,
        decision_no="蓝鲸通讯",
        decided_on=rules.today() - timedelta(days=5),
        measures=["warning"],
        facts="未按规定办理经营许可证变更手续",
    )
    sanction_service.submit_sanction(session, clerk, decision)
    sanction_service.publish_sanction(session, reviewer, decision)
    index.catch_up(session)
    for query, firm_id in (
        ("91440300MA5DC8XQ6Q", firm.id),
        ("b2 20260007", firm.id),
        ("蓝鲸通讯", first.enterprise_id),
    ):
        result = index.search(query)
        assert [(h.enterprise_id, h.code_match) for h in result.hits] == [(firm_id, True)]
