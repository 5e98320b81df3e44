"""The publication log (docs/INTERFACES.md): every publication event is appended to a SHA-256
hash chain in the same transaction; `registry verify-log` fails on any change."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from registry import publog
from registry.models import Event, LogEntry
from registry.services import listings, notices
from tests.factories import Factory


@pytest.fixture
def people(make):
    return make.actor("clerk"), make.actor("reviewer")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
@example({"n": 2**70, "f": 1e16, "g": float("nan"), "s": '\x00\x1f\x7f\u2028😀"\\\n'})
@example(["\ud800", {"b": 1, "a": [2.5, -0.0, float("inf")]}, {"名称": "（北京）", "A": None}])
def test_canonical_json_is_json_dumps_with_sorted_keys_and_no_spaces(value):
    """Whichever encoder writes it, the text is json.dumps's: the entries' hashes are
    taken over it, and `verify-log` writes it again from the stored payload."""
    expected = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert publog.canonical_json(value) == expected


def entries(session) -> list[LogEntry]:
    return list(session.scalars(select(LogEntry).order_by(LogEntry.number)))


def test_publishing_a_listing_appends_the_published_fields(session, make, people):
    """2018 notice: name, USCC, licence, decision date, ground and authority are published."""
    clerk, reviewer = people
    listing = make.published_listing(clerk, reviewer)
    [entry] = entries(session)
    data = json.loads(entry.payload)
    assert entry.number == 1
    assert entry.prev_hash == publog.GENESIS_HASH
    assert (entry.entity_type, entry.entity_id, entry.action) == ("listing", listing.id, "publish")
    assert data["name"] == listing.enterprise.name
    assert data["uscc"] == listing.enterprise.uscc
    assert data["decided_on"] == listing.decided_on.isoformat()
    assert data["ground"] == "B3"
    assert data["authority"] == "440000"
    assert data["list"] == "bad" and data["state"] == "published"
    assert data["licence"] == []
    assert entry.content_hash == hashlib.sha256(entry.payload.encode()).hexdigest()
    event = session.get(Event, entry.event_id)
    assert (event.entity_type, event.action) == ("listing", "publish")


def test_payload_is_canonical_json(session, make, people):
    make.published_listing(*people)
    [entry] = entries(session)
    data = json.loads(entry.payload)
    assert entry.payload == json.dumps(
        data, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    assert "深圳市" in entry.payload  # not \\u-escaped


def test_drafts_and_submissions_are_not_logged(session, make, people):
    clerk, _ = people
    listing = make.listing(clerk)
    listings.submit_listing(session, clerk, listing)
    assert entries(session) == []


def test_removal_annulment_expiry_and_notice_extend_one_chain(session, make, people, today):
    clerk, reviewer = people
    first = make.published_listing(clerk, reviewer)
    second = make.published_listing(clerk, reviewer)
    third = make.published_listing(clerk, reviewer, ground_code="B2")
    listings.remove_listing(session, reviewer, first, "已纠正违法行为，提前移出")
    listings.annul_listing(session, reviewer, second, "决定已被撤销")
    listings.expire_due(session, make.system, third.expires_on)
    notice = notices.create_notice(
        session, clerk, slug="removal-2026-q4", title="移出公告", kind="removal", listings=[first]
    )
    notices.transition_notice(session, clerk, notice, "submit")
    notices.transition_notice(session, reviewer, notice, "publish")

    chain = entries(session)
    assert [(e.entity_type, e.action) for e in chain] == [
        ("listing", "publish"),
        ("listing", "publish"),
        ("listing", "publish"),
        ("listing", "remove"),
        ("listing", "annul"),
        ("listing", "expire"),
        ("notice", "publish"),
    ]
    assert [e.number for e in chain] == list(range(1, 8))
    for prev, entry in zip(chain, chain[1:], strict=False):
        assert entry.prev_hash == prev.entry_hash
    removal = json.loads(chain[3].payload)
    assert removal["state"] == "removed" and removal["ended_on"] is not None
    published_notice = json.loads(chain[-1].payload)
    assert published_notice["slug"] == "removal-2026-q4"
    assert published_notice["listings"][0]["uscc"] == first.enterprise.uscc
    assert published_notice["body_sha256"] == hashlib.sha256(b"").hexdigest()
    assert publog.verify(session) == (7, [])


def test_failed_publication_leaves_no_entry(session, make, people):
    """Same transaction: when the publication is rolled back, so is its entry."""
    clerk, reviewer = people
    listing = make.listing(clerk)
    listings.submit_listing(session, clerk, listing)
    nested = session.begin_nested()
    listings.publish_listing(session, reviewer, listing)
    assert len(entries(session)) == 1
    nested.rollback()
    assert entries(session) == []
    make.published_listing(clerk, reviewer)
    assert [e.number for e in entries(session)] == [1]
    assert publog.verify(session) == (1, [])


@pytest.fixture
def chain(session, make, people):
    clerk, reviewer = people
    for _ in range(3):
        make.published_listing(clerk, reviewer)
    assert publog.verify(session) == (3, [])
    return entries(session)


def _problems(session) -> list[str]:
    session.expire_all()
    return [str(p) for p in publog.verify(session)[1]]


def test_editing_a_payload_is_detected(session, chain):
    tampered = chain[1].payload.replace('"state":"published"', '"state":"removed"')
    session.execute(update(LogEntry).where(LogEntry.number == 2).values(payload=tampered))
    assert any("content_hash" in p for p in _problems(session))


def test_rehashing_an_edited_entry_breaks_the_next_link(session, chain):
    entry = chain[0]
    payload = entry.payload.replace('"list":"bad"', '"list":"dishonest"')
    content = publog.sha256_hex(payload)
    session.execute(
        update(LogEntry)
        .where(LogEntry.number == 1)
        .values(
            payload=payload,
            content_hash=content,
            entry_hash=publog.entry_hash(1, entry.prev_hash, content),
        )
    )
    problems = _problems(session)
    # the stored Merkle leaf and the node above it still hold the old entry hash
    assert problems == [
        "entry 2: prev_hash does not match the previous entry's hash",
        "entry 1: leaf hash does not match the entries",
        "entry 1: tree node 1/0 does not match the entries",
    ]


def test_deleting_the_last_entry_is_detected(session, chain):
    session.execute(delete(LogEntry).where(LogEntry.number == 3))
    problems = _problems(session)
    assert any("3 entries were appended but 2 are present" in p for p in problems)
    assert any("has no log entry" in p for p in problems)


def test_deleting_a_middle_entry_is_detected(session, chain):
    session.execute(delete(LogEntry).where(LogEntry.number == 2))
    assert any("expected entry number 2" in p for p in _problems(session))


def test_changing_the_timestamp_is_detected(session, chain):
    session.execute(
        update(LogEntry).where(LogEntry.number == 1).values(at=chain[1].at.replace(year=2020))
    )
    assert any("timestamp" in p for p in _problems(session))


def test_verify_log_command_passes_then_fails_after_tampering(app, session, chain):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["verify-log"], env={"LANGUAGE": "en"})
    assert ok.exit_code == 0, ok.output
    assert "3 entries" in ok.output and chain[-1].entry_hash in ok.output
    session.execute(update(LogEntry).where(LogEntry.number == 1).values(action="remove"))
    session.flush()
    bad = runner.invoke(args=["verify-log"], env={"LANGUAGE": "en"})
    assert bad.exit_code == 1
    assert "MISMATCH entry 1" in bad.output


def test_verify_log_on_an_empty_log(app):
    result = app.test_cli_runner().invoke(args=["verify-log"], env={"LANGUAGE": "en"})
    assert result.exit_code == 0
    assert "0 entries" in result.output


# --- /log and /log.json -------------------------------------------------------------------


def test_log_json_is_incremental(client, session, chain):
    everything = client.get("/log.json").get_json()
    assert [e["number"] for e in everything["entries"]] == [1, 2, 3]
    assert everything["head"] == {"number": 3, "entry_hash": chain[-1].entry_hash}
    assert everything["next"] is None
    newer = client.get("/log.json?after=1").get_json()
    assert [e["number"] for e in newer["entries"]] == [2, 3]
    paged = client.get("/log.json?after=0&limit=2")
    assert paged.headers["Access-Control-Allow-Origin"] == "*"
    first_page = paged.get_json()
    assert [e["number"] for e in first_page["entries"]] == [1, 2]
    follow = client.get(first_page["next"].replace("http://localhost", "")).get_json()
    assert [e["number"] for e in follow["entries"]] == [3]


def test_log_json_lets_anyone_recompute_the_chain(client, chain):
    prev = publog.GENESIS_HASH
    for entry in client.get("/log.json").get_json()["entries"]:
        assert hashlib.sha256(entry["payload"].encode()).hexdigest() == entry["content_hash"]
        link = json.dumps(
            {"content_hash": entry["content_hash"], "number": entry["number"], "prev_hash": prev},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        assert hashlib.sha256(link.encode()).hexdigest() == entry["entry_hash"]
        prev = entry["entry_hash"]


@pytest.mark.parametrize("query", ["after=-1", "after=abc", "limit=0", "limit=5000", "after=1e3"])
def test_log_json_rejects_bad_parameters(client, query):
    response = client.get(f"/log.json?{query}")
    assert response.status_code == 400
    assert response.is_json
    assert set(response.get_json()["error"]) == {"code", "message"}


def test_log_page_explains_verification(client, chain):
    response = client.get("/log")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "如何自行核验" in html
    assert chain[-1].entry_hash in html
    assert 'rel="alternate"' in html
    assert client.get("/log?page=0").status_code == 400
    assert client.get("/log?page=x").status_code == 400
    assert client.get("/log?page=99").status_code == 400


# --- concurrency --------------------------------------------------------------------------


def test_two_reviewers_publishing_at_once_give_one_chain(own_engine):
    """Appends are serialised by the counter row lock: no fork, no gap, no duplicate."""
    with Session(own_engine, expire_on_commit=False) as session:
        make = Factory(session)
        clerk = make.actor("clerk")
        reviewers = [make.actor("reviewer"), make.actor("reviewer")]
        ids = []
        for _ in range(6):
            listing = make.listing(clerk)
            listings.submit_listing(session, clerk, listing)
            ids.append(listing.id)
        session.commit()

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def publish(reviewer, my_ids):
        try:
            barrier.wait()
            for listing_id in my_ids:
                with Session(own_engine) as session:
                    from registry.models import Listing

                    listings.publish_listing(session, reviewer, session.get(Listing, listing_id))
                    session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=publish, args=(reviewers[0], ids[0::2])),
        threading.Thread(target=publish, args=(reviewers[1], ids[1::2])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Session(own_engine) as session:
        assert session.scalar(select(func.count(LogEntry.number))) == 6
        assert publog.verify(session) == (6, [])
