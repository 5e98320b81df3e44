"""The public cache's tier shared by a host's workers (registry/web/sharedcache.py): two
apps on one instance folder stand for two workers of a host, on their own committed SQLite
database, each following the search index with its real follower. An answer one built is
shared once it is asked for there again, and then serves the other for the same counter
value only; a write, other code or another database history is never served; a broken file
only costs the tier."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from registry.database import get_db
from registry.migrate import upgrade
from registry.models import Enterprise
from registry.rules import Actor
from registry.search import committed_seq
from registry.services import enterprises as enterprise_service
from registry.services.reference import authority_by_code, seed
from registry.web.indexing import followers, get_index, start_followers
from tests.conftest import new_app
from tests.factories import publish_committed

SEARCH = "/api/v1/search?q=鲸信"


def _worker(url: str, tmp_path: Path, **settings):
    app = new_app(url, tmp_path, PUBLIC_CACHE=True, **settings)
    start_followers(app, wait=30)
    return app


def _database(url: str, tmp_path: Path) -> None:
    app = new_app(url, tmp_path, PUBLIC_CACHE=False)
    db = get_db(app)
    upgrade(db.engine)
    with db.session_factory() as session:
        seed(session, Actor(None, "test", "system", 0, True))
        session.commit()
    db.engine.dispose()


@pytest.fixture
def workers(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    _database(url, tmp_path)
    apps = [_worker(url, tmp_path), _worker(url, tmp_path)]
    yield apps
    for app in apps:
        _stop(app)


def _stop(app) -> None:
    for follower in followers(app).values():
        follower.stop()
    get_db(app).engine.dispose()


def _settle(*apps, timeout: float = 10.0) -> None:
    """Wait until each app's follower has applied every committed event."""
    deadline = time.monotonic() + timeout
    for app in apps:
        index = get_index(app)
        while True:
            with get_db(app).session_factory() as session:
                if index.last_applied(force=True) >= committed_seq(session):
                    break
            if time.monotonic() > deadline:
                raise AssertionError("a follower did not apply the events in time")
            time.sleep(0.02)


def _publish(apps, name: str, uscc: str) -> None:
    with get_db(apps[0]).session_factory() as session:
        publish_committed(session, name, uscc)
    _settle(*apps)


def _cache(app):
    return app.extensions["registry_public_cache"]


def _names(response) -> list[str]:
    return [r["name"] for r in response.get_json()["results"]]


def _asked_twice(app, path: str, **kwargs):
    """The answer built, then served from the worker's own entry: now in the shared tier."""
    client = app.test_client()
    built = client.get(path, **kwargs)
    assert client.get(path, **kwargs).data == built.data
    return built


def _shared_rows(app) -> int:
    path = _cache(app).shared.path
    if not path.exists():  # no worker stored anything (a find alone does not open it)
        return 0
    file = sqlite3.connect(path)
    try:
        return file.execute("SELECT count(*) FROM answer").fetchone()[0]
    finally:
        file.close()


def test_an_answer_one_worker_built_serves_the_other_until_a_write_commits(workers):
    one, two = workers
    _publish(workers, "深圳市蓝鲸信息技术有限公司", "91440300MA5DC8XQ6Q")
    built = _asked_twice(one, SEARCH)
    assert _names(built) == ["深圳市蓝鲸信息技术有限公司"]
    assert (_cache(one).misses, _cache(one).hits, _cache(one).shared_hits) == (1, 1, 0)

    served = two.test_client().get(SEARCH)
    assert (_cache(two).misses, _cache(two).shared_hits, _cache(two).hits) == (0, 1, 1)
    assert served.data == built.data
    assert served.headers.get_all("Vary") == built.headers.get_all("Vary")
    assert served.headers["Content-Security-Policy"] == built.headers["Content-Security-Policy"]
    assert two.test_client().get("/healthz").get_json()["public_cache"]["shared_hits"] == 1

    with get_db(one).session_factory() as session:  # a write commits: the counter moves
        firm = session.scalar(select(Enterprise).where(Enterprise.uscc == "91440300MA5DC8XQ6Q"))
        clerk = Actor(None, "clerk", "clerk", authority_by_code(session, "440000").id, False)
        enterprise_service.update_enterprise(session, clerk, firm, name="深圳市蓝鲸数据有限公司")
        session.commit()
    _settle(*workers)
    rebuilt = _asked_twice(two, SEARCH)  # neither tier serves the old answer
    assert _cache(two).misses == 1 and _names(rebuilt) == ["深圳市蓝鲸数据有限公司"]
    again = one.test_client().get(SEARCH)  # its own entry is stale; the other's is current
    assert _cache(one).shared_hits == 1 and again.data == rebuilt.data


def test_a_conditional_request_is_answered_from_the_shared_entry(workers):
    one, two = workers
    _publish(workers, "佛山市海狮通信有限公司", "91440600MA51XK3T2E")
    feed = _asked_twice(one, "/feeds/listings.rss")
    condition = {"If-None-Match": feed.headers["ETag"]}
    not_modified = two.test_client().get("/feeds/listings.rss", headers=condition)
    assert not_modified.status_code == 304 and not_modified.data == b""
    assert _cache(two).shared_hits == 1 and _cache(two).misses == 0


def test_languages_stay_apart_in_the_shared_tier(workers):
    one, two = workers
    chinese = _asked_twice(one, "/about").get_data(as_text=True)
    english = two.test_client().get("/about", headers={"Accept-Language": "en"})
    assert _cache(two).shared_hits == 0 and 'lang="en"' in english.get_data(as_text=True)
    assert two.test_client().get("/about").get_data(as_text=True) == chinese
    assert _cache(two).shared_hits == 1


def test_a_database_created_again_never_gets_the_old_databases_answers(tmp_path):
    """The same address, the same counter value, other content: a new database history."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    _database(url, tmp_path)
    old = _worker(url, tmp_path)
    _publish([old], "杭州市虎鲸信息技术有限公司", "91330100MA2CE4QX5N")
    assert _names(_asked_twice(old, SEARCH)) == ["杭州市虎鲸信息技术有限公司"]
    assert _shared_rows(old) == 1
    with get_db(old).session_factory() as session:
        version = committed_seq(session)
    _stop(old)

    (tmp_path / "registry.db").unlink()
    time.sleep(0.01)  # the new database's first Event is not at the old one's instant
    _database(url, tmp_path)
    new = _worker(url, tmp_path)
    _publish([new], "宁波市鲸信网络科技有限公司", "91330200MA2GQ6N10A")
    with get_db(new).session_factory() as session:
        assert committed_seq(session) == version  # the same counter value as the old answer
    answer = new.test_client().get(SEARCH)
    assert _names(answer) == ["宁波市鲸信网络科技有限公司"]
    assert _cache(new).shared_hits == 0
    # The follower that writes the index folder (here the old worker's process still
    # holds the folder's writer lock, so the new worker's step is run in the foreground)
    # finds it written from the old database and rebuilds it from the new one: its firms
    # are found by their own names, the old one's by none.
    followers(new)["search-index"].run_once(foreground=True)
    found = new.test_client().get("/api/v1/search?q=宁波").get_json()["results"]
    assert [firm["name"] for firm in found] == ["宁波市鲸信网络科技有限公司"]
    assert new.test_client().get("/api/v1/search?q=杭州").get_json()["results"] == []
    _stop(new)


def test_other_code_never_serves_its_answers(workers):
    one, two = workers
    _publish(workers, "厦门市灰鲸信息技术有限公司", "91350200MA2Y0K5N13")
    _asked_twice(one, SEARCH)
    _cache(two).shared.fingerprint = b"another release of the code"
    two.test_client().get(SEARCH)
    assert (_cache(two).shared_hits, _cache(two).misses) == (0, 1)


@pytest.mark.parametrize("broken", ["not a database", "a folder"])
def test_a_broken_file_only_costs_the_shared_tier(tmp_path, caplog, broken):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    _database(url, tmp_path)
    place = tmp_path / "cache" / "public-cache.sqlite"
    place.parent.mkdir()
    if broken == "a folder":
        place.mkdir()
    else:
        place.write_bytes(b"this is not SQLite\n" * 400)
    app = _worker(url, tmp_path, PUBLIC_CACHE_FILE=str(place))
    try:
        client = app.test_client()
        with caplog.at_level(logging.WARNING, logger="registry.web.sharedcache"):
            first = client.get("/about")
            second = client.get("/about")
        assert first.status_code == second.status_code == 200 and second.data == first.data
        assert _cache(app).shared.broken is not None and _cache(app).hits == 1
        assert "is not used by this process" in caplog.text
    finally:
        _stop(app)


def test_the_file_stays_within_its_bound_and_drops_the_oldest_first(workers):
    one, two = workers
    shared = _cache(one).shared
    shared.max_bytes = 10_000  # a dozen empty answers
    paths = [f"/api/v1/search?q=firm{n}" for n in range(40)]
    for path in paths:
        assert _asked_twice(one, path).status_code == 200
    file = sqlite3.connect(shared.path)
    try:
        held = file.execute("SELECT bytes FROM held").fetchone()[0]
        sizes, count = file.execute("SELECT total(size), count(*) FROM answer").fetchone()
    finally:
        file.close()
    assert held == sizes <= shared.max_bytes and 1 < count < 40
    client = two.test_client()
    client.get(paths[-1])
    assert _cache(two).shared_hits == 1  # the newest is there
    client.get(paths[0])
    assert _cache(two).shared_hits == 1  # the oldest went first


def test_the_shared_tier_is_off_at_zero(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    _database(url, tmp_path)
    app = _worker(url, tmp_path, PUBLIC_CACHE_SHARED_MB=0)
    try:
        assert _cache(app).shared is None
        app.test_client().get("/about")
        assert not (tmp_path / "instance" / "public-cache.sqlite").exists()
    finally:
        _stop(app)


def _store_and_find(path: str, worker: int) -> tuple[str | None, int]:
    """One worker process: opens the file as the others do, stores 150 answers of its own."""
    from registry.web.sharedcache import SharedAnswers

    shared = SharedAnswers(Path(path), 64 * 2**20, b"same code")
    shared.epoch = "same database"
    for n in range(150):
        body = f"worker {worker} answer {n} ".encode() * 100
        shared.store((f"/search?q={worker}-{n}",), (7, "200 OK", [("ETag", f'"{n}"')], body))
    found = sum(shared.find((f"/search?q={worker}-{n}",), 7) is not None for n in range(150))
    return shared.broken, found


def test_workers_opening_and_writing_at_once_never_lose_the_tier(tmp_path):
    """Four processes create the file together and store at once: a store that finds the
    file busy is skipped, nobody gives the tier up, nothing is mixed. Several new files in
    a row, since two workers meet in the setup's lock only now and then."""
    import multiprocessing

    from registry.web.sharedcache import SharedAnswers

    with multiprocessing.get_context("fork").Pool(4) as pool:
        for attempt in range(8):
            path = str(tmp_path / f"public-cache-{attempt}.sqlite")
            results = pool.starmap(_store_and_find, [(path, w) for w in range(4)])
            assert [broken for broken, _ in results] == [None] * 4
            assert sum(found for _, found in results) > 0  # how many found it free varies
    reader = SharedAnswers(Path(path), 64 * 2**20, b"same code")
    reader.epoch = "same database"
    reader.store(("/after",), (7, "200 OK", [], b"after"))  # the file works after the storm
    assert reader.find(("/after",), 7) == (7, "200 OK", [], b"after")
    for worker in range(4):
        for n in range(150):
            entry = reader.find((f"/search?q={worker}-{n}",), 7)
            if entry is not None:
                body = f"worker {worker} answer {n} ".encode() * 100
                assert entry == (7, "200 OK", [("ETag", f'"{n}"')], body)
    assert reader.find(("/search?q=0-0",), 8) is None  # another counter value


def test_an_answer_asked_for_once_is_not_written_to_the_shared_file(workers):
    """Most of the long tail is asked for once: its answers cost no write to the file."""
    one, two = workers
    _publish(workers, "珠海市座头鲸信息技术有限公司", "91440400MA4UJ8K21B")
    first = one.test_client().get(SEARCH)
    assert _names(first) == ["珠海市座头鲸信息技术有限公司"] and _shared_rows(one) == 0
    two.test_client().get(SEARCH)  # the other worker builds it for itself
    assert (_cache(two).misses, _cache(two).shared_hits) == (1, 0) and _shared_rows(one) == 0
    one.test_client().get(SEARCH)  # asked again where it was built: now shared
    assert _cache(one).hits == 1 and _shared_rows(one) == 1
    one.test_client().get(SEARCH)  # written once, not at every hit
    assert _cache(one).hits == 2 and _shared_rows(one) == 1


def _tier(path: Path, epoch: str = "same database"):
    """One worker's view of the host's file (each its own connection and map)."""
    from registry.web.sharedcache import SharedAnswers

    shared = SharedAnswers(path, 64 * 2**20, b"same code")
    shared.epoch = epoch
    return shared


def _statements(shared) -> list[str]:
    """The statements this worker's connection to the file runs from now on."""
    seen: list[str] = []
    shared._connection().set_trace_callback(seen.append)
    return seen


def test_a_key_no_worker_stored_is_not_looked_up_in_the_file(tmp_path):
    """The key filter: a key another worker stored is looked up and found; one nobody
    stored (most of the long tail) is a miss without a statement."""
    place = tmp_path / "public-cache.sqlite"
    one, two = _tier(place), _tier(place)
    one.store(("/search?q=灰鲸",), (7, "200 OK", [("ETag", '"a"')], b"answer"))
    statements = _statements(two)
    assert two.find(("/search?q=灰鲸",), 7) == (7, "200 OK", [("ETag", '"a"')], b"answer")
    assert len(statements) == 1 and statements[0].startswith("SELECT")
    for n in range(200):
        assert two.find((f"/search?q=座头鲸{n}",), 7) is None
    assert len(statements) == 1
    assert (tmp_path / "public-cache.sqlite-keys").stat().st_size == 2**19


def test_the_key_filter_forgets_the_keys_of_an_older_counter_value(tmp_path):
    """The first store at a new counter value removes the older entries, and their keys
    from the filter: they are no longer looked up either."""
    place = tmp_path / "public-cache.sqlite"
    one, two = _tier(place), _tier(place)
    for n in range(50):
        one.store((f"/search?q=old{n}",), (7, "200 OK", [], b"old"))
    two.store(("/search?q=new",), (8, "200 OK", [], b"new"))
    statements = _statements(one)
    assert all(one.find((f"/search?q=old{n}",), 8) is None for n in range(50))
    assert statements == []
    assert one.find(("/search?q=new",), 8) == (8, "200 OK", [], b"new")
    assert len(statements) == 1


def test_a_key_filter_that_cannot_be_opened_costs_only_lookups(tmp_path, caplog):
    place = tmp_path / "public-cache.sqlite"
    (tmp_path / "public-cache.sqlite-keys").mkdir()
    with caplog.at_level(logging.WARNING, logger="registry.web.sharedcache"):
        one, two = _tier(place), _tier(place)
        one.store(("/about",), (3, "200 OK", [], b"about"))
        statements = _statements(two)
        assert two.find(("/about",), 3) == (3, "200 OK", [], b"about")
        assert two.find(("/never",), 3) is None
    assert len(statements) == 2  # each key looked up in the file
    assert one.broken is None and two.broken is None
    assert "key filter is not used by this process" in caplog.text


def test_a_find_before_any_store_sets_up_the_filter_in_a_folder_not_made_yet(tmp_path):
    place = tmp_path / "not" / "made" / "public-cache.sqlite"
    one = _tier(place)
    assert one.find(("/about",), 3) is None  # the folder is made for the filter
    assert (tmp_path / "not" / "made" / "public-cache.sqlite-keys").exists()
    one.store(("/about",), (3, "200 OK", [], b"about"))
    two = _tier(place)
    statements = _statements(two)
    assert two.find(("/nothing",), 3) is None and statements == []
