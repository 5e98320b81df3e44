"""`?as_of=YYYY-MM-DD` on the lists, the firm page, the listings API and the open-data
downloads: the answer of a past day, said plainly on pages; bad dates are a clear 400."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from registry import visibility
from registry.models import Listing
from tests import history

AS_OF_ROUTES = (
    "/lists/bad",
    "/lists/dishonest",
    "/api/v1/listings",
    "/data/listings.csv",
    "/data/listings.json",
    "/data/listings.xlsx",
)
BAD_DATES = (
    "",
    "x",
    "2024-13-01",
    "2024-02-30",
    "2024-1-1",
    "20240101",
    "２０２４-０１-０１",
    "2024-01-01T00:00:00",
    "' OR 1=1 --",
    "9" * 5000,
)


@pytest.fixture
def past(session, make, monkeypatch):
    clock, made = history.build(session, make, monkeypatch, steps=30, seed=7)
    return made


def busy_day(session, made) -> tuple[date, set[int]]:
    """A past day on which several listings were in force."""
    rng = random.Random(3)
    for _ in range(200):
        day = date(2023, 1, 1) + timedelta(days=rng.randint(0, 400))
        ids = history.replay(session, day)
        if len(ids) >= 3:
            return day, ids
    raise AssertionError("no busy day in the history")


def test_list_page_as_of_shows_that_days_listings_and_says_it_is_a_past_date(client, session, past):
    day, ids = busy_day(session, past)
    bad = [li for li in past if li.id in ids and li.list_code == "bad"]
    page = client.get(f"/lists/bad?as_of={day}").get_data(as_text=True)
    assert "过去日期" in page and day.isoformat() in page
    for listing in bad:
        assert listing.enterprise.name in page
    gone = [li for li in past if li.id not in ids and li.list_code == "bad"]
    for listing in gone:
        assert listing.enterprise.name not in page
    assert "过去日期" not in client.get("/lists/bad").get_data(as_text=True)


def test_api_listings_as_of_equals_the_replay(client, session, past):
    day, ids = busy_day(session, past)
    answer = client.get(f"/api/v1/listings?as_of={day}&per_page=100").get_json()
    assert answer["as_of"] == day.isoformat()
    assert {row["id"] for row in answer["results"]} == ids
    assert answer["total"] == len(ids)


def test_downloads_as_of_hold_that_days_listings(client, session, past):
    day, ids = busy_day(session, past)
    names = sorted(li.enterprise.name for li in past if li.id in ids)
    data = json.loads(client.get(f"/data/listings.json?as_of={day}").get_data(as_text=True))
    assert data["as_of"] == day.isoformat()
    assert sorted(row["name"] for row in data["listings"]) == names
    response = client.get(f"/data/listings.csv?as_of={day}")
    assert f"listings-{day}.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert sorted(row[0] for row in rows[1:]) == names
    xlsx = client.get(f"/data/listings.xlsx?as_of={day}")
    assert xlsx.status_code == 200 and f"listings-{day}.xlsx" in xlsx.headers["Content-Disposition"]


def test_firm_page_as_of_shows_the_listing_of_that_day_or_says_there_was_none(
    client, session, past
):
    day, ids = busy_day(session, past)
    listing = next(li for li in past if li.id in ids)
    url = f"/enterprises/{listing.enterprise.uscc}"
    page = client.get(f"{url}?as_of={day}").get_data(as_text=True)
    assert "过去日期" in page and listing.ground.title in page
    before = listing.listed_on - timedelta(days=1)
    earlier = client.get(f"{url}?as_of={before}")
    assert earlier.status_code == 200
    assert "该日终没有公示中的名单记录" in earlier.get_data(as_text=True)


def test_firm_never_published_is_not_shown_as_of_any_day(client, make):
    clerk = make.actor("clerk")
    draft = make.listing(clerk)
    response = client.get(f"/enterprises/{draft.enterprise.uscc}?as_of=2024-01-01")
    assert response.status_code == 404


@pytest.mark.parametrize("route", AS_OF_ROUTES)
def test_bad_as_of_dates_are_a_clear_400_and_days_to_come_a_404(client, route, today):
    for raw in BAD_DATES:
        response = client.get(route, query_string={"as_of": raw})
        assert response.status_code == 400, (route, raw)
        assert "as_of" in response.get_data(as_text=True)
        if route.startswith(("/api/", "/data/")):
            assert response.is_json
    twice = client.get(f"{route}?as_of=2024-01-01&as_of=2024-01-02")
    assert twice.status_code == 400
    for raw in ((today + timedelta(days=1)).isoformat(), "9999-12-31"):
        response = client.get(route, query_string={"as_of": raw})
        assert response.status_code == 404, (route, raw)
        assert "as_of" in response.get_data(as_text=True)


@pytest.mark.parametrize("route", ["/lists/bad", "/api/v1/listings", "/data/listings.json"])
def test_a_day_before_any_list_answers_nothing_was_listed(client, route, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    make.published_listing(clerk, reviewer)
    for raw in ("1989-12-31", "0001-01-01"):
        response = client.get(route, query_string={"as_of": raw})
        assert response.status_code == 200, (route, raw)
        assert response.get_data(as_text=True)
    answer = client.get("/api/v1/listings?as_of=0001-01-01").get_json()
    assert answer["total"] == 0 and answer["as_of"] == "0001-01-01"


def test_bad_as_of_on_the_firm_page_is_a_400(client, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer)
    for raw in BAD_DATES:
        response = client.get(
            f"/enterprises/{listing.enterprise.uscc}", query_string={"as_of": raw}
        )
        assert response.status_code == 400, raw
    tomorrow = listing.listed_on + timedelta(days=1)
    later = client.get(f"/enterprises/{listing.enterprise.uscc}?as_of={tomorrow}")
    assert later.status_code == 404


def test_as_of_today_answers_like_the_live_api(client, session, make, today):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    make.published_listing(clerk, reviewer)
    live = client.get("/api/v1/listings?per_page=100").get_json()
    then = client.get(f"/api/v1/listings?per_page=100&as_of={today}").get_json()
    assert then["results"] == live["results"]
    ids = set(session.scalars(select(Listing.id).where(visibility.listing_in_force(today))))
    assert {row["id"] for row in then["results"]} == ids
