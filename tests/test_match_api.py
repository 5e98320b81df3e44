"""POST /api/v1/match: batches of counterparties against the firms with something in force
(yente /match shape), exact codes first, lists in force from registry.visibility, and a
JSON 400 for every malformed body or parameter."""

from __future__ import annotations

import pytest

from registry.services import listings
from tests.test_api import schema_validator


@pytest.fixture
def people(make):
    return make.actor("clerk"), make.actor("reviewer")


@pytest.fixture
def firms(session, make, people):
    clerk, reviewer = people
    listed = make.enterprise(clerk, name="深圳市华信网络科技有限公司")
    make.published_listing(clerk, reviewer, enterprise=listed)
    namesake = make.enterprise(clerk, name="深圳市华通网络科技有限公司")
    make.published_listing(clerk, reviewer, enterprise=namesake)
    gone = make.enterprise(clerk, name="深圳市云帆数据科技有限公司")
    removed = make.published_listing(clerk, reviewer, enterprise=gone)
    listings.remove_listing(session, reviewer, removed, "已纠正")
    return {"listed": listed, "namesake": namesake, "gone": gone}


def _match(client, queries, **params):
    return client.post("/api/v1/match", json={"queries": queries}, query_string=params)


def test_match_finds_a_traditional_bracketed_name_and_flags_only_that_firm(client, firms):
    response = _match(client, {"a": {"name": "華信（深圳）網絡科技有限公司"}})
    assert response.status_code == 200
    body = response.get_json()
    schema_validator(client, "MatchAnswer").validate(body)
    results = body["responses"]["a"]["results"]
    assert results[0]["uscc"] == firms["listed"].uscc
    assert results[0]["match"] is True and results[0]["score"] == 1.0
    assert results[0]["lists"] == ["bad"]
    assert [r["uscc"] for r in results if r["match"]] == [firms["listed"].uscc]
    assert body["responses"]["a"]["total"] == {"value": len(results), "relation": "eq"}


def test_exact_uscc_dominates_whatever_the_name(client, firms):
    uscc = firms["namesake"].uscc
    body = _match(client, {"q": {"name": "别的公司", "uscc": uscc.lower()}}).get_json()
    top = body["responses"]["q"]["results"][0]
    assert top["uscc"] == uscc and top["score"] == 1.0 and top["match"]
    assert top["explanations"][0]["feature"] == "uscc"


def test_a_firm_with_nothing_in_force_is_never_a_candidate(client, firms):
    body = _match(client, {"q": {"name": firms["gone"].name, "uscc": firms["gone"].uscc}})
    assert body.get_json()["responses"]["q"]["results"] == []


def test_threshold_per_call_decides_the_match_flag(client, firms):
    query = {"q": {"name": "深圳市华信网络科技有限公司北京分公司"}}
    default = _match(client, query).get_json()["responses"]["q"]["results"][0]
    assert default["match"] and default["score"] < 1
    strict = _match(client, query, threshold="1").get_json()
    assert strict["threshold"] == 1.0
    assert not strict["responses"]["q"]["results"][0]["match"]


def test_one_hundred_queries_are_answered_and_one_more_is_refused(client, firms):
    queries = {f"k{i}": {"name": firms["listed"].name} for i in range(100)}
    body = _match(client, queries).get_json()
    assert len(body["responses"]) == 100
    queries["k100"] = {"name": "x"}
    response = _match(client, queries)
    assert response.status_code == 400
    assert "100" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "params"),
    [
        (None, {}),
        ([], {}),
        ({"queries": []}, {}),
        ({"queries": {}}, {}),
        ({"queries": {"a": "深圳"}}, {}),
        ({"queries": {"a": {"name": 5}}}, {}),
        ({"queries": {"a": {"name": "名" * 201}}}, {}),
        ({"queries": {"k" * 201: {"name": "名"}}}, {}),
        ({"queries": {"a": {"name": "名"}}}, {"threshold": "nan"}),
        ({"queries": {"a": {"name": "名"}}}, {"threshold": "1.5"}),
        ({"queries": {"a": {"name": "名"}}}, {"limit": "0"}),
        ({"queries": {"a": {"name": "名"}}}, {"limit": "21"}),
    ],
)
def test_malformed_bodies_and_parameters_are_json_400(client, firms, body, params):
    if body is None:
        response = client.post("/api/v1/match", data="{not json", content_type="application/json")
    else:
        response = client.post("/api/v1/match", json=body, query_string=params)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == 400


def test_hostile_names_are_answered(client, firms):
    queries = {str(i): {"name": n} for i, n in enumerate(["\x00", "((", "*", "\ud800", "　"])}
    assert _match(client, queries).status_code == 200


def test_a_renamed_firm_is_shown_with_its_new_name_and_found_by_its_old_one(
    client, session, firms, people
):
    """The candidates' registered names and codes follow the event sequence like the
    names they are found by (the index's incremental catch-up, not a reload)."""
    from registry.services import enterprises

    listed = firms["listed"]
    before = _match(client, {"q": {"name": listed.name}}).get_json()
    assert before["responses"]["q"]["results"][0]["name"] == "深圳市华信网络科技有限公司"
    enterprises.update_enterprise(session, people[0], listed, name="深圳市华信数据服务有限公司")
    body = _match(
        client,
        {
            "new": {"name": "深圳市华信数据服务有限公司"},
            "old": {"name": "華信（深圳）網絡科技有限公司"},
        },
    )
    for key in ("new", "old"):
        top = body.get_json()["responses"][key]["results"][0]
        assert (top["name"], top["uscc"], top["match"]) == (
            "深圳市华信数据服务有限公司",
            listed.uscc,
            True,
        )
