"""Conditional GETs of the feeds are answered from the head of the publication log or of
the change stream, before any item is gathered or rendered, so
a 304 costs far less than the whole feed."""

from __future__ import annotations

import pytest

from registry import feeds as feed_format
from registry.services import enterprises
from registry.web import feeds as feed_views


@pytest.fixture
def people(make):
    return make.actor("clerk"), make.actor("reviewer")


@pytest.fixture
def listing(make, people):
    return make.published_listing(*people)


def _feed_urls(listing) -> list[str]:
    return [
        "/feeds/listings.rss",
        "/feeds/listings.atom",
        "/feeds/notices.atom",
        "/feeds/provinces/440000.rss",
        f"/feeds/enterprises/{listing.enterprise.uscc}.atom",
        "/feeds/search.rss?q=" + listing.enterprise.name[-6:],
    ]


@pytest.fixture
def nothing_built(monkeypatch):
    """Gathering or rendering anything fails the request."""

    def boom(*args, **kwargs):
        raise AssertionError("the feed was built for a conditional GET")

    for name in ("listing_entries", "published_notices", "log_item", "notice_item"):
        monkeypatch.setattr(feed_views, name, boom)
    monkeypatch.setattr(feed_format, "render", boom)
    monkeypatch.setattr(feed_views.indexing, "search", boom)


def test_a_304_is_answered_without_building_the_feed(client, listing, request):
    first = {url: client.get(url) for url in _feed_urls(listing)}
    for url, response in first.items():
        assert response.status_code == 200, url
    request.getfixturevalue("nothing_built")
    for url, response in first.items():
        again = client.get(url, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304, url
        assert again.get_data() == b""
        assert again.headers["ETag"] == response.headers["ETag"]
        since = client.get(url, headers={"If-Modified-Since": response.headers["Last-Modified"]})
        assert since.status_code == 304, url


def test_the_etag_follows_the_log_the_change_stream_the_query_and_the_language(
    client, session, make, people, listing
):
    rss = client.get("/feeds/listings.rss").headers["ETag"]
    assert client.get("/feeds/listings.atom").headers["ETag"] != rss
    first = client.get("/feeds/search.rss?q=有限公司").headers["ETag"]
    assert client.get("/feeds/search.rss?q=科技").headers["ETag"] != first
    notices = client.get("/feeds/notices.atom").headers["ETag"]
    # A rename is no publication: the listings feed (log entries only) stays, feeds whose
    # summaries carry current names move on.
    enterprises.update_enterprise(session, people[0], listing.enterprise, name="改名后的有限公司")
    assert client.get("/feeds/listings.rss").headers["ETag"] == rss
    assert client.get("/feeds/notices.atom").headers["ETag"] != notices
    make.published_listing(*people)
    changed = client.get("/feeds/listings.rss", headers={"If-None-Match": rss})
    assert changed.status_code == 200 and changed.headers["ETag"] != rss
    english = client.get("/feeds/listings.rss?lang=en")  # (sets the language cookie)
    assert english.headers["ETag"] != changed.headers["ETag"]


def test_a_wildcard_if_none_match_never_hides_a_missing_feed(client):
    for url in ("/feeds/enterprises/91440300MA5FXXXX0X.atom", "/feeds/provinces/999999.rss"):
        assert client.get(url, headers={"If-None-Match": "*"}).status_code == 404
