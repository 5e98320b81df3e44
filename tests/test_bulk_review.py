"""Import batches as records, and bulk review: a reviewer publishes or returns a batch (or
any filtered view) in one action, each listing exactly as a single publication would."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from registry import publog, rules
from registry.models import Event, ImportBatch, Listing, LogEntry
from registry.services import bulk_review
from registry.services.accounts import actor_for
from tests.factories import login, post
from tests.test_route_policy import row_counts

A, B, MINISTRY = "440000", "110000", "MIIT"


def _count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def _batch_listings(session, batch) -> list[Listing]:
    return list(
        session.scalars(
            select(Listing).where(Listing.import_batch_id == batch.id).order_by(Listing.id)
        )
    )


def test_a_batch_records_who_when_which_file_and_links_its_listings(make, session):
    clerk = make.user("clerk", A)
    batch = make.import_batch(actor_for(clerk), count=4)
    assert batch.created_by_id == clerk.id and batch.actor_label == clerk.username
    assert len(batch.sha256) == 64 and batch.size > 0 and batch.total_rows == 4
    assert batch.counts["listings"] == 4 and batch.counts["enterprises"] == 4
    listings = _batch_listings(session, batch)
    assert [item.state for item in listings] == ["submitted"] * 4
    events = session.scalars(
        select(Event).where(Event.entity_type == "import_batch", Event.entity_id == batch.id)
    ).all()
    assert [e.action for e in events] == ["import"]


def test_bulk_publish_of_a_batch_publishes_exactly_its_submitted_records(make, session, app):
    clerk, reviewer = make.actor("clerk", A), make.actor("reviewer", A)
    batch = make.import_batch(clerk, count=6)
    other = make.import_batch(clerk, count=2)  # not selected: stays submitted
    chosen = _batch_listings(session, batch)
    events_before = _count(session, Event, Event.action == "publish")
    log_before = _count(session, LogEntry)
    done = bulk_review.bulk_review(session, reviewer, chosen, "publish")
    session.flush()
    assert done == 6
    assert {item.state for item in _batch_listings(session, batch)} == {"published"}
    assert {item.state for item in _batch_listings(session, other)} == {"submitted"}
    publishes = session.scalars(
        select(Event.entity_id).where(Event.action == "publish", Event.entity_type == "listing")
    ).all()
    assert _count(session, Event, Event.action == "publish") - events_before == 6
    assert sorted(publishes)[-6:] == sorted(item.id for item in chosen)
    entries = session.scalars(
        select(LogEntry.entity_id).where(LogEntry.entity_type == "listing")
    ).all()
    assert _count(session, LogEntry) - log_before == 6
    assert set(item.id for item in chosen) <= set(entries)
    assert publog.verify(session)[1] == []
    result = app.test_cli_runner().invoke(args=["verify-log"], env={"LANGUAGE": "en"})
    assert result.exit_code == 0, result.output


def test_the_importer_may_not_publish_their_own_batch(make, session):
    reviewer = make.actor("reviewer", A)
    batch = make.import_batch(reviewer, count=3)  # imported (submitted) by the reviewer
    before = row_counts(session)
    with pytest.raises(rules.RuleViolation) as refused:
        bulk_review.bulk_review(session, reviewer, _batch_listings(session, batch), "publish")
    assert refused.value.code == "four_eyes"
    assert row_counts(session) == before
    # One at a time neither.
    from registry.services import listings

    with pytest.raises(rules.RuleViolation):
        listings.publish_listing(session, reviewer, _batch_listings(session, batch)[0])


def test_the_submitter_in_the_set_refuses_the_whole_set(make, session):
    clerk, reviewer = make.actor("clerk", A), make.actor("reviewer", A)
    from registry.services import listings

    mine = make.listing(reviewer)
    listings.submit_listing(session, reviewer, mine)
    batch = make.import_batch(clerk, count=3)
    chosen = [*_batch_listings(session, batch), mine]
    before = row_counts(session)
    with pytest.raises(rules.RuleViolation) as refused:
        bulk_review.bulk_review(session, reviewer, chosen, "publish")
    assert refused.value.code == "four_eyes"
    assert row_counts(session) == before
    assert {item.state for item in chosen} == {"submitted"}


def test_a_set_reaching_another_bureaus_records_is_refused_with_nothing_written(make, session):
    clerk_a, clerk_b = make.actor("clerk", A), make.actor("clerk", B)
    reviewer_b = make.actor("reviewer", B)
    own = _batch_listings(session, make.import_batch(clerk_b, count=2))
    foreign = _batch_listings(session, make.import_batch(clerk_a, count=2))
    before = row_counts(session)
    for action, reason in (("publish", ""), ("return", "不符合条件")):
        with pytest.raises(rules.RuleViolation) as refused:
            bulk_review.bulk_review(session, reviewer_b, own + foreign, action, reason=reason)
        assert refused.value.code == "forbidden"
        assert row_counts(session) == before
    assert {item.state for item in own + foreign} == {"submitted"}


def test_bulk_return_needs_a_reason_and_returns_each_with_it(make, session):
    clerk, reviewer = make.actor("clerk", A), make.actor("reviewer", A)
    chosen = _batch_listings(session, make.import_batch(clerk, count=3))
    with pytest.raises(rules.RuleViolation):
        bulk_review.bulk_review(session, reviewer, chosen, "return")
    bulk_review.bulk_review(session, reviewer, chosen, "return", reason="列入事由有误")
    assert {(item.state, item.returned_reason) for item in chosen} == {("draft", "列入事由有误")}


def test_bulk_return_records_what_a_single_return_records(make, session):
    """The same Event fields and reason, no publication-log entry, the version counted
    once and the rows as the objects say."""
    from registry.services import listings

    clerk, reviewer = make.actor("clerk", A), make.actor("reviewer", A)
    single = make.listing(clerk)
    listings.submit_listing(session, clerk, single)
    listings.return_listing(session, reviewer, single, " 材料不全 ")
    chosen = _batch_listings(session, make.import_batch(clerk, count=3))
    session.flush()
    versions = {item.id: item.version_id for item in chosen}
    log_before = _count(session, LogEntry)
    bulk_review.bulk_review(session, reviewer, chosen, "return", reason=" 材料不全 ")

    def returned(item):
        return session.scalars(
            select(Event).where(
                Event.entity_type == "listing",
                Event.entity_id == item.id,
                Event.action == "return",
            )
        ).one()

    one = returned(single)
    for item in chosen:
        event = returned(item)
        assert set(event.after) == set(one.after) and event.reason == one.reason == "材料不全"
        assert event.before["state"] == "submitted" and event.after["state"] == "draft"
        assert event.after["version_id"] == versions[item.id] + 1
    assert _count(session, LogEntry) == log_before
    session.expire_all()
    assert {(item.state, item.returned_reason) for item in chosen} == {("draft", "材料不全")}
    assert [item.version_id for item in chosen] == [versions[item.id] + 1 for item in chosen]


def _client(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def test_reviewer_publishes_a_batch_from_its_page_in_one_action(app, make, session):
    clerk_user, reviewer_user = make.user("clerk", A), make.user("reviewer", A)
    batch = make.import_batch(actor_for(clerk_user), count=5)
    session.flush()
    reviewer = _client(app, reviewer_user)
    dashboard = reviewer.get("/admin/").get_data(as_text=True)
    section = dashboard[dashboard.index('id="to-review"') :].split("</section>")[0]
    assert "全部待审核名单记录：5条" in dashboard, section  # counted, not only the first 50
    assert section.count("/admin/listings/") == 5  # the import's listings are to review
    page = reviewer.get(f"/admin/imports/{batch.id}").get_data(as_text=True)
    assert batch.sha256 in page and "公示本批次全部5条待审核记录" in page
    # Before confirming: how many, in one transaction, and about how long.
    assert "将在一个事务中公示这5条记录，预计约需1秒" in page
    # The clerk who imported it is not offered the action.
    clerk_page = _client(app, clerk_user).get(f"/admin/imports/{batch.id}")
    assert "公示本批次" not in clerk_page.get_data(as_text=True)
    stale = post(reviewer, f"/admin/imports/{batch.id}/publish", {"expected": 4})
    assert stale.status_code == 409
    response = post(reviewer, f"/admin/imports/{batch.id}/publish", {"expected": 5})
    assert response.status_code == 302
    assert {item.state for item in _batch_listings(session, batch)} == {"published"}
    listed = reviewer.get(f"/admin/listings?batch={batch.id}&state=published")
    assert "共 5 条" in listed.get_data(as_text=True)


def test_bulk_publish_of_a_filtered_view_takes_only_that_view(app, make, session):
    clerk, reviewer_user = make.actor("clerk", A), make.user("reviewer", A)
    d2 = _batch_listings(session, make.import_batch(clerk, count=2, ground_code="D2"))
    b3 = _batch_listings(session, make.import_batch(clerk, count=3, ground_code="B3"))
    session.flush()
    reviewer = _client(app, reviewer_user)
    response = post(reviewer, "/admin/listings/bulk-publish?ground=D2", {"expected": 2})
    assert response.status_code == 302
    session.expire_all()
    assert {item.state for item in d2} == {"published"}
    assert {item.state for item in b3} == {"submitted"}


def test_another_bureaus_batch_page_and_actions_are_404(app, make, session):
    batch = make.import_batch(make.actor("clerk", A), count=1)
    reviewer_b = make.user("reviewer", B)
    session.flush()
    client = _client(app, reviewer_b)
    before = row_counts(session)
    assert client.get(f"/admin/imports/{batch.id}").status_code == 404
    assert post(client, f"/admin/imports/{batch.id}/publish", {"expected": 1}).status_code == 404
    assert row_counts(session) == before
    assert f"/admin/imports/{batch.id}" not in client.get("/admin/imports").get_data(as_text=True)


def test_page_import_records_its_batch_and_leads_to_it(app, make, session):
    from tests.test_admin_import import _client as import_client
    from tests.test_admin_import import confirm, confirm_fields, rows, to_csv, upload

    clerk = import_client(app, make, "clerk")
    page = upload(clerk, to_csv(rows(3))).get_data(as_text=True)
    response = confirm(clerk, confirm_fields(page))
    assert response.status_code == 302 and "/admin/imports/" in response.headers["Location"]
    batch = session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
    assert batch.source == "web" and batch.filename.endswith(".csv")
    assert len(_batch_listings(session, batch)) == 3


def test_bulk_publication_records_what_a_single_publication_records(make, session):
    """The same Event fields and log payload keys, the decision behind a listing published
    first, and the version counted once."""
    from registry.services import listings, sanctions

    clerk, reviewer = make.actor("clerk", A), make.actor("reviewer", A)
    single = make.listing(clerk)
    listings.submit_listing(session, clerk, single)
    listings.publish_listing(session, reviewer, single)
    firm = make.enterprise(clerk)
    decision = make.sanction(clerk, firm)
    sanctions.submit_sanction(session, clerk, decision)
    with_decision = make.listing(clerk, enterprise=firm, sanction=decision)
    listings.submit_listing(session, clerk, with_decision)
    plain = _batch_listings(session, make.import_batch(clerk, count=2))
    bulk_review.bulk_review(session, reviewer, [with_decision, *plain], "publish")
    session.flush()
    assert decision.state == "published" and with_decision.state == "published"

    def published(item):
        event = session.scalars(
            select(Event).where(
                Event.entity_type == "listing",
                Event.entity_id == item.id,
                Event.action == "publish",
            )
        ).one()
        entry = session.scalars(select(LogEntry).where(LogEntry.event_id == event.id)).one()
        return event, entry

    one_event, one_entry = published(single)
    for item in [with_decision, *plain]:
        event, entry = published(item)
        assert set(event.after) == set(one_event.after)
        assert event.actor_id == reviewer.user_id and event.before["state"] == "submitted"
        assert set(json.loads(entry.payload)) == set(json.loads(one_entry.payload))
        assert item.version_id == event.after["version_id"]
    assert publog.verify(session)[1] == []


def test_a_listing_changed_by_someone_else_meanwhile_fails_the_set_with_nothing_kept(make, session):
    """Another reviewer's committed change (its version bumped in the database) after the
    set was loaded: the publication raises a conflict before any Event or log entry, and
    the caller's rollback leaves every listing as it was."""
    from sqlalchemy import update

    from registry.errors import ConflictError

    clerk, reviewer = make.actor("clerk", A), make.actor("reviewer", A)
    chosen = _batch_listings(session, make.import_batch(clerk, count=4))
    session.flush()
    versions = [item.version_id for item in chosen]
    before = row_counts(session)
    attempt = session.begin_nested()
    session.execute(
        update(Listing)
        .where(Listing.id == chosen[2].id)
        .values(version_id=Listing.version_id + 1)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(ConflictError):
        bulk_review.bulk_review(session, reviewer, chosen, "publish")
    counts = row_counts(session)
    assert counts["event"] == before["event"] and counts["log_entry"] == before["log_entry"]
    attempt.rollback()
    session.expire_all()
    assert [(item.state, item.version_id) for item in chosen] == [
        ("submitted", version) for version in versions
    ]
    assert row_counts(session) == before


def test_bulk_publication_sets_each_expiry_and_bumps_each_version_once(make, session):
    """Listings whose expiry differs (grounds of 36 and 60 months, and one until removed)
    are each given theirs, and the objects in the session match the rows (a later single
    change still saves)."""
    from registry.services import listings

    clerk, reviewer = make.actor("clerk", A), make.actor("reviewer", A)
    chosen = [
        *_batch_listings(session, make.import_batch(clerk, count=2, ground_code="B3")),
        *_batch_listings(session, make.import_batch(clerk, count=2, ground_code="D2")),
        *_batch_listings(session, make.import_batch(clerk, count=1, ground_code="B1")),
    ]
    session.flush()
    versions = {item.id: item.version_id for item in chosen}
    bulk_review.bulk_review(session, reviewer, chosen, "publish")
    expected = {
        item.id: listings.publication_values(reviewer, item, item.published_at)["expires_on"]
        for item in chosen
    }
    session.expire_all()
    rows = {item.id: (item.state, item.version_id, item.expires_on) for item in chosen}
    assert rows == {key: ("published", versions[key] + 1, expected[key]) for key in versions}
    assert len(set(expected.values())) == 3
    listings.remove_listing(session, reviewer, chosen[1], "已整改", filing_confirmed=True)
    session.flush()
    assert chosen[1].version_id == versions[chosen[1].id] + 2


def test_the_stated_duration_grows_with_the_set_and_covers_the_measured_rate():
    """The estimate shown before a bulk publication: at least a second, rounded up, and for
    a quarter's 11,435 listings more than the bench machine's measured time (under 10 s)."""
    assert bulk_review.expected_seconds(1) == 1
    assert bulk_review.expected_seconds(1001) == 3
    assert bulk_review.expected_seconds(11_435) == 23
    sizes = [1, 499, 500, 2_000, 11_435, 50_000]
    estimates = [bulk_review.expected_seconds(n) for n in sizes]
    assert estimates == sorted(estimates)


def test_the_listings_view_states_the_bulk_publication_before_it_is_confirmed(app, make, session):
    clerk, reviewer_user = make.actor("clerk", A), make.user("reviewer", A)
    make.import_batch(clerk, count=3, ground_code="D2")
    session.flush()
    page = _client(app, reviewer_user).get("/admin/listings?ground=D2").get_data(as_text=True)
    bulk = page[page.index('id="bulk"') :].split("</div>")[0]
    assert "公示当前视图中全部3条待审核记录" in bulk
    assert "将在一个事务中公示这3条记录，预计约需1秒" in bulk
