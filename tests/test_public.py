"""Public site: pages, search page, what leaves the public surfaces at once,
bad input gives 4xx, never 500."""

from __future__ import annotations

import pytest

from registry import rules
from registry.services import listings as listing_service
from registry.services import notices as notice_service
from tests.test_search import HOSTILE


@pytest.fixture
def listed(session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    firm = make.enterprise(clerk, name="广州市紫藤云网络科技有限公司")
    listing = make.published_listing(clerk, reviewer, "B3", enterprise=firm)
    return clerk, reviewer, listing


@pytest.mark.parametrize(
    "path", ["/", "/search", "/lists/bad", "/lists/dishonest", "/notices", "/about"]
)
def test_public_pages_render_with_a_json_twin(client, path):
    response = client.get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'rel="alternate"' in page or path == "/about"
    assert '<html lang="zh-Hans">' in page


def test_search_page_finds_a_listed_firm_by_part_of_its_name(client, listed):
    firm = listed[2].enterprise
    for query in ("紫藤云", "紫藤雲", "ＡＢ紫藤"[2:] + "云"):
        page = client.get("/search", query_string={"q": query}).get_data(as_text=True)
        assert firm.name in page, query
        assert f"/enterprises/{firm.uscc}" in page
    page = client.get("/search", query_string={"q": firm.uscc.lower()}).get_data(as_text=True)
    assert firm.name in page
    assert "/feeds/search.rss?q=" in page


def test_enterprise_page_shows_listings_in_force(client, listed):
    listing = listed[2]
    response = client.get(f"/enterprises/{listing.enterprise.uscc}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert listing.ground.title in page
    assert f"/api/v1/enterprises/{listing.enterprise.uscc}" in page
    assert client.get(f"/enterprises/id/{listing.enterprise_id}").status_code == 200
    assert client.get("/enterprises/91440300MA5XXXXXX1").status_code == 404
    assert client.get("/enterprises/id/999999999999").status_code == 404


def test_removal_leaves_search_pages_and_lists_at_once(client, session, listed):
    _, reviewer, listing = listed
    firm = listing.enterprise
    assert firm.name in client.get("/lists/bad").get_data(as_text=True)
    assert firm.name in client.get("/search?q=紫藤云").get_data(as_text=True)
    listing_service.remove_listing(session, reviewer, listing, "处罚决定已履行，提前移出")
    session.flush()
    assert firm.name not in client.get("/search?q=紫藤云").get_data(as_text=True)
    assert firm.name not in client.get("/lists/bad").get_data(as_text=True)
    assert client.get(f"/enterprises/{firm.uscc}").status_code == 404


def test_annulment_leaves_search_at_once(client, session, listed):
    _, reviewer, listing = listed
    assert listing.enterprise.name in client.get("/search?q=紫藤云").get_data(as_text=True)
    listing_service.annul_listing(session, reviewer, listing, "列入有误")
    session.flush()
    assert listing.enterprise.name not in client.get("/search?q=紫藤云").get_data(as_text=True)


def test_expiry_leaves_search_and_lists_on_the_expiry_date(client, monkeypatch, listed):
    listing = listed[2]
    assert listing.enterprise.name in client.get("/search?q=紫藤云").get_data(as_text=True)
    monkeypatch.setattr(rules, "today", lambda now=None: listing.expires_on)
    assert listing.enterprise.name not in client.get("/search?q=紫藤云").get_data(as_text=True)
    assert listing.enterprise.name not in client.get("/lists/bad").get_data(as_text=True)
    assert client.get(f"/enterprises/{listing.enterprise.uscc}").status_code == 404


def test_hostile_queries_never_give_a_server_error(client, listed):
    for query in [q for q in HOSTILE if q.isascii() or "\ud800" not in q]:
        response = client.get("/search", query_string={"q": query, "province": query[:50]})
        assert response.status_code in (200, 400), repr(query[:20])
    for path in ("/search?q=%00", "/search?q=%ff%fe", "/notices/%00", "/enterprises/%00"):
        assert client.get(path).status_code in (200, 400, 404), path


@pytest.mark.parametrize(
    "query",
    ["page=abc", "page=0", "page=-1", "page=99999999999", "list=foo", "year=19x", "year=3000"],
)
def test_bad_search_parameters_give_400(client, query):
    response = client.get(f"/search?q=公司&{query}")
    assert response.status_code == 400
    assert "<h1>400" in response.get_data(as_text=True)


def test_bad_list_parameters_give_400_or_are_ignored(client):
    assert client.get("/lists/bad?sort=drop").status_code == 400
    assert client.get("/lists/bad?page=x").status_code == 400
    assert client.get("/lists/bad?province=zz&ground=%00").status_code == 200
    assert client.get("/lists/other").status_code == 404


def test_notice_body_is_rendered_from_markdown_and_sanitised(client, session, make, listed):
    clerk, reviewer, listing = listed
    notice = notice_service.create_notice(
        session,
        clerk,
        slug="2026-q4-test",
        title="关于公布不良名单的公告",
        body_md="依据**第三十八条**。\n\n<script>alert(1)</script>[x](javascript:alert(1))",
        listings=[listing],
    )
    notice_service.transition_notice(session, clerk, notice, "submit")
    notice_service.transition_notice(session, reviewer, notice, "publish")
    session.flush()
    page = client.get("/notices/2026-q4-test").get_data(as_text=True)
    assert "<strong>第三十八条</strong>" in page
    assert "<script>alert" not in page and 'href="javascript:' not in page
    assert listing.enterprise.name in page
    assert "2026-q4-test" in client.get("/notices").get_data(as_text=True)
    assert "/notices/2026-q4-test" in client.get(
        f"/enterprises/{listing.enterprise.uscc}"
    ).get_data(as_text=True)
    assert client.get("/notices/nope").status_code == 404


def test_about_reads_grounds_and_terms_from_the_catalogue(client, make):
    page = client.get("/about").get_data(as_text=True)
    assert make.ground("B3").title in page
    assert "3 年" in page and "5 年" in page
    assert "第三十八条" in page


def test_robots_and_sitemap(client, listed):
    robots = client.get("/robots.txt")
    assert robots.mimetype == "text/plain" and "Sitemap: http" in robots.get_data(as_text=True)
    sitemap = client.get("/sitemap.xml").get_data(as_text=True)
    assert sitemap.startswith("<?xml") and f"/enterprises/{listed[2].enterprise.uscc}" in sitemap


def test_search_facets_filter_by_list(client, session, make, listed):
    clerk, reviewer, _ = listed
    other = make.enterprise(clerk, name="广州市紫藤云数据服务有限公司")
    sanction = make.sanction(clerk, other, measures=("licence_revocation",))
    from registry.services import sanctions as sanction_service

    sanction_service.submit_sanction(session, clerk, sanction)
    make.published_listing(clerk, reviewer, "D1", enterprise=other, sanction=sanction)
    session.flush()
    both = client.get("/search?q=紫藤云").get_data(as_text=True)
    assert "共 2 家经营者" in both
    dishonest = client.get("/search?q=紫藤云&list=dishonest").get_data(as_text=True)
    assert "共 1 家经营者" in dishonest and other.name in dishonest


def test_reindex_command_rebuilds_with_a_progress_bar(app, listed):
    result = app.test_cli_runner().invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    assert "搜索索引已重建" in result.output or "search index rebuilt" in result.output
    assert "紫藤云" in app.test_client().get("/search?q=紫藤云").get_data(as_text=True)
