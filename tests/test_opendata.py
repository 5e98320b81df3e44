"""Open-data files: built by a follower once per change, replaced atomically, served as
static files (ETag, 304, Range), streamed from the database while not built, described by a
Frictionless Data Package that `frictionless validate` accepts."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from registry import exports, opendata, opendata_child, publog, rules
from registry.services import enterprises as enterprise_service
from registry.services import listings as listing_service
from registry.web.indexing import follow_now, followers


def _folder(app) -> Path:
    return Path(app.config["EXPORT_DIR"])


def _csv_usccs(path: Path) -> set[str]:
    reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    next(reader)
    return {row[1] for row in reader}


def _built_number(app) -> int:
    package = opendata.read_package(_folder(app))
    assert package is not None
    return package["registry"]["publog_number"]


def test_files_are_rebuilt_after_any_write_that_can_change_them_and_only_then(app, session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    first = make.published_listing(clerk, reviewer)
    session.flush()
    follow_now(app)
    folder = _folder(app)
    assert {first.enterprise.uscc} <= _csv_usccs(folder / "listings.csv")
    assert _built_number(app) == publog.head(session).number

    second = make.published_listing(clerk, reviewer)
    session.flush()
    follow_now(app)
    assert second.enterprise.uscc in _csv_usccs(folder / "listings.csv")
    listed = json.loads((folder / "listings.json").read_text(encoding="utf-8"))
    assert second.enterprise.uscc in {row["uscc"] for row in listed["listings"]}
    assert _built_number(app) == publog.head(session).number

    # a write without a log entry that changes an exported column (a firm renamed): rebuilt
    enterprise_service.update_enterprise(
        session, clerk, first.enterprise, name="深圳市改名以后网络科技有限公司"
    )
    session.flush()
    follow_now(app)
    assert "深圳市改名以后网络科技有限公司" in (folder / "listings.csv").read_text("utf-8-sig")
    # nothing written since: the files stay as they are
    built_at = {name: (folder / name).stat().st_mtime_ns for name in os.listdir(folder)}
    follow_now(app)
    assert {name: (folder / name).stat().st_mtime_ns for name in os.listdir(folder)} == built_at

    listing_service.remove_listing(session, reviewer, second, "已整改")
    session.flush()
    follow_now(app)
    assert second.enterprise.uscc not in _csv_usccs(folder / "listings.csv")
    assert first.enterprise.uscc in _csv_usccs(folder / "listings.csv")
    assert _built_number(app) == publog.head(session).number


def test_files_hold_exactly_the_rows_of_the_database_export(app, session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    for _ in range(3):
        make.published_listing(clerk, reviewer)
    session.flush()
    follow_now(app)
    folder = _folder(app)
    streamed = "".join(exports.iter_csv(exports.rows(session, rules.today())))
    assert (folder / "listings.csv").read_bytes() == streamed.encode("utf-8")
    listed = json.loads((folder / "listings.json").read_text(encoding="utf-8"))
    assert len(listed["listings"]) == len(list(exports.rows(session, rules.today())))


def test_a_new_day_rebuilds_the_files_even_without_a_write(app, session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    make.published_listing(clerk, reviewer)
    session.flush()
    folder = _folder(app)
    today = rules.today()
    assert opendata.build_if_changed(session, folder, today)
    package = opendata.read_package(folder)
    assert package is not None and package["registry"]["as_of"] == today.isoformat()
    tomorrow = today + timedelta(days=1)
    assert opendata.build_if_changed(session, folder, tomorrow)
    package = opendata.read_package(folder)
    assert package is not None and package["registry"]["as_of"] == tomorrow.isoformat()


def test_the_package_a_download_reads_is_parsed_once_per_version_of_the_file(
    app, session, make, monkeypatch
):
    make.published_listing(make.actor("clerk"), make.actor("reviewer"))
    session.flush()
    folder = _folder(app)
    today = rules.today()
    assert opendata.build_if_changed(session, folder, today)
    parsed: list[str] = []
    original = opendata.read_package
    monkeypatch.setattr(opendata, "read_package", lambda f: parsed.append(f) or original(f))
    first = opendata.kept_package(folder)
    assert first is not None and opendata.kept_package(folder) is first
    assert len(parsed) <= 1  # (none when an earlier call in this process parsed it)
    assert opendata.build_if_changed(session, folder, today + timedelta(days=1))
    again = opendata.kept_package(folder)  # the file was replaced: parsed again
    assert (
        again is not None and again["registry"]["as_of"] == (today + timedelta(days=1)).isoformat()
    )
    (folder / opendata.PACKAGE).unlink()
    assert opendata.kept_package(folder) is None


def test_a_builder_that_finds_the_folder_locked_skips_and_reports_behind(app, session, make):
    import fcntl

    folder = _folder(app)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / opendata.LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert opendata.build_if_changed(session, folder) is False
        assert opendata.read_package(folder) is None
    finally:
        os.close(fd)
    assert opendata.build_if_changed(session, folder) is True
    assert opendata.read_package(folder) is not None


def test_a_build_removes_what_builders_killed_mid_build_left_and_nothing_else(app, session, make):
    make.published_listing(make.actor("clerk"), make.actor("reviewer"))
    session.flush()
    folder = _folder(app)
    folder.mkdir(parents=True, exist_ok=True)
    # what _write_atomically leaves when its process is killed before os.replace
    abandoned = [folder / ".listings.xlsx.k2oiywz0.tmp", folder / ".datapackage.json.x1.tmp"]
    for path in abandoned:
        path.write_bytes(b"half")
    kept = folder / "readme.txt"  # not a builder's: left alone
    kept.write_text("x")
    assert opendata.build_if_changed(session, folder) is True
    assert not [path for path in abandoned if path.exists()]
    assert kept.exists()
    assert sorted(path.name for path in folder.glob(".*.tmp")) == []


def test_a_reader_never_sees_half_a_file(app, session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    for _ in range(30):
        make.published_listing(clerk, reviewer)
    session.flush()
    folder = _folder(app)
    folder.mkdir(parents=True, exist_ok=True)
    head = opendata.head_now(session)
    opendata.build(session, folder, head)
    complete = (folder / "listings.csv").read_bytes()
    problems: list[str] = []
    reads = 0
    done = threading.Event()

    def read() -> None:
        nonlocal reads
        while not done.is_set():
            body = (folder / "listings.csv").read_bytes()
            if body != complete:
                problems.append(f"{len(body)} bytes")
            try:
                json.loads((folder / "listings.json").read_bytes())
            except ValueError as exc:
                problems.append(f"json: {exc}")
            reads += 1

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(15):
            opendata.build(session, folder, head)
    finally:
        done.set()
        reader.join()
    assert reads > 0
    assert problems == []
    assert not [name for name in os.listdir(folder) if name.endswith(".tmp")]


def _without_search_follower(app) -> None:
    """Requests of these tests run no follower step first (so their queries are the view's)."""
    funcs = app.before_request_funcs.get(None, [])
    app.before_request_funcs[None] = [f for f in funcs if f.__name__ != "follow_search_index"]


def test_a_built_file_answers_304_to_its_etag_after_one_statement_of_index_lookups(
    app, client, session, make, statements
):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    make.published_listing(clerk, reviewer)
    session.flush()
    follow_now(app)
    _without_search_follower(app)
    first = client.get("/data/listings.csv")
    assert first.status_code == 200
    assert first.headers["ETag"] and first.headers["Last-Modified"]
    assert first.headers["Content-Disposition"].startswith("attachment;")
    assert first.data == (_folder(app) / "listings.csv").read_bytes()
    first.close()
    statements.clear()
    again = client.get("/data/listings.csv", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    again.close()
    # one statement of index lookups, the log head and the last event (the savepoints
    # around it are the test's transaction); nothing of the listings is read
    queries = [q for q in statements if "SAVEPOINT" not in q]
    assert len(queries) == 1 and all("listing" not in q for q in queries), statements
    assert all(q.lstrip().upper().startswith("SELECT") for q in queries)
    weak = client.get("/data/listings.csv", headers={"If-None-Match": "W/" + first.headers["ETag"]})
    assert weak.status_code == 304  # If-None-Match compares weakly
    other = client.get("/data/listings.csv", headers={"If-None-Match": '"0123"'})
    assert other.status_code == 200 and other.data == first.data
    other.close()
    xlsx = client.get("/data/listings.xlsx")  # its own time: files may be a second apart
    xlsx.close()
    since = client.get(
        "/data/listings.xlsx", headers={"If-Modified-Since": xlsx.headers["Last-Modified"]}
    )
    assert since.status_code == 304
    since.close()


def test_a_range_request_answers_206_with_those_bytes(app, client, session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    make.published_listing(clerk, reviewer)
    session.flush()
    follow_now(app)
    whole = (_folder(app) / "listings.json").read_bytes()
    response = client.get("/data/listings.json", headers={"Range": "bytes=10-99"})
    assert response.status_code == 206
    assert response.data == whole[10:100]
    assert response.headers["Content-Range"] == f"bytes 10-99/{len(whole)}"
    response.close()


def test_downloads_are_streamed_from_the_database_before_the_first_build(
    app, client, session, make
):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer)
    session.flush()
    assert opendata.read_package(_folder(app)) is None
    response = client.get("/data/listings.csv")
    assert response.status_code == 200
    assert response.is_streamed and "ETag" not in response.headers  # built per request
    assert listing.enterprise.uscc in response.get_data(as_text=True)
    package = client.get("/data/datapackage.json").get_json()
    assert [r["path"] for r in package["resources"]] == [
        "listings.csv",
        "listings.json",
        "listings.xlsx",
    ]
    assert package["registry"]["publog_number"] == publog.head(session).number
    assert client.get("/data/listings.xlsx").status_code == 200
    assert client.get("/data/listings.json").get_json()["listings"]


def test_files_behind_the_log_are_not_served_the_database_answers(app, client, session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    make.published_listing(clerk, reviewer)
    session.flush()
    follow_now(app)
    newer = make.published_listing(clerk, reviewer)
    session.flush()
    response = client.get("/data/listings.csv")
    assert response.is_streamed and "ETag" not in response.headers  # built per request
    assert newer.enterprise.uscc in response.get_data(as_text=True)


def test_behind_nginx_the_app_hands_the_file_to_an_internal_location(app, client, session, make):
    make.published_listing(make.actor("clerk"), make.actor("reviewer"))
    session.flush()
    follow_now(app)
    app.config["PROXY_HOPS"] = 1
    response = client.get("/data/listings.csv", headers={"X-Accel-Exports": "/_exports/"})
    assert response.headers["X-Accel-Redirect"] == "/_exports/listings.csv"
    assert response.data == b""
    app.config["PROXY_HOPS"] = 0  # without a trusted proxy the header is ignored
    response = client.get("/data/listings.csv", headers={"X-Accel-Exports": "/_exports/"})
    assert "X-Accel-Redirect" not in response.headers
    assert response.data == (_folder(app) / "listings.csv").read_bytes()
    response.close()


def test_the_data_page_links_the_data_package(client):
    page = client.get("/data").get_data(as_text=True)
    assert 'href="/data/datapackage.json"' in page


def _frictionless() -> str:
    found = shutil.which("frictionless") or shutil.which(
        "frictionless", path=str(Path(os.sys.executable).parent)
    )
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("frictionless is not installed (pip install -e .[test])")
        pytest.skip("frictionless is not installed")
    return found


def test_the_data_package_of_demo_data_passes_frictionless_validate(own_engine, tmp_path):
    tool = _frictionless()
    from registry.demo import load_demo
    from registry.rules import Actor

    with Session(own_engine) as session:
        load_demo(session, Actor(None, "demo", "system", 0, True), firms=40)
        session.commit()
    folder = tmp_path / "exports"
    with Session(own_engine) as session:
        assert opendata.build_if_changed(session, folder)
        session.commit()
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    assert package["registry"]["publog_number"] > 0
    with Session(own_engine) as session:
        assert package["registry"]["publog_hash"] == publog.head(session).entry_hash
        rows = len(list(exports.rows(session, rules.today())))
    assert rows > 0
    assert len(_csv_usccs(folder / "listings.csv")) <= rows
    result = subprocess.run(
        [tool, "validate", "--json", str(folder / "datapackage.json")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=folder,
    )
    report = json.loads(result.stdout)
    errors = [
        (task.get("name"), error.get("note") or error.get("message"))
        for task in report.get("tasks", [])
        for error in task.get("errors", [])
    ] + [error.get("message") for error in report.get("errors", [])]
    assert report["valid"], errors
    assert result.returncode == 0


def test_a_fresh_worker_does_not_wait_for_the_files_to_be_built(tmp_path):
    """Another process holds the builder lock: the worker starts once its search index is
    ready, and the open-data follower reports itself behind."""
    import fcntl
    import time

    from registry.database import get_db
    from registry.migrate import upgrade
    from registry.web.indexing import start_followers
    from tests.conftest import new_app

    exports_dir = tmp_path / "exports"
    app = new_app(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path, EXPORT_DIR=str(exports_dir))
    upgrade(get_db(app).engine)
    exports_dir.mkdir()
    fd = os.open(exports_dir / opendata.LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        start_followers(app, wait=5)
        assert time.monotonic() - started < 4
        assert followers(app)["search-index"].caught_up
        assert not followers(app)["open-data"].caught_up
    finally:
        for follower in followers(app).values():
            follower.stop()
        os.close(fd)
        get_db(app).engine.dispose()


def _serving_app(engine, tmp_path, **settings):
    """An app on `engine`'s database (committed demo rows), as a worker serves it."""
    from registry.demo import load_demo
    from registry.rules import Actor
    from tests.conftest import new_app

    with Session(engine) as session:
        load_demo(session, Actor(None, "demo", "system", 0, True), firms=12)
        session.commit()
    return new_app(engine.url.render_as_string(hide_password=False), tmp_path, **settings)


def _wait_for(check, seconds: float = 60.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_serving_process_has_a_child_process_build_the_files(own_engine, tmp_path, monkeypatch):
    from registry.database import get_db
    from registry.web.indexing import start_followers

    folder = tmp_path / "exports"
    app = _serving_app(own_engine, tmp_path, EXPORT_DIR=str(folder))
    monkeypatch.setattr(opendata_child, "IN_PROCESS_BYTES", 0)  # (small files: see below)
    built_here: list[int] = []
    original = opendata.build
    monkeypatch.setattr(opendata, "build", lambda *a: built_here.append(1) or original(*a))
    try:
        start_followers(app, wait=30)
        follower = followers(app)["open-data"]
        assert _wait_for(lambda: follower.caught_up and follower.runs > 0), follower.last_error
        with Session(get_db(app).engine) as session:
            head = opendata.head_now(session)
            in_force = len(list(exports.rows(session, rules.today())))
        assert opendata.built_head(opendata.read_package(folder)) == head
        assert in_force > 0 and len(_csv_usccs(folder / "listings.csv")) > 0
        assert built_here == []  # this process only checked; another one built
    finally:
        for each in followers(app).values():
            each.stop()
        get_db(app).engine.dispose()
    # a command (or a test) that needs the files now builds them in its own process
    with Session(get_db(app).engine) as session:
        assert opendata_child.build_if_changed(session, folder, app.config["DATABASE_URL"])
    tomorrow = rules.today() + timedelta(days=1)
    with Session(get_db(app).engine) as session:
        assert opendata.build_if_changed(session, folder, tomorrow)
    assert built_here == [1]
    get_db(app).engine.dispose()


def test_a_child_builder_that_fails_is_reported_by_the_follower_not_the_site(own_engine, tmp_path):
    from registry.database import get_db
    from registry.web.indexing import start_followers

    folder = tmp_path / "exports"
    (folder / "listings.csv").mkdir(parents=True)  # a folder where the file goes
    app = _serving_app(own_engine, tmp_path, EXPORT_DIR=str(folder))
    try:
        start_followers(app, wait=30)
        follower = followers(app)["open-data"]
        assert _wait_for(lambda: follower.failures > 0)
        assert "open-data builder exited with" in (follower.last_error or "")
        assert "IsADirectoryError" in (follower.last_error or "")
        assert not follower.caught_up
        # the site answers, downloads streamed from the database
        client = app.test_client()
        assert client.get("/search?q=公司").status_code == 200
        answer = client.get("/data/listings.csv")
        assert answer.status_code == 200 and answer.data.startswith(b"\xef\xbb\xbf")
    finally:
        for each in followers(app).values():
            each.stop()
        get_db(app).engine.dispose()


@pytest.mark.parametrize(
    ("url", "elsewhere"),
    [
        ("sqlite://", False),
        ("sqlite:///:memory:", False),
        ("sqlite:///file:x?mode=memory&cache=shared&uri=true", False),
        ("sqlite:////srv/registry/registry.db", True),
        ("postgresql+psycopg://registry@db.internal/registry", True),
    ],
)
def test_only_a_database_another_process_can_open_is_built_elsewhere(url, elsewhere):
    assert opendata_child.can_build_elsewhere(url) is elsewhere


def test_no_child_builder_is_started_while_another_process_builds(
    own_engine, tmp_path, monkeypatch
):
    import fcntl

    from sqlalchemy import text

    folder = tmp_path / "exports"
    folder.mkdir()
    url = own_engine.url.render_as_string(hide_password=False)
    started: list[object] = []
    monkeypatch.setattr(opendata_child.subprocess, "run", lambda *a, **k: started.append(a))
    # this host's other worker holds the folder's lock
    fd = os.open(folder / opendata.LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with Session(own_engine) as session:
            assert opendata_child.build_if_changed(session, folder, url) is False
    finally:
        os.close(fd)
    assert started == []
    if own_engine.dialect.name == "postgresql":  # another host holds the deployment's lock
        with own_engine.connect() as other:
            other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": opendata.ADVISORY_KEY})
            with Session(own_engine) as session:
                assert opendata_child.build_if_changed(session, folder, url) is False
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": opendata.ADVISORY_KEY})
        assert started == []
    # no one builds: a child is started (here: recorded, and reported failed)
    with Session(own_engine) as session, pytest.raises(AttributeError):
        opendata_child.build_if_changed(session, folder, url)
    assert len(started) == 1


def test_the_files_of_a_small_registry_are_built_again_without_a_child(
    own_engine, tmp_path, monkeypatch
):
    from registry.demo import load_demo
    from registry.rules import Actor

    folder = tmp_path / "exports"
    url = own_engine.url.render_as_string(hide_password=False)
    with Session(own_engine) as session:
        load_demo(session, Actor(None, "demo", "system", 0, True), firms=12)
        session.commit()
    yesterday = rules.today() - timedelta(days=1)
    with Session(own_engine) as session:  # built yesterday: behind today
        assert opendata.build_if_changed(session, folder, yesterday)
    built = opendata.read_package(folder)
    assert built is not None and built["registry"]["as_of"] == yesterday.isoformat()
    assert sum(entry["bytes"] for entry in built["resources"]) < opendata_child.IN_PROCESS_BYTES
    started: list[object] = []
    monkeypatch.setattr(opendata_child.subprocess, "run", lambda *a, **k: started.append(a))
    with Session(own_engine) as session:
        assert opendata_child.build_if_changed(session, folder, url) is True
        head = opendata.head_now(session)
    assert started == []  # built in this process
    assert opendata.built_head(opendata.read_package(folder)) == head
    assert head.day == rules.today()
