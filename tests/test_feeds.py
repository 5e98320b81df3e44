"""Feeds: feedparser reads them without error; items have stable GUIDs,
real dates and absolute links; conditional GETs answer 304."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser
import pytest

from registry import feeds
from registry.services import enterprises, listings, notices


@pytest.fixture
def people(make):
    return make.actor("clerk"), make.actor("reviewer")


@pytest.fixture
def world(session, make, people):
    clerk, reviewer = people
    kept = make.published_listing(clerk, reviewer)
    gone = make.published_listing(clerk, reviewer)
    listings.remove_listing(session, reviewer, gone, "已报送年报并经核实")
    notice = notices.create_notice(
        session,
        clerk,
        slug="exposure-2026-q4",
        title="关于2026年第四季度电信业务经营不良名单的公告",
        listings=[kept],
    )
    notices.transition_notice(session, clerk, notice, "submit")
    notices.transition_notice(session, reviewer, notice, "publish")
    return {"kept": kept, "gone": gone, "notice": notice}


def parse(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    parsed = feedparser.parse(response.get_data())
    assert not parsed.bozo, parsed.get("bozo_exception")
    for entry in parsed.entries:
        assert entry.id.startswith("tag:localhost,2026:")
        assert entry.link.startswith("http://localhost/")
        assert entry.get("published_parsed") or entry.get("updated_parsed")
        assert entry.summary
    return response, parsed


FEEDS = [
    "/feeds/notices.rss",
    "/feeds/notices.atom",
    "/feeds/listings.rss",
    "/feeds/listings.atom",
    "/feeds/provinces/440000.rss",
    "/feeds/provinces/440000.atom",
]


@pytest.mark.parametrize("url", FEEDS)
def test_every_feed_parses_without_error(client, world, url):
    response, parsed = parse(client, url)
    assert response.mimetype in ("application/rss+xml", "application/atom+xml")
    assert parsed.entries
    assert response.headers["ETag"] and response.headers["Last-Modified"]


def test_listings_feed_has_publications_and_removals(client, world):
    _, parsed = parse(client, "/feeds/listings.atom")
    titles = [entry.title for entry in parsed.entries]
    kept, gone = world["kept"].enterprise.name, world["gone"].enterprise.name
    assert any(kept in t and t.startswith("列入") for t in titles)
    assert any(gone in t and t.startswith("提前移出") for t in titles)
    # the removed listing's publication left the feed with it: removed listings leave at once
    assert not any(gone in t and t.startswith("列入") for t in titles)
    summary = next(e.summary for e in parsed.entries if kept in e.title)
    for field in (world["kept"].enterprise.uscc, "B3", "广东省通信管理局"):
        assert field in summary
    assert world["kept"].decided_on.isoformat() in summary


def test_notices_feed(client, world):
    _, parsed = parse(client, "/feeds/notices.rss")
    [entry] = parsed.entries
    assert entry.title == world["notice"].title
    assert entry.link == "http://localhost/notices/exposure-2026-q4"
    assert world["kept"].enterprise.uscc in entry.summary


def test_enterprise_feed(client, world):
    uscc = world["kept"].enterprise.uscc
    _, parsed = parse(client, f"/feeds/enterprises/{uscc}.atom")
    assert len(parsed.entries) == 2  # its listing and the notice naming it
    assert parsed.feed.title == world["kept"].enterprise.name
    assert client.get("/feeds/enterprises/91440300000000000X.atom").status_code == 404
    assert client.get(f"/feeds/enterprises/{uscc}.rss").status_code == 404


def test_unknown_feeds_are_404(client):
    assert client.get("/feeds/provinces/999999.rss").status_code == 404
    assert client.get("/feeds/notices.pdf").status_code == 404


def test_guid_unchanged_after_an_edit(client, session, world, people):
    clerk, _ = people
    before = {e.title: e.id for e in parse(client, "/feeds/listings.rss")[1].entries}
    firm = world["kept"].enterprise
    enterprises.update_enterprise(session, clerk, firm, address="深圳市南山区科技园")
    session.flush()
    after = {e.title: e.id for e in parse(client, "/feeds/listings.rss")[1].entries}
    assert after == before


def test_conditional_get_answers_304(client, world):
    first = client.get("/feeds/listings.atom")
    etag = first.headers["ETag"]
    again = client.get("/feeds/listings.atom", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    since = client.get(
        "/feeds/listings.atom", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert since.status_code == 304
    assert (
        client.get("/feeds/listings.atom", headers={"If-None-Match": '"other"'}).status_code == 200
    )


def test_feed_changes_when_something_is_published(client, make, people, world):
    etag = client.get("/feeds/listings.atom").headers["ETag"]
    make.published_listing(*people)
    response = client.get("/feeds/listings.atom", headers={"If-None-Match": etag})
    assert response.status_code == 200


def test_render_is_pure_and_deterministic():
    item = feeds.FeedItem(
        guid="tag:example.org,2026:publog/1",
        title="列入不良名单：某公司",
        link="https://example.org/enterprises/X",
        published=datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
        summary="经营者名称：某公司",
    )
    feed = feeds.Feed(
        id="tag:example.org,2026:feeds/test",
        title="测试",
        link="https://example.org/",
        self_link="https://example.org/feeds/test.rss",
        description="测试",
        items=[item],
    )
    for fmt in feeds.FORMATS:
        assert feeds.render(feed, fmt) == feeds.render(feed, fmt)
        assert not feedparser.parse(feeds.render(feed, fmt)).bozo
    assert feed.last_modified == item.published
    with pytest.raises(ValueError):
        feeds.render(feed, "json")


def test_atom_escapes_what_xml_needs_and_drops_what_it_cannot_carry():
    name = 'A&B <公司> "甲"\x01\r乙'
    item = feeds.FeedItem(
        guid="tag:example.org,2026:publog/1",
        title=f"列入不良名单：{name}",
        link="https://example.org/enterprises/X?a=1&b=2",
        published=datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
        summary=f"经营者名称：{name}\n名单：不良名单",
        category="bad",
    )
    feed = feeds.Feed(
        id="tag:example.org,2026:feeds/test",
        title=name,
        link="https://example.org/",
        self_link="https://example.org/feeds/test.atom",
        description="测试",
        items=[item],
    )
    parsed = feedparser.parse(feeds.render(feed, "atom"))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == 'A&B <公司> "甲"\r乙'
    (entry,) = parsed.entries
    assert entry.title == '列入不良名单：A&B <公司> "甲"\r乙'
    assert entry.link == "https://example.org/enterprises/X?a=1&b=2"
    assert entry.summary == '经营者名称：A&B <公司> "甲"\r乙\n名单：不良名单'
    assert [tag.term for tag in entry.tags] == ["bad"]


@pytest.mark.parametrize("ext", ["rss", "atom"])
def test_search_feed_follows_the_search(client, make, people, world, ext):
    kept = world["kept"].enterprise
    _, parsed = parse(client, f"/feeds/search.{ext}?q={kept.name}")
    assert [e.title for e in parsed.entries] == [f"列入不良名单：{kept.name}"]
    assert kept.uscc in parsed.entries[0].summary
    _, none = parse(client, f"/feeds/search.{ext}?q={kept.name}&list=dishonest")
    assert none.entries == []
    assert client.get(f"/feeds/search.{ext}?list=nope").status_code == 400
