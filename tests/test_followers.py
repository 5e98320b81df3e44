"""Followers of the event sequence (registry/followers.py): the search index is caught up by
a background thread of the serving process, on a committed database of its own, never by a
request; a failing step is retried with a growing pause and reported, never raised."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from registry.database import get_db
from registry.followers import Follower
from registry.web.indexing import followers, get_index, start_followers
from tests.conftest import new_app
from tests.factories import new_uscc, publish_committed


def _publish(session: Session, name: str) -> str:
    uscc = new_uscc()
    publish_committed(session, name, uscc)
    return uscc


@pytest.fixture
def served_app(own_engine, tmp_path):
    url = own_engine.url.render_as_string(hide_password=False)
    app = new_app(url, tmp_path, PUBLIC_CACHE=True)
    yield app
    for follower in followers(app).values():
        follower.stop()
    get_db(app).engine.dispose()


def test_a_commit_elsewhere_is_searchable_through_the_background_follower_within_2_s(
    served_app, own_engine
):
    start_followers(served_app, wait=30)
    client = served_app.test_client()
    assert client.get("/api/v1/search?q=跟随测试").get_json()["total"] == 0
    with Session(own_engine) as session:  # another host's write: this app is not told
        uscc = _publish(session, "深圳市跟随测试通信有限公司")
    started = time.monotonic()
    while client.get(f"/api/v1/search?q={uscc}").get_json()["total"] != 1:
        if time.monotonic() - started > 2.0:
            from registry.search import committed_seq

            index = get_index(served_app)
            with Session(own_engine) as session:
                seq = committed_seq(session)
            f = followers(served_app)["search-index"].status()
            raise AssertionError(
                f"not searchable within 2 s: counter {seq}, index {index.last_applied()} "
                f"(disk {index.last_applied(force=True)}), view seq {index._reader().seq}, {f}"
            )
        time.sleep(0.02)
    # The request that found it did not index: the follower's thread had already applied it.
    assert get_index(served_app).last_applied() > 0


def test_requests_never_index_without_the_follower(served_app, own_engine):
    """No follower running: the index stays where it was, whatever the requests."""
    client = served_app.test_client()
    with Session(own_engine) as session:
        uscc = _publish(session, "深圳市无跟随测试通信有限公司")
    for _ in range(3):
        assert client.get(f"/api/v1/search?q={uscc}").get_json()["total"] == 0
    followers(served_app)["search-index"].run_once()
    assert client.get(f"/api/v1/search?q={uscc}").get_json()["total"] == 1


def test_a_failing_step_is_retried_with_a_growing_pause_and_reported(own_engine):
    calls: list[float] = []

    def step(session: Session) -> bool:
        calls.append(time.monotonic())
        if len(calls) <= 3:
            raise RuntimeError("index folder unreadable")
        return True

    follower = Follower("test", sessionmaker(bind=own_engine), step, interval=0.05)
    follower.start()
    try:
        assert follower.wait_until_caught_up(10)
    finally:
        follower.stop()
    pauses = [b - a for a, b in zip(calls, calls[1:], strict=False)][:3]
    assert pauses[0] < pauses[1] < pauses[2]  # 0.1, 0.2, 0.4 s
    status = follower.status()
    assert status.failures == 0 and status.last_error is None and status.runs >= 1


def test_a_failing_step_is_reported_in_status_and_never_raised(own_engine):
    def step(session: Session) -> None:
        raise RuntimeError("index folder unreadable")

    follower = Follower("test", sessionmaker(bind=own_engine), step)
    assert follower.run_once() is False
    assert follower.run_once() is False
    status = follower.status()
    assert status.failures == 2
    assert status.last_error == "RuntimeError: index folder unreadable"
    assert not follower.caught_up
