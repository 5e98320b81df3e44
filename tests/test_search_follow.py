"""The index follows the database through the change stream (Event.seq): publication,
renaming, removal, expiry at read time, a locked writer (SPEC §9)."""

from __future__ import annotations

from datetime import timedelta

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
    before = index.last_applied()
    index.catch_up(session)
    assert index.last_applied() > before
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
    """Expiry is computed at read time: no sweep, no catch-up needed (SPEC §2)."""
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
    other = SearchIndex(tmp_path / "index")._index().writer()
    try:
        assert index.catch_up(session) is None
    finally:
        other.cancel()
    assert index.catch_up(session) >= 1
    assert _ids(index, listing.enterprise.name) == {listing.enterprise_id}
