"""One open searcher per process: reused across searches, refreshed when the index
changes on disk — at once after this process's own catch-up, and when the database is
ahead of what this object has seen (another SearchIndex on the folder applied the events)."""

from __future__ import annotations

from registry.search import SearchIndex


def test_the_searcher_is_reused_across_searches_and_refreshed_after_a_publication(
    session, make, tmp_path
):
    index = SearchIndex(tmp_path / "index", refresh_interval=3600)
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    first = make.published_listing(
        clerk, reviewer, enterprise=make.enterprise(clerk, name="宁波市玄鸟通信技术有限公司")
    )
    index.ensure_current(session)
    opened = index.opened
    assert index.search("玄鸟通信").total == 1
    index.ensure_current(session)  # the database is not ahead: nothing is opened
    assert index.search("玄鸟通信").total == 1
    assert index.opened == opened
    second = make.published_listing(
        clerk, reviewer, enterprise=make.enterprise(clerk, name="宁波市玄鸟数据服务有限公司")
    )
    index.ensure_current(session)  # catches up and refreshes its own searcher at once
    assert index.opened == opened + 1
    assert {hit.enterprise_id for hit in index.search("玄鸟", per_page=100).hits} >= {
        first.enterprise_id,
        second.enterprise_id,
    }
    assert index.last_applied() == index.last_applied(force=True)


def test_a_second_index_object_on_the_folder_sees_the_others_catch_up_when_the_database_is_ahead(
    session, make, tmp_path
):
    """Two SearchIndex objects on one folder, as two workers hold (both in this process:
    what is shared is the folder on disk, not memory)."""
    writer = SearchIndex(tmp_path / "index", refresh_interval=3600)
    reader = SearchIndex(tmp_path / "index", refresh_interval=3600)
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    writer.ensure_current(session)
    reader.ensure_current(session)
    seen = reader.last_applied()
    listing = make.published_listing(
        clerk, reviewer, enterprise=make.enterprise(clerk, name="温州市朱雀网络科技有限公司")
    )
    assert writer.catch_up(session) >= 1
    # Without a session the reader trusts its searcher for refresh_interval seconds ...
    assert reader.search("朱雀网络").total == 0
    assert reader.last_applied() == seen
    # ... with one, max(Event.seq) is ahead of its seq: it looks at the disk and finds the
    # events applied (no second catch-up needed).
    reader.ensure_current(session)
    assert reader.last_applied() == writer.last_applied() > seen
    assert [hit.enterprise_id for hit in reader.search("朱雀网络").hits] == [listing.enterprise_id]


def test_a_rebuild_elsewhere_is_picked_up_after_the_refresh_interval(session, make, tmp_path):
    reader = SearchIndex(tmp_path / "index", refresh_interval=0)
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(
        clerk, reviewer, enterprise=make.enterprise(clerk, name="嘉兴市白泽信息科技有限公司")
    )
    assert reader.search("白泽信息").total == 0
    SearchIndex(tmp_path / "index").rebuild(session)  # e.g. `registry reindex`
    assert [hit.enterprise_id for hit in reader.search("白泽信息").hits] == [listing.enterprise_id]


def test_stored_fields_are_remembered_until_the_searcher_changes(session, make, tmp_path):
    index = SearchIndex(tmp_path / "index", refresh_interval=3600)
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    firm = make.enterprise(clerk, name="丽水市青鸟通信技术有限公司")
    make.published_listing(clerk, reviewer, "B3", enterprise=firm)
    index.ensure_current(session)
    assert [len(hit.listings) for hit in index.search("青鸟通信").hits] == [1]
    assert firm.id in index._docs
    make.published_listing(clerk, reviewer, "B2", enterprise=firm)
    index.ensure_current(session)  # a new searcher: what was remembered is dropped
    assert firm.id not in index._docs
    assert [len(hit.listings) for hit in index.search("青鸟通信").hits] == [2]
