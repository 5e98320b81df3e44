"""The cache of public answers in front of Flask (registry/web/cache.py): a kept answer is
served until a write commits, never to a regulator, never across languages, and never
for what must not be kept. On its own committed SQLite database, with the search index
followed by the real background follower: the cache's counter only moves at commit, which
the rolled-back test transaction never does."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from registry.database import get_db
from registry.migrate import upgrade
from registry.models import Enterprise
from registry.rules import Actor
from registry.services import enterprises as enterprise_service
from registry.services.reference import authority_by_code, seed
from registry.web.indexing import followers, get_index, start_followers
from tests.conftest import new_app
from tests.factories import publish_committed


@pytest.fixture
def cached_app(tmp_path):
    app = new_app(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path, PUBLIC_CACHE=True)
    db = get_db(app)
    upgrade(db.engine)
    with db.session_factory() as session:
        seed(session, Actor(None, "test", "system", 0, True))
        session.commit()
    start_followers(app, wait=30)
    yield app
    for follower in followers(app).values():
        follower.stop()
    db.engine.dispose()


def _settle(app, timeout: float = 5.0) -> None:
    """Wait until the follower thread has applied every committed event."""
    from registry.search import committed_seq

    index = get_index(app)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with get_db(app).session_factory() as session:
            if index.last_applied(force=True) >= committed_seq(session):
                return
        time.sleep(0.02)
    raise AssertionError("the follower did not apply the events within the timeout")


def _publish(app, name: str, uscc: str, settle: bool = True) -> None:
    with get_db(app).session_factory() as session:
        publish_committed(session, name, uscc)
    if settle:
        _settle(app)


def _rename(app, uscc: str, name: str) -> None:
    with get_db(app).session_factory() as session:
        firm = session.scalar(select(Enterprise).where(Enterprise.uscc == uscc))
        bureau = authority_by_code(session, "440000")
        clerk = Actor(None, "clerk", "clerk", bureau.id, False)
        enterprise_service.update_enterprise(session, clerk, firm, name=name)
        session.commit()
    _settle(app)


def test_kept_until_a_write_commits(cached_app):
    cache = cached_app.extensions["registry_public_cache"]
    client = cached_app.test_client()
    _publish(cached_app, "深圳市蓝鲸通讯技术有限公司", "91440300MA5DC8XQ6Q")
    first = client.get("/api/v1/search?q=蓝鲸通讯")
    assert [r["name"] for r in first.get_json()["results"]] == ["深圳市蓝鲸通讯技术有限公司"]
    hits = cache.hits
    again = client.get("/api/v1/search?q=蓝鲸通讯")
    assert cache.hits == hits + 1 and again.data == first.data
    assert again.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]
    _rename(cached_app, "91440300MA5DC8XQ6Q", "深圳市蓝鲸数据技术有限公司")
    after = client.get("/api/v1/search?q=蓝鲸通讯")  # the former name still finds it
    assert cache.hits == hits + 1  # the counter moved: built again
    assert [r["name"] for r in after.get_json()["results"]] == ["深圳市蓝鲸数据技术有限公司"]
    page = client.get("/enterprises/91440300MA5DC8XQ6Q")
    assert "深圳市蓝鲸数据技术有限公司" in page.get_data(as_text=True)


def test_languages_regulators_and_conditional_requests_are_not_mixed(cached_app):
    cache = cached_app.extensions["registry_public_cache"]
    client = cached_app.test_client()
    _publish(cached_app, "广州市白鲸网络科技有限公司", "91440101MA59UQ1F88")
    chinese = client.get("/about").get_data(as_text=True)
    english = client.get("/about", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert chinese != english and 'lang="en"' in english
    assert client.get("/about").get_data(as_text=True) == chinese
    # any cookie but the language is a session: never served from or into the cache
    hits, misses = cache.hits, cache.misses
    client.set_cookie("registry_session", "x")
    client.get("/about")
    client.delete_cookie("registry_session")
    assert (cache.hits, cache.misses) == (hits, misses)
    # conditional requests reach Flask (the feeds answer 304 there)
    feed = client.get("/feeds/listings.rss")
    not_modified = client.get(
        "/feeds/listings.rss", headers={"If-None-Match": feed.headers["ETag"]}
    )
    assert not_modified.status_code == 304


@pytest.mark.parametrize(
    "path", ["/admin/", "/login", "/data/listings.csv", "/enterprises/91440101MA59UQ1F8Y"]
)
def test_private_streamed_and_failed_answers_are_not_kept(cached_app, path):
    cache = cached_app.extensions["registry_public_cache"]
    client = cached_app.test_client()
    for _ in range(2):
        client.get(path).close()  # a download may be a file the answer holds open
    assert cache.hits == 0


def test_an_answer_built_while_the_index_catches_up_is_not_kept(cached_app):
    """Someone else holds the index writer lock (here a second writer in this process, as
    another worker would): the search answers from the index as it stands, but that
    answer is not kept for the counter that already moved."""
    from registry.search import SearchIndex

    cache = cached_app.extensions["registry_public_cache"]
    client = cached_app.test_client()
    client.get("/api/v1/search?q=海豚")  # the index exists
    holder = SearchIndex(cached_app.config["INDEX_DIR"])._reader().ix.writer()
    try:
        _publish(cached_app, "珠海市海豚信息技术有限公司", "91440400MA4UHJ5L1Y", settle=False)
        behind = client.get("/api/v1/search?q=海豚").get_json()
        assert behind["results"] == []  # the index has not applied the publication yet
        stored = len(cache._entries)
        client.get("/api/v1/search?q=海豚")
        assert len(cache._entries) == stored and cache.hits == 0
    finally:
        holder.cancel()
    _settle(cached_app)
    found = client.get("/api/v1/search?q=海豚").get_json()
    assert [r["name"] for r in found["results"]] == ["珠海市海豚信息技术有限公司"]


def test_a_kept_feed_answers_if_none_match_with_304(cached_app):
    cache = cached_app.extensions["registry_public_cache"]
    client = cached_app.test_client()
    _publish(cached_app, "佛山市海狮通信有限公司", "91440600MA51XK3T2E")
    first = client.get("/feeds/listings.rss")  # built whole (no condition), kept
    etag = first.headers["ETag"]
    hits = cache.hits
    same = client.get("/feeds/listings.rss", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.data == b"" and cache.hits == hits + 1
    assert same.headers["ETag"] == etag and "Content-Security-Policy" in same.headers
    other = client.get("/feeds/listings.rss", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.data == first.data
    # a write the feed does not show (it follows the publication log): built again, and
    # still the same ETag, so still 304
    _rename(cached_app, "91440600MA51XK3T2E", "佛山市海狮数据有限公司")
    hits = cache.hits
    renamed = client.get("/feeds/listings.rss", headers={"If-None-Match": etag})
    assert renamed.status_code == 304 and cache.hits == hits
    # a new publication: a new feed
    _publish(cached_app, "江门市海燕通信有限公司", "91440700MA52K8RJ31")
    newer = client.get("/feeds/listings.rss", headers={"If-None-Match": etag})
    assert newer.status_code == 200 and newer.headers["ETag"] != etag
    assert "江门市海燕通信有限公司" in newer.get_data(as_text=True)


def test_hostile_queries_through_the_cache_never_fail(cached_app):
    """The corpus of tests/test_hostile_input.py through the cache (on in production):
    every answer is what Flask gives without it, none is 5xx, and a repeat is the same."""
    from tests.test_hostile_input import VALUES

    client = cached_app.test_client()
    _publish(cached_app, "东莞市海鸥网络有限公司", "91441900MA4W3K7X04")
    for value in VALUES:
        for path in ("/search?q=", "/api/v1/search?q=", "/feeds/search.rss?q="):
            first = client.get(path + value)
            second = client.get(path + value)
            assert first.status_code < 500, (path, value)
            assert (second.status_code, second.data) == (first.status_code, first.data)
    weird = {"Accept-Language": "\x00zz;q=x," * 50, "Cookie": "lang=\x7f; ;=;"}
    assert client.get("/about", headers=weird).status_code < 500


def test_healthz_reports_this_workers_cache_hits_and_misses(cached_app):
    client = cached_app.test_client()
    _publish(cached_app, "杭州市虎鲸信息技术有限公司", "91330100MA2CE4QX5N")
    before = client.get("/healthz").get_json()["public_cache"]
    client.get("/api/v1/search?q=虎鲸信息")  # built: a miss
    client.get("/api/v1/search?q=虎鲸信息")  # kept: a hit
    client.get("/api/v1/search?q=虎鲸")  # another path: a miss
    after = client.get("/healthz").get_json()["public_cache"]
    assert after["hits"] - before["hits"] == 1
    assert after["misses"] - before["misses"] == 2
    assert after["entries"] >= 2


def test_healthz_says_null_when_the_cache_is_off(app, client):
    assert app.config["PUBLIC_CACHE"] is False
    assert client.get("/healthz").get_json()["public_cache"] is None


def test_the_least_recently_used_answers_go_first_within_the_configured_size(cached_app, tmp_path):
    configured = new_app(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, PUBLIC_CACHE_MB=3)
    assert configured.extensions["registry_public_cache"].max_bytes == 3 * 2**20
    cache = cached_app.extensions["registry_public_cache"]
    cache.max_bytes = 60_000  # a few answers
    client = cached_app.test_client()
    paths = [f"/api/v1/search?q=firm{n}" for n in range(40)]
    for path in paths:
        assert client.get(path).status_code == 200
        assert cache._bytes <= cache.max_bytes
    kept = [key[1] for key in cache._entries]
    assert 0 < len(kept) < len(paths)
    assert kept == [path.split("?", 1)[1] for path in paths[-len(kept) :]]  # the newest
    hits = cache.hits
    client.get(paths[-len(kept)])  # used again: now the most recent
    assert cache.hits == hits + 1
    assert list(cache._entries)[-1][1] == paths[-len(kept)].split("?", 1)[1]
