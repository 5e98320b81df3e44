"""Per-request work of the public search and API: the catalogue (provinces, grounds) is
kept per process for the event counter value it was loaded at; a search page's listings
come in one query whatever the number of hits."""

from __future__ import annotations

import pytest

from registry.database import get_session
from registry.web import catalogue


@pytest.fixture
def loads(monkeypatch):
    calls = []
    real = catalogue.load

    def counting(session, seq=0):
        calls.append(seq)
        return real(session, seq)

    monkeypatch.setattr(catalogue, "load", counting)
    return calls


def test_the_catalogue_is_loaded_once_per_process_not_per_request(client, loads):
    for path in ("/search?q=有限公司", "/api/v1/search?q=有限公司&ground=B3", "/about"):
        assert client.get(path).status_code == 200
    assert client.get("/api/v1/search?ground=ZZ").status_code == 400  # still validated
    assert len(loads) == 1


def test_the_catalogue_is_reloaded_when_the_event_counter_moves_and_only_then(
    app, client, make, session, loads
):
    """A ground edited elsewhere (another worker or host: nothing in this process is told)
    shows at this process's next request, because the edit advanced the event counter."""
    from registry.services.reference import save_ground

    client.get("/about")
    with app.app_context():
        get_session().commit()  # a commit that recorded nothing: the counter did not move
    client.get("/about")
    assert len(loads) == 1
    admin = make.actor("admin", "MIIT")
    save_ground(session, admin, make.ground("B3"), title="改过标题的第三项不良事由")
    page = client.get("/about").get_data(as_text=True)
    assert len(loads) == 2 and loads[1] > loads[0]
    assert "改过标题的第三项不良事由" in page


def test_a_firm_page_offers_repair_while_its_ground_has_an_active_rule(client, make, session):
    """Which grounds may be repaired online is catalogue data, kept per process like the
    rest: a rule switched off shows on the next page, because the change moved the counter."""
    from registry.services.repair_rules import save_rule

    listing = make.published_listing(make.actor("clerk"), make.actor("reviewer"), "B1")
    page = f"/enterprises/{listing.enterprise.uscc}"
    repair = f"/repairs/new?listing={listing.id}"
    assert repair in client.get(page).get_data(as_text=True)
    admin = make.actor("admin", "MIIT")
    rule = {"proof": "整改报告", "accept_days": 3, "decide_days": 7}
    save_rule(session, admin, listing.ground, **rule, active=False)
    session.commit()
    assert repair not in client.get(page).get_data(as_text=True)
    save_rule(session, admin, listing.ground, **rule, active=True)
    session.commit()
    assert repair in client.get(page).get_data(as_text=True)


def test_a_new_ground_shows_on_the_about_page_after_the_admin_commits(app, client, make):
    assert "D9" not in client.get("/about").get_data(as_text=True)
    from registry.services.reference import save_ground

    admin = make.actor("admin", "MIIT")
    with app.app_context():
        session = get_session()
        save_ground(
            session,
            admin,
            None,
            code="D9",
            list_code="dishonest",
            title="测试用的第九项失信事由",
            legal_basis="2018 通知",
            term_kind="fixed",
            term_months=60,
            removal_rule="expiry_only",
            active=True,
            position=99,
        )
        session.commit()
    assert "测试用的第九项失信事由" in client.get("/about").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/v1/search?q={q}", "/search?q={q}"])
def test_a_search_page_reads_its_listings_from_the_index_when_it_holds_every_event(
    client, make, statements, path
):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    for n in range(6):
        firm = make.enterprise(clerk, name=f"台州市青龙第{n}通信有限公司")
        make.published_listing(clerk, reviewer, "B3", enterprise=firm)
        make.published_listing(clerk, reviewer, "B2", enterprise=firm)
    # Warm: the index, the catalogue and the database's epoch (read once per process).
    assert client.get(path.format(q="青龙第0")).status_code == 200
    statements.clear()
    response = client.get(path.format(q="青龙"))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    if response.is_json:
        found = response.json["results"]
        assert len(found) == 6 and all(len(firm["listings"]) == 2 for firm in found)
    else:
        assert body.count("台州市青龙第") >= 6
        assert body.count('class="tag tag-bad"') == 12  # each firm's two listings
    assert not [s for s in statements if "FROM listing" in s]  # the index held them
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    counter_reads = [s for s in selects if "sequence_counter" in s]
    # Nothing but the event counter (read once by the request, the catalogue and the
    # search sharing it, with the highest Event number, which says the index holds them
    # all; and once by the tests' follower step before the request).
    assert selects == counter_reads, selects
    assert len(counter_reads) <= 2 and any("max(seq)" in s for s in counter_reads)
