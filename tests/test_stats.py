"""/stats, /stats.json and /stats.csv: every number equals a brute-force count over all rows.

The data are written through the services, then their dates moved to known days (quarters
past, the 30-day boundary, a removal just after midnight in Shanghai) so that each rule of
registry.stats is exercised; the expected numbers are computed here in plain Python over
every listing row, independently of the SQL aggregates under test.
"""

from __future__ import annotations

import csv
import io
import statistics
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from registry.models import Authority, Enterprise, Ground, Listing
from tests.factories import login
from tests.html_tables import Tables

SHANGHAI = ZoneInfo("Asia/Shanghai")
EVER = ("published", "removed", "expired", "annulled")
SVG = "{http://www.w3.org/2000/svg}"


# --- data -------------------------------------------------------------------------------


@pytest.fixture
def dataset(session, make, today):
    """Listings of two authorities over several quarters, every state, the 30-day edge."""
    gd_clerk, gd_reviewer = make.actor("clerk", "440000"), make.actor("reviewer", "440000")
    bj_clerk, bj_reviewer = make.actor("clerk", "110000"), make.actor("reviewer", "110000")
    d1 = make.ground("D1")
    last_year = today.year - 1
    rows = []

    def add(clerk, reviewer, province, listed_on, days, state="published", **changes):
        firm = make.enterprise(clerk, province_code=province)
        listing = make.published_listing(clerk, reviewer, enterprise=firm)
        listing.listed_on = listed_on
        listing.decided_on = listed_on - timedelta(days=days)
        listing.expires_on = changes.pop("expires_on", listed_on + timedelta(days=365 * 3))
        listing.state = state
        for key, value in changes.items():
            setattr(listing, key, value)
        rows.append(listing)
        return listing

    # the 30-day boundary, in one quarter of last year
    for days in (29, 30, 31, 0, 30, 45):
        add(gd_clerk, gd_reviewer, "440000", date(last_year, 5, 10), days)
    add(bj_clerk, bj_reviewer, "110000", date(last_year, 2, 1), 31)
    add(
        bj_clerk,
        bj_reviewer,
        "110000",
        date(last_year, 11, 30),
        10,
        list_code="dishonest",
        ground_id=d1.id,
    )
    # removed a few minutes after midnight in Shanghai on 1 April: counted in Q2
    add(
        gd_clerk,
        gd_reviewer,
        "440000",
        date(last_year, 1, 5),
        3,
        state="removed",
        ended_at=datetime(last_year, 3, 31, 16, 5, tzinfo=UTC),
    )
    add(
        gd_clerk,
        gd_reviewer,
        "440000",
        date(last_year, 1, 6),
        3,
        state="annulled",
        ended_at=datetime(last_year, 3, 31, 15, 55, tzinfo=UTC),
    )
    add(
        bj_clerk,
        bj_reviewer,
        "110000",
        date(last_year - 1, 8, 1),
        12,
        state="expired",
        expires_on=date(last_year, 8, 1),
        ended_at=datetime(last_year, 8, 2, tzinfo=UTC),
    )
    # past its expiry date, not yet swept: it has left the list
    add(
        gd_clerk,
        gd_reviewer,
        "440000",
        date(last_year - 1, 7, 1),
        2,
        expires_on=today - timedelta(days=1),
    )
    add(gd_clerk, gd_reviewer, "440000", today, 1)
    add(bj_clerk, bj_reviewer, "110000", today - timedelta(days=3), 40)
    # never published: not counted anywhere
    make.listing(gd_clerk)
    draft = make.listing(bj_clerk)
    from registry.services import listings

    listings.submit_listing(session, bj_clerk, draft)
    session.flush()
    return rows


# --- brute force ------------------------------------------------------------------------


def quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def left_on(listing: Listing, today: date) -> tuple[date, str] | None:
    if listing.state in ("removed", "annulled"):
        return listing.ended_at.astimezone(SHANGHAI).date(), listing.state
    if listing.state == "expired":
        return listing.expires_on, "expired"
    if listing.state == "published" and listing.expires_on and listing.expires_on <= today:
        return listing.expires_on, "expired"
    return None


def brute_force(session, today: date, year: int | None = None, province: str | None = None):
    """Everything /stats shows, counted row by row."""
    authorities = {a.id: a for a in session.scalars(select(Authority))}
    grounds = {g.id: g for g in session.scalars(select(Ground))}
    provinces = {e.id: e.province_code for e in session.scalars(select(Enterprise))}
    rows = [
        li
        for li in session.scalars(select(Listing))
        if li.state in EVER and (province is None or provinces[li.enterprise_id] == province)
    ]

    def in_period(day: date | None) -> bool:
        return day is not None and (year is None or day.year == year)

    out = {"in_force": Counter(), "quarters": defaultdict(Counter)}
    dims = {name: defaultdict(Counter) for name in ("list", "ground", "province", "authority")}
    timely = defaultdict(list)
    for li in rows:
        keys = {
            "list": li.list_code,
            "ground": grounds[li.ground_id].code,
            "province": provinces[li.enterprise_id],
            "authority": authorities[li.authority_id].code,
        }
        force = li.state == "published" and (li.expires_on is None or li.expires_on > today)
        left = left_on(li, today)
        for name, key in keys.items():
            dims[name][key]["in_force"] += force
            dims[name][key]["published"] += in_period(li.listed_on)
            dims[name][key]["ended"] += bool(left and in_period(left[0]))
        out["in_force"][li.list_code] += force
        if in_period(li.listed_on):
            out["quarters"][quarter(li.listed_on)]["published"] += 1
            timely[(keys["authority"], quarter(li.listed_on))].append(
                (li.listed_on - li.decided_on).days
            )
        if left and in_period(left[0]):
            out["quarters"][quarter(left[0])][left[1]] += 1
    out["dims"] = dims
    out["timeliness"] = {
        key: (len(days), sum(d <= 30 for d in days), statistics.median(days))
        for key, days in timely.items()
    }
    by_authority = defaultdict(list)
    for (code, _q), days in timely.items():
        by_authority[code].extend(days)
    out["timeliness_by_authority"] = {
        code: (len(days), sum(d <= 30 for d in days), statistics.median(days))
        for code, days in by_authority.items()
    }
    return out


def check_json(data: dict, expected: dict) -> None:
    assert data["in_force"]["total"] == sum(expected["in_force"].values())
    for code in ("bad", "dishonest"):
        assert data["in_force"][code] == expected["in_force"][code]
    quarters = {q["quarter"]: q for q in data["quarters"]}
    for label, counts in expected["quarters"].items():
        q = quarters[label]
        for measure in ("published", "removed", "expired", "annulled"):
            assert q[measure] == counts[measure], (label, measure)
        assert q["ended"] == counts["removed"] + counts["expired"] + counts["annulled"]
    for label, q in quarters.items():  # quarters without data show zeros
        if label not in expected["quarters"]:
            assert q["published"] == q["ended"] == 0
    for name, groups in expected["dims"].items():
        shown = {g["code"]: g for g in data[f"by_{name}"]}
        assert set(shown) == set(groups), name
        for code, counts in groups.items():
            for measure in ("in_force", "published", "ended"):
                assert shown[code][measure] == counts[measure], (name, code, measure)
    shown = {(t["authority"], t["quarter"]): t for t in data["timeliness"]}
    assert set(shown) == set(expected["timeliness"])
    for key, (n, on_time, median) in expected["timeliness"].items():
        assert shown[key]["listings"] == n
        assert shown[key]["on_time"] == on_time
        assert shown[key]["share_on_time"] == round(on_time / n, 4)
        assert shown[key]["median_days"] == median
    totals = {t["authority"]: t for t in data["timeliness_by_authority"]}
    for code, (n, on_time, median) in expected["timeliness_by_authority"].items():
        assert (totals[code]["listings"], totals[code]["on_time"]) == (n, on_time)
        assert totals[code]["median_days"] == median


# --- the numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", [{}, {"year": "last"}, {"province": "440000"}, {"year": "last", "province": "110000"}]
)
def test_stats_json_equals_a_brute_force_count(client, session, dataset, today, query):
    if query.get("year") == "last":
        query = query | {"year": str(today.year - 1)}
    response = client.get("/stats.json", query_string=query)
    assert response.status_code == 200
    year = int(query["year"]) if "year" in query else None
    expected = brute_force(session, today, year, query.get("province"))
    check_json(response.get_json(), expected)
    assert response.get_json()["filters"] == {"year": year, "province": query.get("province")}


def test_timeliness_counts_day_30_as_on_time_and_day_31_as_late(client, dataset, today):
    data = client.get("/stats.json", query_string={"year": today.year - 1}).get_json()
    row = next(
        t for t in data["timeliness"] if t["authority"] == "440000" and t["quarter"].endswith("Q2")
    )
    # days 29, 30, 31, 0, 30, 45: four on time (0, 29, 30, 30), median of the six is 30
    assert (row["listings"], row["on_time"], row["median_days"]) == (6, 4, 30)
    assert row["share_on_time"] == round(4 / 6, 4)
    late = next(
        t for t in data["timeliness"] if t["authority"] == "110000" and t["quarter"].endswith("Q1")
    )
    assert (late["listings"], late["on_time"], late["median_days"]) == (1, 0, 31)


def test_a_removal_after_midnight_in_shanghai_counts_in_the_next_quarter(client, dataset, today):
    data = client.get("/stats.json", query_string={"year": today.year - 1}).get_json()
    quarters = {q["quarter"]: q for q in data["quarters"]}
    y = today.year - 1
    assert quarters[f"{y}-Q2"]["removed"] == 1  # 16:05 UTC on 31 March is 00:05 on 1 April
    assert quarters[f"{y}-Q1"]["annulled"] == 1  # 15:55 UTC is 23:55 in Shanghai
    assert [q["quarter"] for q in data["quarters"]] == [f"{y}-Q{n}" for n in (1, 2, 3, 4)]


def test_stats_csv_carries_the_same_numbers_as_the_json(client, dataset, today):
    data = client.get("/stats.json").get_json()
    response = client.get("/stats.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    values = {(r["table"], r["key"], r["measure"]): r["value"] for r in rows}
    assert values[("in_force", "total", "listings")] == str(data["in_force"]["total"])
    for q in data["quarters"]:
        for measure in ("published", "removed", "expired", "annulled", "ended"):
            assert values[("quarters", q["quarter"], measure)] == str(q[measure])
    for name in ("list", "ground", "province", "authority"):
        for g in data[f"by_{name}"]:
            for measure in ("in_force", "published", "ended"):
                assert values[(f"by_{name}", g["code"], measure)] == str(g[measure])
    for t in data["timeliness"]:
        key = f"{t['authority']} {t['quarter']}"
        assert values[("timeliness", key, "on_time")] == str(t["on_time"])
        assert values[("timeliness", key, "median_days")] == str(t["median_days"])
    assert len(rows) == len(values)


def test_every_number_on_the_stats_page_equals_the_brute_force_count(
    client, session, dataset, today
):
    expected = brute_force(session, today)
    parser = Tables()
    page = client.get("/stats?lang=en").get_data(as_text=True)
    parser.feed(page)
    tables = parser.tables
    quarters = {row[0]: row[1:] for row in tables["New listings and removals per quarter"][1:]}
    for label, counts in expected["quarters"].items():
        assert quarters[label] == [
            str(counts[m]) for m in ("published", "removed", "expired", "annulled")
        ]
    authorities = {a.code: a.name for a in session.scalars(select(Authority))}
    labels = {
        "list": {"bad": "Bad-conduct list", "dishonest": "Dishonesty list"},
        "authority": authorities,
        "province": {code: authorities[code].removesuffix("通信管理局") for code in authorities},
    }
    for name, caption in (
        ("list", "Listings by list"),
        ("ground", "Listings by ground"),
        ("province", "Listings by province"),
        ("authority", "Listings by listing authority"),
    ):
        shown = tables[caption][1:]
        assert len(shown) == len(expected["dims"][name])
        for code, counts in expected["dims"][name].items():
            label = labels.get(name, {}).get(code)
            row = next(
                r for r in shown if r[0] == label or (name == "ground" and r[0].split()[0] == code)
            )
            assert row[1:] == [str(counts[m]) for m in ("in_force", "published", "ended")]
    summary = f"{sum(expected['in_force'].values())} listings in force today"
    assert summary in page
    timely = tables["Timeliness of listing by authority and quarter"][1:]
    for (code, label), (n, on_time, median) in expected["timeliness"].items():
        row = next(r for r in timely if r[0] == authorities[code] and r[1] == label)
        assert row[2:] == [str(n), str(on_time), f"{100 * on_time / n:.1f}%", f"{median:g}"]
    totals = {r[0]: r[1:] for r in tables["Timeliness of listing by authority, whole period"][1:]}
    for code, (n, on_time, median) in expected["timeliness_by_authority"].items():
        assert totals[authorities[code]] == [
            str(n),
            str(on_time),
            f"{100 * on_time / n:.1f}%",
            f"{median:g}",
        ]


def test_each_chart_is_well_formed_svg_whose_title_and_desc_name_the_data(client, dataset):
    page = client.get("/stats").get_data(as_text=True)
    charts = [page[start : page.index("</svg>", start) + 6] for start in _starts(page, "<svg")]
    assert len(charts) == 6
    for markup in charts:
        svg = ET.fromstring(markup)
        assert svg.get("role") == "img" and svg.get("width") == "100%"
        assert svg.get("viewBox").startswith("0 0 360 ")
        title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
        assert title is not None and desc is not None
        assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        assert "记录" in title.text + desc.text or "比例" in title.text
        assert "表格" in desc.text  # points at the table beside it
        assert svg.findall(f"{SVG}text"), "readable text labels"
    quarters = ET.fromstring(charts[0])
    assert "每季度" in quarters.find(f"{SVG}title").text


def _starts(text: str, needle: str) -> list[int]:
    out, at = [], text.find(needle)
    while at != -1:
        out.append(at)
        at = text.find(needle, at + 1)
    return out


def test_stats_page_links_its_machine_twins_and_is_in_the_navigation(client):
    page = client.get("/stats?year=2025&province=440000").get_data(as_text=True)
    assert (
        '<link rel="alternate" type="application/json" href="/stats.json?year=2025&amp;province=440000"'
        in page
    )
    assert (
        '<link rel="alternate" type="text/csv" href="/stats.csv?year=2025&amp;province=440000"'
        in page
    )
    assert '<a href="/stats">' in client.get("/").get_data(as_text=True)
    assert "Statistics" in client.get("/stats?lang=en").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/stats", "/stats.json", "/stats.csv"])
@pytest.mark.parametrize(
    "query",
    [
        "year=abc",
        "year=99",
        "year=1999",
        "year=3000",
        "year=２０２５",
        "province=999999",
        "province=44",
        "province=440300",
        "province='",
    ],
)
def test_bad_stats_parameters_are_refused_with_400_and_a_message(client, path, query):
    response = client.get(f"{path}?{query}&lang=en")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert ("year" in text.lower()) or ("province" in text.lower())


def test_stats_counts_nothing_that_was_never_published(client, session, make):
    clerk = make.actor("clerk")
    make.listing(clerk)
    session.flush()
    data = client.get("/stats.json").get_json()
    assert data["in_force"]["total"] == 0
    assert data["quarters"] == [] and data["by_authority"] == [] and data["timeliness"] == []


# --- the back office --------------------------------------------------------------------


def test_dashboard_shows_its_own_authority_timeliness_and_the_ministry_all(
    client, session, make, dataset, today
):
    """Over the last four quarters: the Guangdong bureau sees its own, the ministry all."""
    from registry import stats

    since = stats.quarter_start(today, back=3)
    codes = {a.id: a.code for a in session.scalars(select(Authority))}
    days = defaultdict(list)
    for li in session.scalars(select(Listing)):
        if li.state in EVER and li.listed_on >= since:
            days[codes[li.authority_id]].append((li.listed_on - li.decided_on).days)
    assert set(days) == {"440000", "110000"}
    assert any(li.listed_on < since for li in dataset), "older listings are left out"
    guangdong = make.user("reviewer", "440000")
    ministry = make.user("reviewer", "MIIT")
    session.flush()
    login(client, guangdong)
    parser = Tables()
    parser.feed(client.get("/admin/?lang=en").get_data(as_text=True))
    totals = parser.tables["Timeliness of listing by authority, whole period"][1:]
    gd = days["440000"]
    on_time = sum(d <= 30 for d in gd)
    assert totals == [
        [
            "广东省通信管理局",
            str(len(gd)),
            str(on_time),
            f"{100 * on_time / len(gd):.1f}%",
            f"{statistics.median(gd):g}",
        ]
    ]
    rows = parser.tables["Timeliness of listing by authority and quarter"][1:]
    assert {r[0] for r in rows} == {"广东省通信管理局"}
    assert all(r[1] >= quarter(since) for r in rows)
    client.post("/admin/logout")
    client.delete_cookie("session")
    login(client, ministry)
    parser = Tables()
    parser.feed(client.get("/admin/?lang=en").get_data(as_text=True))
    totals = parser.tables["Timeliness of listing by authority, whole period"][1:]
    assert {r[0]: r[1] for r in totals} == {
        "广东省通信管理局": str(len(gd)),
        "北京市通信管理局": str(len(days["110000"])),
    }


def test_quarter_start_counts_quarters_back_across_years():
    from registry import stats

    assert stats.quarter_start(date(2026, 12, 4)) == date(2026, 10, 1)
    assert stats.quarter_start(date(2026, 12, 4), back=3) == date(2026, 1, 1)
    assert stats.quarter_start(date(2026, 2, 28), back=1) == date(2025, 10, 1)
    assert stats.quarter_start(date(2026, 2, 28), back=5) == date(2024, 10, 1)


def test_stats_is_public_and_read_only(client):
    """Anyone may read the statistics without logging in; nothing can be sent to them."""
    for path in ("/stats", "/stats.json", "/stats.csv"):
        assert client.get(path).status_code == 200
        assert client.post(path).status_code in (400, 405)  # CSRF or method: never written
        assert client.get(path).headers["Access-Control-Allow-Origin"] == "*"
