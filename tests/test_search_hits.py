"""What a search shows of each firm (registry.web.hits) is what the public may see now: the
firm's listings in force, latest decision first, narrowed by the list and ground filters —
the same rows as a plain ORM query with the visibility rule, on every backend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from registry import rules, search, visibility
from registry.models import Authority, Enterprise, Ground, Listing
from registry.services import listings
from registry.web import hits
from tests.conftest import BACKENDS, POSTGRES_URL, create_database


def listings_in_force(session, firm_ids, filters):
    """The reference: firm id -> (firm, its listings in force, latest decision first), read
    through the ORM with the public rule of `visibility`."""
    query = (
        select(Listing, Enterprise, Ground, Authority)
        .join(Enterprise, Enterprise.id == Listing.enterprise_id)
        .join(Ground, Ground.id == Listing.ground_id)
        .join(Authority, Authority.id == Listing.authority_id)
        .where(visibility.listing_in_force(rules.today()), Listing.enterprise_id.in_(firm_ids))
        .order_by(Listing.decided_on.desc(), Listing.id.desc())
    )
    if filters is not None and filters.list_code:
        query = query.where(Listing.list_code == filters.list_code)
    if filters is not None and filters.ground:
        query = query.where(Ground.code == filters.ground)
    found = {}
    for listing, firm, _ground, _authority in session.execute(query):
        found.setdefault(firm.id, (firm, []))[1].append(listing)
    return found


@pytest.fixture
def firms(session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    today = rules.today()
    both = make.enterprise(clerk, province_code="110000")
    make.published_listing(clerk, reviewer, "B3", enterprise=both, decided_on=today - timedelta(9))
    make.published_listing(clerk, reviewer, "D2", enterprise=both, decided_on=today - timedelta(2))
    expired = make.published_listing(clerk, reviewer, "B2", enterprise=both)
    expired.expires_on = today  # its term ended today: no longer in force
    removed = make.published_listing(clerk, reviewer)
    listings.remove_listing(session, reviewer, removed, "已纠正")
    draft = make.listing(clerk)
    without_code = make.enterprise(clerk, uscc=None)
    make.published_listing(clerk, reviewer, "B1", enterprise=without_code)
    session.flush()
    return [both.id, removed.enterprise_id, draft.enterprise_id, without_code.id, 2**31 - 1]


@pytest.mark.parametrize(
    "filters",
    [
        None,
        search.SearchFilters(list_code="bad"),
        search.SearchFilters(ground="D2"),
        search.SearchFilters(list_code="dishonest", ground="D2"),
        search.SearchFilters(list_code="bad", ground="D2"),
    ],
)
def test_a_search_shows_each_firm_with_its_listings_in_force_as_the_firm_page_does(
    app, session, firms, filters
):
    with app.test_request_context("/"):
        found = hits.in_force(firms, filters)
        expected = listings_in_force(session, firms, filters)
    assert list(found) == list(expected)  # the firms that have any, no others
    if filters is None:
        assert list(found) == [firms[0], firms[3]]
        assert [li.ground_code for li in found[firms[0]][1]] == ["D2", "B3"]
    for firm_id, (firm, shown) in found.items():
        their_firm, theirs = expected[firm_id]
        assert (firm.id, firm.uscc, firm.name, firm.province_code) == (
            their_firm.id,
            their_firm.uscc,
            their_firm.name,
            their_firm.province_code,
        )
        assert [
            (li.id, li.list_code, li.ground_code, li.decided_on, li.listed_on, li.expires_on)
            for li in shown
        ] == [
            (
                li.id,
                li.list_code,
                li.ground.code,
                li.decided_on.isoformat(),
                li.listed_on and li.listed_on.isoformat(),
                li.expires_on and li.expires_on.isoformat(),
            )
            for li in theirs
        ]
        assert [(li.ground_title, li.authority_name, li.authority_code) for li in shown] == [
            (li.ground.title, li.authority.name, li.authority.code) for li in theirs
        ]


def test_a_search_of_no_firms_reads_nothing(app, session):
    with app.test_request_context("/"):
        assert hits.in_force([]) == {}


def _in_transaction(driver) -> bool:
    """Whether a driver connection (sqlite3 or psycopg) is inside a transaction."""
    if hasattr(driver, "in_transaction"):
        return driver.in_transaction
    return driver.info.transaction_status != 0  # psycopg's IDLE


@pytest.mark.parametrize("backend", BACKENDS)
def test_rows_read_on_the_requests_driver_connection_are_those_of_an_orm_query(backend, tmp_path):
    """Served, the hits are read on a driver connection kept for the public reads (no
    Session): the same firms as an ORM query of the committed database, on each backend;
    the connection is the same from one request to the next, outside the pool, and no
    transaction of it is left open when a request ends."""
    from flask import request

    from registry import db as registry_db
    from registry.database import READ_CONNECTION, get_db
    from registry.migrate import upgrade
    from registry.services.reference import seed
    from tests.conftest import new_app
    from tests.factories import publish_committed

    url, drop = create_database(backend, tmp_path)
    engine = registry_db.make_engine(url)
    app = new_app(url, tmp_path, PUBLIC_CACHE=False)
    try:
        upgrade(engine)
        factory = registry_db.make_session_factory(engine)
        with factory() as session:
            seed(session, rules.Actor(None, "test", "system", 0, True))
            session.commit()
            publish_committed(session, "深圳市蓝鲸通讯技术有限公司", "91440300MA5DC8XQ6Q")
            publish_committed(session, "广州市白鲸网络科技有限公司", "91440101MA59UQ1F88", "B1")
            ids = list(session.scalars(select(Enterprise.id).order_by(Enterprise.id)))
        ids.append(2**31 - 1)
        pool = get_db(app).engine.pool
        readers = []
        for filters, firms in (
            (None, 2),
            (search.SearchFilters(list_code="bad"), 2),
            (search.SearchFilters(ground="B1"), 1),
        ):
            with factory() as session:
                with app.test_request_context("/"):
                    found = hits.in_force(ids, filters)
                    readers.append(request.environ[READ_CONNECTION])
                    assert _in_transaction(readers[-1].dbapi_connection) == (
                        backend == "postgresql"  # (SQLite's reads begin none)
                    )
                assert not _in_transaction(readers[-1].dbapi_connection)
                assert pool.checkedout() == 0
                assert not session.in_transaction()  # the session read nothing
                expected = listings_in_force(session, ids, filters)
                assert list(found) == list(expected) and len(found) == firms
                for firm_id, (_firm, shown) in found.items():
                    assert [li.id for li in shown] == [li.id for li in expected[firm_id][1]]
        assert all(reader is readers[0] for reader in readers)  # kept between requests
        get_db(app).engine.dispose()
        assert not readers[0].is_valid  # closed with the engine's pool
    finally:
        get_db(app).engine.dispose()
        engine.dispose()
        drop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_driver_error_on_the_read_connection_is_raised_as_sqlalchemys(backend, tmp_path):
    """The error pages answer SQLAlchemy's errors (a lost database: 503); a statement run
    on the driver's connection raises the same kind, and the connection goes back."""
    from sqlalchemy.exc import DBAPIError

    from registry.database import get_db, read_rows
    from tests.conftest import new_app

    url, drop = create_database(backend, tmp_path)
    app = new_app(url, tmp_path, PUBLIC_CACHE=False)
    try:
        with app.test_request_context("/"):
            with pytest.raises(DBAPIError) as raised:
                read_rows("SELECT * FROM no_such_table")
            assert not raised.value.connection_invalidated  # a bad statement, not a lost server
            assert read_rows("SELECT 1") == [(1,)]  # the connection still reads
        assert get_db(app).engine.pool.checkedout() == 0
    finally:
        get_db(app).engine.dispose()
        drop()


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (REGISTRY_TEST_POSTGRES_URL)")
@pytest.mark.parametrize("public_cache", [True, False])
def test_a_reader_connection_the_server_dropped_is_replaced_without_an_error(
    tmp_path, public_cache
):
    """A kept connection may die while it waits (a restarted server ends every session):
    the next request reads on a new one and answers, as it did when the pool pinged each
    connection before lending it; the dead one is closed, not kept. Without the public
    cache in front (as for a form's POST), the view's own first read finds it dead."""
    from sqlalchemy import text

    from registry import db as registry_db
    from registry.database import get_db
    from registry.migrate import upgrade
    from registry.services.reference import seed
    from tests.conftest import new_app
    from tests.factories import publish_committed

    url, drop = create_database("postgresql", tmp_path)
    engine = registry_db.make_engine(url)
    app = new_app(url, tmp_path, PUBLIC_CACHE=public_cache)
    try:
        upgrade(engine)
        with registry_db.make_session_factory(engine)() as session:
            seed(session, rules.Actor(None, "test", "system", 0, True))
            session.commit()
            publish_committed(session, "深圳市蓝鲸通讯技术有限公司", "91440300MA5DC8XQ6Q")
        client = app.test_client()
        database = get_db(app)
        for path in ("/search?q=蓝鲸", "/enterprises/91440300MA5DC8XQ6Q"):
            assert client.get(path).status_code == 200
            (_, kept), *more = database._idle  # the request's, kept for the next
            assert not more
            backend_pid = kept.dbapi_connection.info.backend_pid
            with engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend_pid})
            response = client.get(path + ("&page=1" if "?" in path else "?lang=zh_Hans"))
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            (_, now), *more = database._idle
            assert not more and now is not kept and not kept.is_valid
            assert now.dbapi_connection.info.backend_pid != backend_pid
    finally:
        get_db(app).engine.dispose()
        engine.dispose()
        drop()


def test_a_forked_process_opens_its_own_read_connection(tmp_path):
    """A worker forked from a process that kept a read connection never takes that one
    (a driver connection is not to be shared across processes): it opens its own."""
    import os

    from registry import db as registry_db
    from registry.database import get_db
    from registry.migrate import upgrade
    from tests.conftest import new_app

    url, drop = create_database("sqlite", tmp_path)
    upgrade(registry_db.make_engine(url))
    app = new_app(url, tmp_path, PUBLIC_CACHE=False)
    database = get_db(app)
    try:
        database.release(database.reader())
        (_, kept), *more = database._idle
        assert not more
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe
            try:
                taken = database.reader()
                os.write(write_end, b"own" if taken is not kept else b"parent's")
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        assert os.read(read_end, 16) == b"own"
        assert database.reader() is kept  # the parent's own, kept for it
    finally:
        database.engine.dispose()
        drop()
