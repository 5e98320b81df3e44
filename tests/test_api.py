"""The JSON API: only what is in force, JSON errors, CORS, OpenAPI."""

from __future__ import annotations

from datetime import timedelta

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from registry.services import listings, notices


@pytest.fixture
def people(make):
    return make.actor("clerk"), make.actor("reviewer")


@pytest.fixture
def published(session, make, people):
    """One firm per state, so tests can check that only the in-force one shows."""
    clerk, reviewer = people
    in_force = make.published_listing(clerk, reviewer)
    dishonest = make.published_listing(
        clerk, reviewer, "D2", enterprise=make.enterprise(clerk, province_code="110000")
    )
    removed = make.published_listing(clerk, reviewer)
    listings.remove_listing(session, reviewer, removed, "已纠正")
    draft = make.listing(clerk)
    return {"in_force": in_force, "dishonest": dishonest, "removed": removed, "draft": draft}


def schema_validator(client, name: str) -> jsonschema.Draft202012Validator:
    document = client.get("/api/v1/openapi.json").get_json()
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_listings_shows_only_what_is_in_force(client, published):
    response = client.get("/api/v1/listings")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.get_json()
    ids = {row["id"] for row in body["results"]}
    assert ids == {published["in_force"].id, published["dishonest"].id}
    assert body["total"] == 2 and body["page"] == 1 and body["per_page"] == 20
    schema_validator(client, "ListingPage").validate(body)
    row = next(r for r in body["results"] if r["id"] == published["in_force"].id)
    firm = published["in_force"].enterprise
    assert row["uscc"] == firm.uscc and row["name"] == firm.name
    assert row["url"] == f"http://localhost/enterprises/{firm.uscc}"
    assert row["ground"] == "B3" and row["list"] == "bad"
    assert row["authority"] == "广东省通信管理局"


def test_listings_filters(client, published, today):
    def ids(query):
        return {row["id"] for row in client.get(f"/api/v1/listings?{query}").get_json()["results"]}

    assert ids("list=dishonest") == {published["dishonest"].id}
    assert ids("province=110000") == {published["dishonest"].id}
    assert ids(f"since={today.isoformat()}") == {
        published["in_force"].id,
        published["dishonest"].id,
    }
    assert ids(f"since={(today + timedelta(days=1)).isoformat()}") == set()
    page = client.get("/api/v1/listings?per_page=1&page=2").get_json()
    assert page["total"] == 2 and len(page["results"]) == 1 and page["page"] == 2


def test_expired_listings_leave_the_api_at_once(client, session, make, people, today):
    clerk, reviewer = people
    listing = make.published_listing(clerk, reviewer)
    listing.expires_on = today  # term ended today; the sweep has not run
    session.flush()
    assert client.get("/api/v1/listings").get_json()["total"] == 0


@pytest.mark.parametrize(
    "query",
    [
        "since=2026-13-01",
        "since=yesterday",
        "since=2026-1-1",
        "page=0",
        "page=-3",
        "page=abc",
        "per_page=101",
        "per_page=0",
        "list=good",
        "province=999999",
        # what the OpenAPI document calls invalid, though a lenient parser would take it
        "since=",
        "since=2026-W01-1",
        "per_page=",
        "page=1_0",
        "page=%D9%A3",  # ARABIC-INDIC DIGIT THREE
        "page=%205",
        "list=",
        "list=bad&list=dishonest",
        "page=1&page=2",
    ],
)
def test_listings_bad_parameters_are_json_400(client, query):
    response = client.get(f"/api/v1/listings?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"]["code"] == 400
    assert body["error"]["message"]


def test_enterprise_with_listings_and_published_sanctions(client, session, make, people):
    clerk, reviewer = people
    firm = make.enterprise(clerk)
    sanction = make.sanction(clerk, firm)
    from registry.services import sanctions

    sanctions.submit_sanction(session, clerk, sanction)
    make.published_listing(clerk, reviewer, enterprise=firm, sanction=sanction)
    response = client.get(f"/api/v1/enterprises/{firm.uscc}")
    assert response.status_code == 200
    body = response.get_json()
    schema_validator(client, "Enterprise").validate(body)
    assert body["uscc"] == firm.uscc
    assert [item["ground"] for item in body["listings"]] == ["B3"]
    assert [item["decision_no"] for item in body["sanctions"]] == [sanction.decision_no]
    assert body["sanctions"][0]["fine_amount"] == "10000.00"
    # lower case and spaces are the same code
    spaced = firm.uscc[:6] + " " + firm.uscc[6:].lower()
    assert client.get(f"/api/v1/enterprises/{spaced}").status_code == 200


def test_enterprise_with_nothing_public_is_404(client, published):
    for key in ("removed", "draft"):
        uscc = published[key].enterprise.uscc
        response = client.get(f"/api/v1/enterprises/{uscc}")
        assert response.status_code == 404, key
        assert response.get_json()["error"]["code"] == 404
    assert client.get("/api/v1/enterprises/not-a-code").status_code == 404


def test_notices_only_published(client, session, published, people):
    clerk, reviewer = people
    draft = notices.create_notice(session, clerk, slug="draft-notice", title="草稿")
    shown = notices.create_notice(
        session,
        clerk,
        slug="exposure-2026-q4",
        title="2026年第四季度电信业务经营不良名单",
        body_md="依据《电信业务经营许可管理办法》……",
        listings=[published["in_force"]],
    )
    notices.transition_notice(session, clerk, shown, "submit")
    notices.transition_notice(session, reviewer, shown, "publish")
    page = client.get("/api/v1/notices").get_json()
    schema_validator(client, "NoticePage").validate(page)
    assert [n["slug"] for n in page["results"]] == ["exposure-2026-q4"]
    detail = client.get("/api/v1/notices/exposure-2026-q4")
    assert detail.status_code == 200
    body = detail.get_json()
    schema_validator(client, "NoticeDetail").validate(body)
    assert body["listings"][0]["uscc"] == published["in_force"].enterprise.uscc
    assert client.get(f"/api/v1/notices/{draft.slug}").status_code == 404
    assert client.get("/api/v1/notices?kind=other").status_code == 400


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.is_json and response.get_json()["error"]["code"] == 404


def test_openapi_document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert {
        "/listings",
        "/enterprises/{uscc}",
        "/notices",
        "/notices/{slug}",
        "/campaigns",
        "/campaigns/{slug}",
    } <= set(document["paths"])
    jsonschema.Draft202012Validator.check_schema(
        {"components": document["components"], "$ref": "#/components/schemas/ListingPage"}
    )


def test_api_matches_its_openapi_document(app, published):
    """schemathesis: no server error, and every response fits the documented schema."""
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) == 8  # seven GETs and POST /match
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate()

        check()


def test_search_finds_firms_with_their_listings_in_force(client, published):
    firm = published["in_force"].enterprise
    response = client.get("/api/v1/search", query_string={"q": firm.name[3:9]})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.get_json()
    schema_validator(client, "SearchPage").validate(body)
    found = {row["uscc"]: row for row in body["results"]}
    assert firm.uscc in found
    assert published["removed"].enterprise.uscc not in found
    [listing] = found[firm.uscc]["listings"]
    assert listing["ground"] == "B3" and listing["authority"] == "广东省通信管理局"
    by_code = client.get("/api/v1/search", query_string={"q": firm.uscc}).get_json()
    assert by_code["results"][0]["uscc"] == firm.uscc


def test_search_filters_and_hostile_queries(client, published):
    firm = published["dishonest"].enterprise
    assert (
        client.get("/api/v1/search", query_string={"q": firm.name, "list": "bad"}).get_json()[
            "results"
        ]
        == []
    )
    for q in ['"', "AND OR NOT", "*", "名" * 200, "\x00", "((("]:
        assert client.get("/api/v1/search", query_string={"q": q}).status_code == 200


def test_search_q_over_its_documented_max_length_is_json_400(client, published):
    document = client.get("/api/v1/openapi.json").get_json()
    [q] = [p for p in document["paths"]["/search"]["get"]["parameters"] if p["name"] == "q"]
    limit = q["schema"]["maxLength"]
    assert client.get("/api/v1/search", query_string={"q": "名" * limit}).status_code == 200
    response = client.get("/api/v1/search", query_string={"q": "名" * (limit + 1)})
    assert response.status_code == 400
    assert str(limit) in response.get_json()["error"]["message"]


def test_a_nul_counts_against_the_length_of_q_and_is_not_searched_for(client, published):
    limit = 200
    firm = published["dishonest"].enterprise
    # one character too many as sent, though it is one the search drops
    over = client.get("/api/v1/search", query_string={"q": "\x00" + "名" * limit})
    assert over.status_code == 400
    assert over.get_json()["error"]["message"]
    found = client.get("/api/v1/search", query_string={"q": firm.name[:2] + "\x00" + firm.name[2:]})
    assert found.status_code == 200
    assert firm.uscc in [result["uscc"] for result in found.get_json()["results"]]


@pytest.mark.parametrize("query", ["page=1%00", "province=%00", "list=bad%00"])
def test_a_nul_in_a_number_or_code_of_the_api_is_refused(client, published, query):
    response = client.get("/api/v1/search?q=%E5%90%8D&" + query)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == 400


def test_search_feed_still_takes_a_long_q_from_the_search_page(client, published):
    # The search page links its feed with q as typed; the feed uses its first part.
    assert client.get("/feeds/search.atom", query_string={"q": "名" * 500}).status_code == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "TRACE"])
def test_api_405_is_json_and_names_the_allowed_methods(client, method):
    response = client.open("/api/v1/notices", method=method)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_page_405_is_html_and_names_the_allowed_methods(client):
    response = client.delete("/about")
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "GET" in response.headers["Allow"].split(", ")


@pytest.mark.parametrize(
    "query",
    [
        "list=x",
        "province=123456",
        "ground=Z9",
        "ground=",
        "page=0",
        "page=10001",
        "per_page=101",
        "q=a&q=b",
    ],
)
def test_search_bad_parameters_are_json_400(client, query):
    response = client.get(f"/api/v1/search?q=公司&{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == 400
