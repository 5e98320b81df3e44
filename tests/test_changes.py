"""`/changes?from=&to=`: what entered and left the lists between two days equals the
difference of the two as-of answers, in HTML, JSON, CSV and a feed that parses."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta

import feedparser
import pytest
from sqlalchemy import select

from registry import asof, visibility
from registry.models import Listing
from tests import history


def as_of_ids(session, day: date) -> set[int]:
    return set(session.scalars(select(Listing.id).where(visibility.listing_in_force_as_of(day))))


@pytest.fixture
def past(session, make, monkeypatch):
    return history.build(session, make, monkeypatch, steps=50, seed=11)[1]


def test_changes_are_the_difference_of_two_as_of_answers(session, past):
    rng = random.Random(2)
    span = (date(2022, 12, 1), date(2025, 3, 1))
    checked = 0
    for _ in range(40):
        a = span[0] + timedelta(days=rng.randint(0, (span[1] - span[0]).days))
        b = a + timedelta(days=rng.randint(0, 300))
        found = asof.changes(session, a, b)
        listed = {c.listing_id for c in found if c.kind == "listed"}
        left = {c.listing_id for c in found if c.kind != "listed"}
        before, after = as_of_ids(session, a), as_of_ids(session, b)
        assert not listed & before
        assert left <= before | listed
        assert after == (before | listed) - left, (a, b)
        assert all(a < c.day <= b for c in found)
        checked += bool(found)
    assert checked > 20


def test_every_kind_of_change_appears_in_the_history(session, past):
    kinds = {c.kind for c in asof.changes(session, date(2022, 1, 1), date(2026, 1, 1))}
    assert kinds == {"listed", "removed", "annulled", "expired"}


def window_with_changes(session) -> tuple[date, date, list[asof.Change]]:
    first, upto = date(2023, 3, 1), date(2023, 12, 31)
    return first, upto, asof.changes(session, first - timedelta(days=1), upto)


def test_changes_json_lists_each_change_with_a_link(client, session, past):
    first, upto, found = window_with_changes(session)
    answer = client.get(f"/changes.json?from={first}&to={upto}").get_json()
    assert (answer["from"], answer["to"]) == (first.isoformat(), upto.isoformat())
    got = [(row["listing_id"], row["day"], row["change"]) for row in answer["changes"]]
    assert got == [(c.listing_id, c.day.isoformat(), c.kind) for c in found]
    assert sum(answer["counts"].values()) == len(found)
    for row in answer["changes"]:
        assert row["url"].startswith("http") and "?as_of=" in row["url"]
        path = row["url"].split("://", 1)[1].split("/", 1)[1]
        assert client.get("/" + path).status_code == 200


def test_changes_page_csv_and_feed_show_the_same_changes(client, session, past):
    first, upto, found = window_with_changes(session)
    names = {li.id: li.enterprise.name for li in past}
    page = client.get(f"/changes?from={first}&to={upto}").get_data(as_text=True)
    for change in found[:100]:
        assert names[change.listing_id] in page
    text = client.get(f"/changes.csv?from={first}&to={upto}").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert [row[2] for row in rows[1:]] == [names[c.listing_id] for c in found]
    feed = feedparser.parse(client.get(f"/changes.atom?from={first}&to={upto}").data)
    assert not feed.bozo
    assert len(feed.entries) == len(found)
    assert {entry.link for entry in feed.entries} <= {
        row["url"]
        for row in client.get(f"/changes.json?from={first}&to={upto}").get_json()["changes"]
    }
    rss = feedparser.parse(client.get(f"/changes.rss?from={first}&to={upto}").data)
    assert not rss.bozo and len(rss.entries) == len(found)


def test_changes_default_to_the_last_30_days(client, today):
    answer = client.get("/changes.json").get_json()
    assert answer["to"] == today.isoformat()
    assert answer["from"] == (today - timedelta(days=29)).isoformat()


@pytest.mark.parametrize("route", ["/changes", "/changes.json", "/changes.csv", "/changes.atom"])
def test_bad_windows_are_a_clear_400_and_days_to_come_a_404(client, route, today):
    cases = [
        {"from": "2024-02-30"},
        {"to": "x"},
        {"from": "2024-05-01", "to": "2024-04-01"},
        {"from": "9" * 3000},
    ]
    for args in cases:
        response = client.get(route, query_string=args)
        assert response.status_code == 400, (route, args)
    for args in ({"to": (today + timedelta(days=1)).isoformat()}, {"from": "9999-01-01"}):
        assert client.get(route, query_string=args).status_code == 404, (route, args)
        assert ("from" in response.get_data(as_text=True)) or (
            "to" in response.get_data(as_text=True)
        )
    assert client.get(route, query_string={"page": "0"}).status_code in (200, 400)
