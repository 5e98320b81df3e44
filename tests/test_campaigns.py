"""Enforcement campaigns (专项行动): the catalogue, tagging, and /campaigns, /campaigns/<slug>,
their API and feed. Every number shown equals a brute-force SQL count written here in plain
SQL, independently of registry.campaigns and registry.visibility."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import feedparser
import pytest
from sqlalchemy import select, text

from registry.errors import ValidationError
from registry.models import Authority, Campaign, Event
from registry.rules import Actor, RuleViolation
from registry.services import campaigns as campaign_service
from registry.services import listings, sanctions
from tests.html_tables import Tables

# --- data -------------------------------------------------------------------------------


@pytest.fixture
def dataset(session, make, today):
    """Two campaigns; tagged records of every state in two provinces and one firm with no
    province; untagged records that must not count."""
    gd_clerk, gd_reviewer = make.actor("clerk", "440000"), make.actor("reviewer", "440000")
    bj_clerk, bj_reviewer = make.actor("clerk", "110000"), make.actor("reviewer", "110000")
    broadband = make.campaign(
        "broadband-2020",
        name="商务楼宇宽带垄断专项整治",
        starts_on=date(2020, 6, 1),
        ends_on=date(2020, 12, 31),
        legal_basis="工信厅通信函〔2020〕162号",
    )
    fraud = make.campaign("fraud-2021", name="打击治理电信网络诈骗专项行动")

    def listed(clerk, reviewer, province, campaign, state="published", **changes):
        firm = make.enterprise(clerk, province_code=province)
        item = make.published_listing(clerk, reviewer, enterprise=firm, campaign=campaign)
        item.state = state
        for key, value in changes.items():
            setattr(item, key, value)
        return item

    def sanctioned(clerk, reviewer, province, campaign, publish=True):
        firm = make.enterprise(clerk, province_code=province)
        record = make.sanction(clerk, firm, campaign=campaign)
        if publish:
            sanctions.submit_sanction(session, clerk, record)
            sanctions.publish_sanction(session, reviewer, record)
        return record

    gone = datetime.now(UTC) - timedelta(days=2)
    for campaign in (broadband, fraud):
        listed(gd_clerk, gd_reviewer, "440000", campaign)
        listed(gd_clerk, gd_reviewer, "440000", campaign, state="removed", ended_at=gone)
        listed(bj_clerk, bj_reviewer, "110000", campaign, expires_on=today - timedelta(days=1))
        sanctioned(gd_clerk, gd_reviewer, "440000", campaign)
        sanctioned(bj_clerk, bj_reviewer, "110000", campaign, publish=False)  # a draft
    listed(bj_clerk, bj_reviewer, "110000", broadband, state="annulled", ended_at=gone)
    listed(bj_clerk, bj_reviewer, "110000", broadband, state="expired")
    listed(gd_clerk, gd_reviewer, None, broadband)  # a firm without a province
    sanctioned(bj_clerk, bj_reviewer, "110000", broadband)
    make.listing(gd_clerk, campaign=broadband)  # a draft: not counted
    draft = make.listing(bj_clerk, campaign=broadband)
    listings.submit_listing(session, bj_clerk, draft)  # submitted: not counted
    listed(gd_clerk, gd_reviewer, "440000", None)  # untagged
    sanctioned(gd_clerk, gd_reviewer, "440000", None)
    session.flush()
    return broadband, fraud


# --- brute force ------------------------------------------------------------------------

_LISTINGS = """
SELECT COALESCE(e.province_code, '') AS province,
       COUNT(*) AS listings,
       SUM(CASE WHEN l.state = 'published' AND (l.expires_on IS NULL OR l.expires_on > :today)
           THEN 1 ELSE 0 END) AS in_force,
       SUM(CASE WHEN l.state IN ('removed', 'annulled', 'expired')
                  OR (l.state = 'published' AND l.expires_on <= :today)
           THEN 1 ELSE 0 END) AS removals
FROM listing l JOIN enterprise e ON e.id = l.enterprise_id
WHERE l.campaign_id = :campaign AND l.state IN ('published', 'removed', 'expired', 'annulled')
GROUP BY COALESCE(e.province_code, '')
"""
_SANCTIONS = """
SELECT COALESCE(e.province_code, ''), COUNT(*)
FROM sanction s JOIN enterprise e ON e.id = s.enterprise_id
WHERE s.campaign_id = :campaign AND s.state = 'published'
GROUP BY COALESCE(e.province_code, '')
"""
_FIRMS = """
SELECT e.name FROM enterprise e WHERE
  EXISTS (SELECT 1 FROM listing l WHERE l.enterprise_id = e.id AND l.campaign_id = :campaign
          AND l.state = 'published' AND (l.expires_on IS NULL OR l.expires_on > :today))
  OR EXISTS (SELECT 1 FROM sanction s WHERE s.enterprise_id = e.id
             AND s.campaign_id = :campaign AND s.state = 'published')
"""


def brute_force(session, campaign: Campaign, today: date) -> dict:
    """{province: {sanctions, listings, in_force, removals}}, "" for no province, and the
    names of the firms the page may show."""
    params = {"campaign": campaign.id, "today": today}
    out: dict[str, dict[str, int]] = {}
    zero = {"sanctions": 0, "listings": 0, "in_force": 0, "removals": 0}
    for province, n, force, gone in session.execute(text(_LISTINGS), params):
        out.setdefault(province, dict(zero)).update(
            listings=n, in_force=int(force), removals=int(gone)
        )
    for province, n in session.execute(text(_SANCTIONS), {"campaign": campaign.id}):
        out.setdefault(province, dict(zero))["sanctions"] = n
    firms = set(session.scalars(text(_FIRMS), params))
    return {"provinces": out, "firms": firms}


def totals(expected: dict) -> dict[str, int]:
    rows = expected["provinces"].values()
    return {k: sum(r[k] for r in rows) for k in ("sanctions", "listings", "in_force", "removals")}


# --- the numbers ------------------------------------------------------------------------


def test_campaign_api_equals_a_brute_force_sql_count(client, session, dataset, today):
    for campaign in dataset:
        expected = brute_force(session, campaign, today)
        data = client.get(f"/api/v1/campaigns/{campaign.slug}").get_json()
        shown = {
            (row["province"] or ""): {k: row[k] for k in ("sanctions", "listings", "in_force")}
            | {"removals": row["removals"]}
            for row in data["provinces"]
        }
        assert shown == expected["provinces"]
        assert data["totals"] == totals(expected)
        assert {f["name"] for f in data["firms"]["results"]} == expected["firms"]
        assert data["firms"]["total"] == len(expected["firms"])


def test_the_dataset_exercises_every_kind_of_count(session, dataset, today):
    """The brute force is not vacuous: each measure is non-zero, and the two campaigns
    differ."""
    broadband, fraud = dataset
    big, small = (
        totals(brute_force(session, broadband, today)),
        totals(brute_force(session, fraud, today)),
    )
    assert all(big.values()) and all(small.values())
    assert big != small
    assert "" in brute_force(session, broadband, today)["provinces"]


def test_campaign_list_api_carries_each_campaigns_totals(client, session, dataset, today):
    data = client.get("/api/v1/campaigns").get_json()
    by_slug = {c["slug"]: c for c in data["campaigns"]}
    assert set(by_slug) == {c.slug for c in dataset}
    for campaign in dataset:
        assert by_slug[campaign.slug]["totals"] == totals(brute_force(session, campaign, today))
    assert by_slug["broadband-2020"]["legal_basis"] == "工信厅通信函〔2020〕162号"
    assert by_slug["broadband-2020"]["ends_on"] == "2020-12-31"
    assert by_slug["fraud-2021"]["ends_on"] is None


def _tables(client, url: str) -> dict[str, list[list[str]]]:
    response = client.get(url)
    assert response.status_code == 200
    parser = Tables()
    parser.feed(response.get_data(as_text=True))
    return parser.tables


def test_every_number_on_the_campaign_page_equals_the_brute_force_count(
    client, session, dataset, today
):
    names = {
        a.code[:2] + "0000": a.name.removesuffix("通信管理局")
        for a in session.scalars(select(Authority).where(Authority.level == "province"))
    }
    for campaign in dataset:
        expected = brute_force(session, campaign, today)
        tables = _tables(client, f"/campaigns/{campaign.slug}?lang=en")
        progress = next(rows for caption, rows in tables.items() if "by province" in caption)
        body, foot = progress[1:-1], progress[-1]
        shown = {row[0]: [int(v) for v in row[1:]] for row in body}
        assert shown == {
            (names[code] if code else "Province unknown"): [
                c["sanctions"],
                c["listings"],
                c["in_force"],
                c["removals"],
            ]
            for code, c in expected["provinces"].items()
        }
        total = totals(expected)
        assert [int(v) for v in foot[1:]] == [
            total[k] for k in ("sanctions", "listings", "in_force", "removals")
        ]
        firms = next(rows for caption, rows in tables.items() if caption.startswith("Firms"))
        assert {row[0] for row in firms[1:]} == expected["firms"]


def test_every_number_on_the_campaigns_index_equals_the_brute_force_count(
    client, session, dataset, today
):
    tables = _tables(client, "/campaigns?lang=en")
    rows = next(rows for caption, rows in tables.items() if caption.startswith("Campaigns"))
    shown = {row[0]: [int(v) for v in row[4:]] for row in rows[1:]}
    for campaign in dataset:
        total = totals(brute_force(session, campaign, today))
        assert shown[campaign.name] == [
            total[k] for k in ("sanctions", "listings", "in_force", "removals")
        ]


def test_campaign_chart_is_well_formed_svg_that_names_its_data(client, dataset):
    import xml.etree.ElementTree as ET

    page = client.get("/campaigns/broadband-2020").get_data(as_text=True)
    start = page.index('<svg xmlns="http://www.w3.org/2000/svg" class="chart"')
    svg = ET.fromstring(page[start : page.index("</svg>", start) + len("</svg>")])
    ns = "{http://www.w3.org/2000/svg}"
    assert svg.get("role") == "img"
    assert "商务楼宇宽带垄断专项整治" in svg.find(f"{ns}desc").text
    assert svg.find(f"{ns}title").text


def test_firms_of_a_campaign_are_paged(client, session, make, monkeypatch):
    from registry import campaigns

    monkeypatch.setattr(campaigns, "FIRMS_PER_PAGE", 2)
    clerk, reviewer = make.actor("clerk", "440000"), make.actor("reviewer", "440000")
    campaign = make.campaign("paged")
    for _ in range(3):
        make.published_listing(clerk, reviewer, campaign=campaign)
    session.flush()
    first = client.get("/api/v1/campaigns/paged").get_json()["firms"]
    second = client.get("/api/v1/campaigns/paged?page=2").get_json()["firms"]
    assert (first["total"], len(first["results"]), len(second["results"])) == (3, 2, 1)
    assert not {f["name"] for f in first["results"]} & {f["name"] for f in second["results"]}
    assert 'rel="next"' in client.get("/campaigns/paged").get_data(as_text=True)


def test_a_removed_listing_counts_but_its_firm_is_not_named(client, session, make):
    """A listing that left the list is a public fact for the counts, but the campaign page
    names only firms with a tagged listing in force or a published sanction."""
    clerk, reviewer = make.actor("clerk", "440000"), make.actor("reviewer", "440000")
    campaign = make.campaign("left")
    item = make.published_listing(clerk, reviewer, campaign=campaign)
    item.state, item.ended_at = "removed", datetime.now(UTC)
    session.flush()
    data = client.get("/api/v1/campaigns/left").get_json()
    assert data["totals"]["removals"] == 1
    assert data["firms"]["total"] == 0
    assert item.enterprise.name not in client.get("/campaigns/left").get_data(as_text=True)


# --- the feed ---------------------------------------------------------------------------


def test_campaign_feed_parses_and_carries_only_the_campaigns_listings(client, session, dataset):
    broadband, fraud = dataset
    response = client.get(f"/feeds/campaigns/{broadband.slug}.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.bozo_exception
    assert broadband.name in feed.feed.title
    tagged = set(
        session.scalars(
            text(
                "SELECT e.name FROM listing l JOIN enterprise e ON e.id = l.enterprise_id "
                "WHERE l.campaign_id = :c AND l.state = 'published'"
            ),
            {"c": fraud.id},
        )
    )
    titles = " ".join(entry.title for entry in feed.entries)
    assert feed.entries
    assert not any(name in titles for name in tagged)


def test_a_firms_page_links_the_campaign_of_its_published_sanction(client, session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    campaign = make.campaign("firm-page", name="页面专项")
    firm = make.enterprise(clerk)
    record = make.sanction(clerk, firm, campaign=campaign)
    sanctions.submit_sanction(session, clerk, record)
    sanctions.publish_sanction(session, reviewer, record)
    session.commit()
    page = client.get(f"/enterprises/{firm.uscc}").get_data(as_text=True)
    assert '<a href="/campaigns/firm-page">页面专项</a>' in page


def test_campaign_feed_of_an_unknown_campaign_is_404(client):
    assert client.get("/feeds/campaigns/no-such-campaign.atom").status_code == 404
    assert client.get("/feeds/campaigns/broadband-2020.rss").status_code == 404


# --- the catalogue ----------------------------------------------------------------------


def _admin(make) -> Actor:
    return Actor(None, "t", "admin", make.authority("MIIT").id, True)


def test_only_ministry_admins_keep_the_campaign_catalogue(session, make):
    values = {"slug": "x-1", "name": "某专项", "starts_on": date(2021, 1, 1)}
    values["lead_authority_id"] = make.authority("MIIT").id
    for who in (make.actor("admin", "440000"), make.actor("clerk", "MIIT")):
        with pytest.raises(RuleViolation):
            campaign_service.save_campaign(session, who, None, **dict(values))
    saved = campaign_service.save_campaign(session, _admin(make), None, **values)
    events = session.scalars(
        select(Event.action).where(Event.entity_type == "campaign", Event.entity_id == saved.id)
    ).all()
    assert events == ["create"]
    campaign_service.save_campaign(session, _admin(make), saved, legal_basis="某通知")
    assert (
        session.scalar(
            select(Event.action)
            .where(Event.entity_type == "campaign", Event.entity_id == saved.id)
            .order_by(Event.seq.desc())
        )
        == "update"
    )


@pytest.mark.parametrize(
    "values, field",
    [
        ({"slug": "Bad Slug"}, "slug"),
        ({"slug": "-x"}, "slug"),
        ({"slug": "x" * 61}, "slug"),
        ({"name": ""}, "name"),
        ({"name": "商务楼宇宽带垄断专项整治"}, "name"),  # the same name as another
        ({"name": "商務樓宇寬帶壟斷專項整治"}, "name"),  # the same in traditional characters
        ({"ends_on": date(2019, 1, 1)}, "ends_on"),
        ({"lead_authority_id": 999999}, "lead_authority_id"),
    ],
)
def test_bad_catalogue_values_are_refused_with_a_message_on_the_field(session, make, values, field):
    make.campaign("existing", name="商务楼宇宽带垄断专项整治")
    good = {
        "slug": "new-one",
        "name": "新专项",
        "starts_on": date(2020, 1, 1),
        "lead_authority_id": make.authority("MIIT").id,
    }
    with pytest.raises(ValidationError) as caught:
        campaign_service.save_campaign(session, _admin(make), None, **(good | values))
    assert field in caught.value.errors


def test_slug_is_unique(session, make):
    make.campaign("taken")
    with pytest.raises(ValidationError) as caught:
        make.campaign("taken")
    assert "slug" in caught.value.errors


# --- tagging from the forms --------------------------------------------------------------


def _clerk_and_firm(app, session, make):
    """A test client logged in as a clerk of 440000, and a firm of theirs."""
    from registry.services.accounts import actor_for
    from tests.factories import login

    clerk_user = make.user("clerk", "440000")
    client = app.test_client()
    login(client, clerk_user)
    firm = make.enterprise(actor_for(clerk_user))
    session.flush()
    return client, firm


def _post_listing(client, make, firm, today, campaign_id):
    """The new-listing form of `firm` posted with a B3 ground and this campaign."""
    from tests.factories import post

    return post(
        client,
        f"/admin/enterprises/{firm.id}/listings/new",
        {
            "ground": make.ground("B3").id,
            "decided_on": (today - timedelta(days=3)).isoformat(),
            "sanction": 0,
            "campaign_id": campaign_id,
        },
    )


def test_clerk_tags_a_sanction_and_a_listing_with_a_campaign_from_the_forms(
    app, session, make, today
):
    from tests.factories import post

    campaign = make.campaign("forms", name="表单专项")
    client, firm = _clerk_and_firm(app, session, make)
    form = client.get(f"/admin/enterprises/{firm.id}/sanctions/new").get_data(as_text=True)
    assert "表单专项" in form
    response = post(
        client,
        f"/admin/enterprises/{firm.id}/sanctions/new",
        {
            "decision_no": "粤通管罚〔2026〕9901号",
            "decided_on": (today - timedelta(days=3)).isoformat(),
            "measures": "warning",
            "campaign_id": campaign.id,
        },
    )
    assert response.status_code == 302
    response = _post_listing(client, make, firm, today, campaign.id)
    assert response.status_code == 302
    counts = session.execute(
        text(
            "SELECT (SELECT COUNT(*) FROM sanction WHERE campaign_id = :c),"
            " (SELECT COUNT(*) FROM listing WHERE campaign_id = :c)"
        ),
        {"c": campaign.id},
    ).one()
    assert tuple(counts) == (1, 1)


@pytest.mark.parametrize("value", ["999999", "abc", "-1", "1e3", "' OR 1=1 --"])
def test_an_unknown_campaign_on_a_form_is_refused_with_400(app, session, make, today, value):
    client, firm = _clerk_and_firm(app, session, make)
    response = _post_listing(client, make, firm, today, value)
    assert response.status_code == 400


# --- hostile input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/campaigns/..%2F..%2Fetc",
        "/campaigns/%00",
        "/campaigns/" + "a" * 5000,
        "/campaigns/BROADBAND-2020",
        "/campaigns/%E4%B8%93%E9%A1%B9",
        "/api/v1/campaigns/%00",
        "/api/v1/campaigns/" + "a" * 5000,
        "/feeds/campaigns/%ff.atom",
    ],
)
def test_unknown_or_hostile_slugs_are_404(client, dataset, url):
    response = client.get(url)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "query", ["page=0", "page=-1", "page=x", "page=1e3", "page=" + "9" * 5000, "page=%00"]
)
def test_bad_page_parameters_are_refused_with_400(client, dataset, query):
    for base in ("/campaigns/broadband-2020", "/api/v1/campaigns/broadband-2020"):
        response = client.get(f"{base}?{query}")
        assert response.status_code == 400, (base, query)
        if base.startswith("/api/"):
            assert response.get_json()["error"]["message"]


def test_campaign_pages_are_in_the_navigation_and_link_their_twins(client, dataset):
    home = client.get("/").get_data(as_text=True)
    assert 'href="/campaigns"' in home
    page = client.get("/campaigns/broadband-2020").get_data(as_text=True)
    assert 'href="/api/v1/campaigns/broadband-2020"' in page
    assert 'href="/feeds/campaigns/broadband-2020.atom"' in page


def test_sitemap_lists_the_campaign_pages(client, make, session):
    make.campaign("in-sitemap")
    session.flush()
    body = client.get("/sitemap.xml").get_data(as_text=True)
    assert "/campaigns</loc>" in body
    assert "/campaigns/in-sitemap</loc>" in body
