"""A search's hits read from what the process's index holds (registry.web.hits.held) are
the rows the database gives (registry.web.hits.in_force) whenever the index holds every
Event the database has; an index behind it, or one of a database created again, is not
read for them."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from registry import db as registry_db
from registry import rules, search
from registry.database import get_db
from registry.demo import load_demo
from registry.migrate import upgrade
from registry.models import Authority, Enterprise, Ground, Listing
from registry.search.bitmaps import Bitmaps
from registry.search.facts import decode_listings, encode_listings
from registry.services import enterprises, listings
from registry.services.reference import ground_by_code, save_ground, seed
from registry.web import hits, indexing
from tests.conftest import BACKENDS, create_database, new_app

QUERIES = ("公司", "有限", "科技", "网络", "通信", "信息", "技术", "深圳", "北京市", "电子商务")
FILTERS = (
    None,
    search.SearchFilters(list_code="bad"),
    search.SearchFilters(list_code="dishonest"),
    search.SearchFilters(ground="B3"),
    search.SearchFilters(list_code="bad", ground="B1"),
)


def _same_as_the_database(app) -> int:
    """Search each query with each filter, page by page: the hits held equal the database's
    rows on every page of a current result. The number of pages compared."""
    pages = 0
    with app.test_request_context("/"):
        for query in QUERIES:
            for filters in FILTERS:
                for page in (1, 2):
                    result = indexing.search(query, filters, page, 20)
                    ids = [hit.enterprise_id for hit in result.hits]
                    held = hits.held(ids, filters)
                    assert held is not None
                    assert held == hits.in_force(ids, filters), (query, filters, page)
                    assert hits.for_hits(result, filters) == [held[i] for i in ids if i in held]
                    pages += bool(ids)
    return pages


@contextmanager
def _demo_registry(backend: str, tmp_path, firms: int):
    """A database of its own with `firms` demo firms, committed, and an app on it whose
    index has caught up: (app, session factory)."""
    url, drop = create_database(backend, tmp_path)
    engine = registry_db.make_engine(url)
    app = new_app(url, tmp_path, PUBLIC_CACHE=False)
    factory = registry_db.make_session_factory(engine)
    try:
        upgrade(engine)
        with factory() as session:
            system = rules.Actor(None, "test", "system", 0, True)
            seed(session, system)
            session.commit()
            load_demo(session, system, firms=firms)
            session.commit()
        _caught_up(app, factory)
        yield app, factory
    finally:
        engine.dispose()
        get_db(app).engine.dispose()
        drop()


def _caught_up(app, factory) -> None:
    with app.app_context(), factory() as session:
        assert indexing.get_index().ensure_current(session)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hits_held_by_the_index_are_the_databases_rows_before_and_after_changes(
    backend, tmp_path, monkeypatch
):
    with _demo_registry(backend, tmp_path, 120) as (app, factory):
        assert _same_as_the_database(app) > 20

        # Changes through the services: a firm renamed, a listing removed, one published,
        # a ground's title edited. Until the index applies them, a search reads the database.
        with factory() as session:
            ministry = session.scalar(select(Authority).where(Authority.level == "ministry"))
            admin = rules.Actor(None, "admin", "admin", ministry.id, True)
            firm = session.scalars(
                select(Enterprise).join(Listing).where(Listing.state == "published")
            ).first()
            clerk = rules.Actor(None, "clerk", "clerk", firm.authority_id, False)
            reviewer = rules.Actor(None, "reviewer", "reviewer", firm.authority_id, False)
            enterprises.update_enterprise(session, clerk, firm, name="深圳市改名网络科技有限公司")
            # the latest listing a reviewer may remove early by decision (the demo's dates
            # follow the day, and a missing annual report's listing needs its filing)
            published = session.scalars(
                select(Listing)
                .join(Listing.ground)
                .where(Listing.state == "published", Ground.removal_rule == "expiry_or_early")
                .order_by(Listing.id.desc())
            ).first()
            remover = rules.Actor(None, "reviewer", "reviewer", published.authority_id, False)
            listings.remove_listing(session, remover, published, "已纠正")
            removed_id = published.id
            new = listings.create_listing(
                session,
                clerk,
                firm,
                ground=ground_by_code(session, "B1"),
                decided_on=rules.today(),
                facts="未按规定履行行政处罚决定",
            )
            listings.submit_listing(session, clerk, new)
            listings.publish_listing(session, reviewer, new)
            ground = ground_by_code(session, "B3")
            ground_title = ground.title + "（修订）"
            save_ground(session, admin, ground, title=ground_title)
            session.commit()
            renamed_id = firm.id
        with app.test_request_context("/"):
            result = indexing.search("公司", None, 1, 100)
            ids = [hit.enterprise_id for hit in result.hits]
            assert hits.held(ids) is None  # the follower has not applied the changes yet
            rows = hits.in_force(ids)
            assert hits.for_hits(result) == [rows[i] for i in ids if i in rows]
            shown = [li for _, found in hits.for_hits(result) for li in found]
            assert removed_id not in [li.id for li in shown]  # gone at once
            assert {li.ground_title for li in shown if li.ground_code == "B3"} == {ground_title}
        _caught_up(app, factory)
        with app.test_request_context("/"):
            result = indexing.search("改名网络", None, 1, 20)
            (firm_row, shown), *others = hits.for_hits(result)
            assert not others and firm_row.id == renamed_id
            assert firm_row.name == "深圳市改名网络科技有限公司"
            assert new.id in [li.id for li in shown]
        assert _same_as_the_database(app) > 20

        # The days go by: a term that ends is checked at read time on both sides (the
        # index held the listing as it was in force on the day it was written).
        with factory() as session:
            in_force = (Listing.state == "published", Listing.expires_on > rules.today())
            ends = list(
                session.scalars(
                    select(Listing.expires_on).where(*in_force).order_by(Listing.expires_on)
                )
            )
        assert len(ends) > 2
        for day in (ends[0], ends[len(ends) // 2], ends[-1] + timedelta(days=1)):
            monkeypatch.setattr(rules, "today", lambda now=None, day=day: day)
            _same_as_the_database(app)


def test_an_authority_renamed_shows_under_its_new_name_without_reindexing(tmp_path):
    """The index holds a listing's authority and ground by id; their names are the
    catalogue's, which follows every write."""
    with _demo_registry("sqlite", tmp_path, 30) as (app, factory):
        with factory() as session:
            # A rename straight in the database, then an event from a service so that the
            # counter moves (no service renames an authority).
            session.execute(update(Authority).values(name=Authority.name + "（新）"))
            save_ground(
                session,
                rules.Actor(None, "admin", "admin", 0, True),
                ground_by_code(session, "B3"),
                title="新的事由标题",
            )
            session.commit()
        _caught_up(app, factory)
        with app.test_request_context("/"):
            result = indexing.search("公司", None, 1, 100)
            assert hits.held([hit.enterprise_id for hit in result.hits]) is not None
            shown = [li for _, found in hits.for_hits(result) for li in found]
            assert shown and all(li.authority_name.endswith("（新）") for li in shown)
            assert {li.ground_title for li in shown if li.ground_code == "B3"} == {"新的事由标题"}


def test_listings_stored_before_their_display_fields_were_are_not_held():
    """An index written before listings were stored with their ground, authority and
    listing day holds none to show: the hits are then read from the database."""
    old = {"id": 7, "list": "bad", "ground": "B1", "year": 2024, "decided_on": "2024-03-01"}
    new = dict(old, expires_on=None, listed_on="2024-03-05", ground_id=3, authority_id=9)
    assert encode_listings([old]) == ""
    later = dict(new, id=8, decided_on="2024-05-01", expires_on="2027-05-01")
    shown = decode_listings(encode_listings([new, later]))
    assert [(li.id, li.decided_on, li.expires_on, li.listed_on) for li in shown] == [
        (8, "2024-05-01", "2027-05-01", "2024-03-05"),
        (7, "2024-03-01", None, "2024-03-05"),
    ]
    doc = {"eid": "5", "names_norm": "甲公司", "name": "甲公司", "listings": [old]}
    state = Bitmaps.load([doc])
    facts = state.facts(5)
    assert facts is not None and facts.listings == ""
