"""The back office's registers (/admin/listings, /sanctions, /notices, /petitions): every
filter, the search, the counts and the CSV download equal a brute-force reading of all rows,
and a bureau never sees another bureau's records."""

from __future__ import annotations

import csv
import io
import itertools
import random
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from registry import rules, text
from registry.models import ImportBatch, Licence, Listing, Notice, Petition, Sanction
from registry.services import enterprises, listings, notices, petitions, registers, sanctions
from registry.services.accounts import actor_for
from registry.services.registers import Filters
from tests.factories import login

A, B, MINISTRY = "440000", "110000", "MIIT"


def _days_ago(n: int) -> date:
    return rules.today() - timedelta(days=n)


@pytest.fixture
def world(make, session):
    """Two bureaus' records in every state, on firms of three provinces."""
    users = {
        "clerk_a": make.user("clerk", A),
        "clerk_a2": make.user("clerk", A),
        "reviewer_a": make.user("reviewer", A),
        "clerk_b": make.user("clerk", B),
        "reviewer_b": make.user("reviewer", B),
        "reviewer_m": make.user("reviewer", MINISTRY),
    }
    who = {name: actor_for(user) for name, user in users.items()}
    pick = random.Random(16)
    states = ["draft", "submitted", "published", "annulled"]
    grounds = ["B1", "B3", "D2"]
    for n in range(36):
        bureau = "a" if n % 3 else "b"
        clerk = who["clerk_a2"] if n % 5 == 0 and bureau == "a" else who[f"clerk_{bureau}"]
        reviewer = who[f"reviewer_{bureau}"]
        firm = make.enterprise(
            clerk,
            name=f"测试{'甲乙丙'[n % 3]}{n}网络Tech有限公司",
            province_code=["440000", "110000", "310000"][n % 3],
        )
        if n % 4 == 0:
            enterprises.add_licence(session, clerk, firm, number=f"粤B2-2010{n:04d}")
        sanction = make.sanction(clerk, firm, decided_on=_days_ago(pick.randint(1, 400)))
        item = make.listing(
            clerk, grounds[n % 3], enterprise=firm, decided_on=_days_ago(pick.randint(1, 400))
        )
        state = states[n % 4]
        if state != "draft":
            sanctions.submit_sanction(session, clerk, sanction)
            listings.submit_listing(session, clerk, item)
        if state in ("published", "annulled"):
            listings.publish_listing(session, reviewer, item)
            sanctions.publish_sanction(session, reviewer, sanction)
        if state == "annulled":
            listings.annul_listing(session, reviewer, item, "列入错误")
        if state == "published" and n % 2 == 0:
            petitions.record_petition(
                session,
                clerk,
                item,
                kind=["objection", "credit_repair"][n % 3 % 2],
                petitioner=f"申请人{n}",
                received_on=_days_ago(pick.randint(0, 3)),
            )
            note = notices.create_notice(
                session, clerk, slug=f"reg-{n}", title=f"公告{n}", listings=[item]
            )
            if n % 3:
                notices.transition_notice(session, clerk, note, "submit")
    make.import_batch(who["clerk_a"], count=3)
    make.import_batch(who["clerk_b"], count=2, ground_code="D2")
    session.flush()
    return users, who


def _tenant(record, who, f: Filters) -> bool:
    if not who.is_ministry:
        return record.authority_id == who.authority_id
    return f.authority is None or record.authority_id == f.authority


def _firm_hit(firm, q: str) -> bool:
    licences = {licence.number_canonical for licence in firm.licences}
    return (
        q.lower() in firm.name.lower()
        or (text.looks_like_uscc(q) and firm.uscc == text.canonical_uscc(q))
        or text.canonical_licence(q) in licences
    )


def _in_range(day, f: Filters) -> bool:
    if day is None:
        return f.date_from is None and f.date_to is None
    return (f.date_from is None or day >= f.date_from) and (f.date_to is None or day <= f.date_to)


def _brute(kind: str, record, who, f: Filters, *, with_state: bool = True) -> bool:
    """The rule of a filtered view, written over one loaded record."""
    if not _tenant(record, who, f) or (with_state and f.state and record.state != f.state):
        return False
    if kind == "listing":
        decision = record.sanction.decision_no_canonical if record.sanction else None
        return (
            (not f.list_code or record.list_code == f.list_code)
            and (not f.ground or record.ground.code == f.ground)
            and (not f.province or record.enterprise.province_code == f.province)
            and (f.submitter is None or record.submitted_by_id == f.submitter)
            and (f.batch is None or record.import_batch_id == f.batch)
            and _in_range(record.decided_on, f)
            and (
                not f.q
                or _firm_hit(record.enterprise, f.q)
                or decision == text.canonical_decision_no(f.q)
            )
        )
    if kind == "sanction":
        return (
            (not f.province or record.enterprise.province_code == f.province)
            and (f.submitter is None or record.submitted_by_id == f.submitter)
            and _in_range(record.decided_on, f)
            and (
                not f.q
                or _firm_hit(record.enterprise, f.q)
                or record.decision_no_canonical == text.canonical_decision_no(f.q)
            )
        )
    if kind == "notice":
        published = record.published_at.date() if record.published_at else None
        return (
            (not f.kind or record.kind == f.kind)
            and (f.submitter is None or record.submitted_by_id == f.submitter)
            and (f.date_from is None and f.date_to is None or _in_range(published, f))
            and (not f.q or f.q.lower() in record.title.lower() or record.slug == f.q)
        )
    firm = record.listing.enterprise
    return (
        (not f.kind or record.kind == f.kind)
        and (not f.list_code or record.listing.list_code == f.list_code)
        and (not f.province or firm.province_code == f.province)
        and _in_range(record.received_on, f)
        and (not f.q or f.q.lower() in record.petitioner.lower() or _firm_hit(firm, f.q))
    )


MODELS = {"listing": Listing, "sanction": Sanction, "notice": Notice, "petition": Petition}


def _views(session, kind: str, who, users) -> list[Filters]:
    """Each filter alone, pairs of them, and searches by every kind of key."""
    firm_listing = session.scalars(select(Listing).order_by(Listing.id)).first()
    licence = session.scalars(select(Licence).order_by(Licence.id)).first()
    decision = session.scalars(select(Sanction).order_by(Sanction.id)).first()
    authority_a = users["clerk_a"].authority_id
    batches = session.scalars(select(ImportBatch.id).order_by(ImportBatch.id)).all()
    single = [
        *(Filters(batch=batch) for batch in batches[-2:]),
        Filters(),
        *(Filters(state=s) for s in registers.STATES[kind]),
        Filters(list_code="bad"),
        Filters(list_code="dishonest"),
        Filters(ground="B1"),
        Filters(ground="D2"),
        Filters(province="110000"),
        Filters(date_from=_days_ago(200)),
        Filters(date_to=_days_ago(100)),
        Filters(date_from=_days_ago(300), date_to=_days_ago(50)),
        Filters(date_from=_days_ago(2), date_to=_days_ago(0)),
        Filters(submitter=users["clerk_a2"].id),
        Filters(authority=authority_a),
        Filters(kind="objection"),
        Filters(kind="exposure"),
        Filters(q="甲"),
        Filters(q="tech"),  # case does not matter
        Filters(q="%"),  # a LIKE wildcard is a plain character
        Filters(q=firm_listing.enterprise.uscc),
        Filters(q=licence.number.lower()),
        Filters(q=decision.decision_no),
        Filters(q="申请人1"),
        Filters(q="公告1"),
    ]
    pairs = [
        Filters(**(vars(a) | {k: v for k, v in vars(b).items() if v not in ("", None, 1)}))
        for a, b in itertools.combinations(single[2:14], 2)
    ]
    return single + pairs


@pytest.mark.parametrize("kind", registers.KINDS)
@pytest.mark.parametrize("reader", ["clerk_a", "reviewer_b", "reviewer_m"])
def test_filters_and_counts_equal_a_brute_force_reading(world, session, kind, reader):
    users, who = world
    actor = who[reader]
    everything = session.scalars(select(MODELS[kind])).all()
    for f in _views(session, kind, who, users):
        expected = {r.id for r in everything if _brute(kind, r, actor, f)}
        found = session.scalars(registers.select_ids(kind, actor, f)).all()
        assert sorted(found) == sorted(expected), (kind, reader, f)
        counts = registers.counts_by_state(session, kind, actor, f)
        for state, count in counts.items():
            brute = [r for r in everything if _brute(kind, r, actor, f, with_state=False)]
            assert count == sum(1 for r in brute if r.state == state), (kind, reader, f, state)
        result = registers.page(session, kind, actor, f)
        assert result.total == len(expected)
        assert {r.id for r in result.items} <= expected


def test_pages_cover_the_view_once_in_its_order(world, session, monkeypatch):
    _users, who = world
    monkeypatch.setattr(registers, "PER_PAGE", 5)
    f = Filters(sort="name")
    every = [
        r.id for r in session.scalars(registers.select_records("listing", who["reviewer_m"], f))
    ]
    seen = []
    for number in itertools.count(1):
        result = registers.page(
            session, "listing", who["reviewer_m"], Filters(sort="name", page=number)
        )
        seen += [r.id for r in result.items]
        if number >= result.pages:
            break
    assert seen == every and len(every) == 36 + 5
    names = [session.get(Listing, i).enterprise.name for i in seen]
    assert names == sorted(names)


def _client(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def test_page_and_csv_show_the_same_filtered_view(app, world, session):
    users, who = world
    client = _client(app, users["reviewer_a"])
    query = "?state=published&province=110000&sort=-decided_on"
    page = client.get("/admin/listings" + query)
    assert page.status_code == 200
    f = Filters(state="published", province="110000")
    expected = session.scalars(registers.select_ids("listing", who["reviewer_a"], f)).all()
    assert expected
    body = page.get_data(as_text=True)
    assert f"共 {len(expected)} 条" in body
    for listing_id in expected:
        assert f"/admin/listings/{listing_id}" in body
    download = client.get("/admin/listings.csv" + query)
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert sorted(int(row[0]) for row in rows[1:]) == sorted(expected)


@pytest.mark.parametrize("kind", registers.KINDS)
def test_a_bureau_sees_none_of_another_bureaus_records(app, world, session, kind):
    users, _who = world
    client = _client(app, users["clerk_b"])
    # Asking for bureau A by the ministry's filter does not widen a bureau's view.
    authority_a = users["clerk_a"].authority_id
    download = client.get(f"/admin/{kind}s.csv?authority={authority_a}")
    ids = {
        int(row[0])
        for row in csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff")))
        if row[0].isdigit()
    }
    owners = {session.get(MODELS[kind], i).authority_id for i in ids}
    assert owners <= {users["clerk_b"].authority_id}


@pytest.mark.parametrize(
    "query",
    [
        "state=bogus",
        "list=x",
        "from=2020-13-01",
        "to=yesterday",
        "page=-1",
        "batch=1e3",
        "province=44",
        "ground=B1;DROP",
        "sort=id; --",
        "authority=abc",
    ],
)
def test_malformed_filters_are_a_400_not_a_500(app, world, query):
    users, _who = world
    client = _client(app, users["clerk_a"])
    assert client.get(f"/admin/listings?{query}").status_code == 400
    assert client.get(f"/admin/listings.csv?{query}").status_code == 400


def test_csv_cells_that_look_like_formulas_are_neutralised(app, make, session):
    clerk_user = make.user("clerk", A)
    clerk = actor_for(clerk_user)
    make.listing(clerk, enterprise=make.enterprise(clerk, name="=HYPERLINK(1)网络有限公司"))
    session.flush()
    body = _client(app, clerk_user).get("/admin/listings.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in body
