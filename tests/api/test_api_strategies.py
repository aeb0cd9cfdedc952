"""Strategies: create (validated by the engine), read, update, delete, list (issue 6, Resources)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.api.conftest import STRATEGY, bearer

# What the dashboard's rule builder emits for mavp with periods = aroon's up line; the vitest
# web/test/ruleBuilder.test.ts builds it through the builder's controls and compares with this file.
BUILDER_MAVP_RULES = Path(__file__).parents[2] / "web" / "test" / "fixtures" / "mavp-entry-rules.json"


def test_create_returns_201_with_the_strategy(api):
    token, user = api.sign_up()
    response = api.client.post("/api/v1/strategies", json=STRATEGY, headers=bearer(token))
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in STRATEGY} == {**STRATEGY}
    assert body["owner_id"] == user["id"] and body["is_active"] is True and body["is_public"] is False
    assert body["created_at"] == body["updated_at"]
    assert api.client.get(f"/api/v1/strategies/{body['id']}", headers=bearer(token)).json() == body


def test_defaults_fill_optional_fields(api):
    token, _ = api.sign_up()
    minimal = {k: STRATEGY[k] for k in ("name", "entry_rules", "exit_rules")}
    body = api.create_strategy(token, **minimal, description="", strategy_type=None, config={})
    assert (body["description"], body["strategy_type"], body["config"], body["is_active"], body["is_public"]) == (
        "",
        None,
        {},
        True,
        False,
    )


def test_rules_are_validated_by_the_engine_with_one_detail_per_problem(api):
    token, _ = api.sign_up()
    bad = {
        **STRATEGY,
        "entry_rules": {
            "operator": "xor",
            "conditions": [{"indicator": "sma", "params": {"period": -3}, "comparator": ">", "value": 1}],
        },
        "config": {"stop_loss": -1},
    }
    response = api.client.post("/api/v1/strategies", json=bad, headers=bearer(token))
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert {"entry_rules.operator", "entry_rules.conditions[0].params.period", "config.stop_loss"} <= fields


@pytest.mark.parametrize(
    "change, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"entry_rules": "sma>1"}, "entry_rules"),
        ({"unexpected": 1}, "unexpected"),
        ({"is_public": "maybe"}, "is_public"),
    ],
)
def test_malformed_fields_are_422_naming_the_field(api, change, field):
    token, _ = api.sign_up()
    response = api.client.post("/api/v1/strategies", json={**STRATEGY, **change}, headers=bearer(token))
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["error"]["details"]]


def test_oversized_rules_are_422(api):
    token, _ = api.sign_up()
    huge = {**STRATEGY, "config": {"parameters": {f"p{i}": i for i in range(8000)}}}
    response = api.client.post("/api/v1/strategies", json=huge, headers=bearer(token))
    assert response.status_code == 422
    assert "KiB" in response.json()["error"]["details"][0]["message"]


def test_update_accepts_a_partial_body_and_validates_the_result(api):
    token, _ = api.sign_up()
    created = api.create_strategy(token)
    response = api.client.put(
        f"/api/v1/strategies/{created['id']}", json={"is_active": False, "name": "Renamed"}, headers=bearer(token)
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["is_active"], body["name"], body["entry_rules"]) == (False, "Renamed", STRATEGY["entry_rules"])
    assert body["updated_at"] >= created["updated_at"] and body["created_at"] == created["created_at"]
    invalid = api.client.put(
        f"/api/v1/strategies/{created['id']}", json={"config": {"stop_loss": 0}}, headers=bearer(token)
    )
    assert invalid.status_code == 422
    assert api.client.get(f"/api/v1/strategies/{created['id']}", headers=bearer(token)).json() == body


def test_update_with_the_whole_strategy_replaces_it(api):
    token, _ = api.sign_up()
    created = api.create_strategy(token)
    replacement = {**STRATEGY, "name": "v2", "config": {"take_profit": 8}, "is_public": True}
    body = api.client.put(f"/api/v1/strategies/{created['id']}", json=replacement, headers=bearer(token)).json()
    assert {k: body[k] for k in replacement} == replacement


def test_null_for_a_required_field_is_422(api):
    token, _ = api.sign_up()
    created = api.create_strategy(token)
    response = api.client.put(f"/api/v1/strategies/{created['id']}", json={"name": None}, headers=bearer(token))
    assert response.status_code == 422


def test_delete_is_204_then_404(api):
    token, _ = api.sign_up()
    created = api.create_strategy(token)
    assert api.client.delete(f"/api/v1/strategies/{created['id']}", headers=bearer(token)).status_code == 204
    for method in ("get", "delete"):
        response = getattr(api.client, method)(f"/api/v1/strategies/{created['id']}", headers=bearer(token))
        assert response.status_code == 404
    assert (
        api.client.put(f"/api/v1/strategies/{created['id']}", json={"name": "x"}, headers=bearer(token)).status_code
        == 404
    )


def test_unknown_and_malformed_ids(api):
    token, _ = api.sign_up()
    assert api.client.get(f"/api/v1/strategies/{uuid.uuid4()}", headers=bearer(token)).status_code == 404
    malformed = api.client.get("/api/v1/strategies/not-a-uuid", headers=bearer(token))
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"][0]["field"] == "strategy_id"


# ---------------------------------------------------------------- listing
def _names(response) -> list[str]:
    return [s["name"] for s in response.json()["data"]]


def test_list_shows_own_strategies_newest_first_without_rules(api):
    token, _ = api.sign_up()
    other, _ = api.sign_up("Other")
    for name in ("a", "b", "c"):
        api.create_strategy(token, name=name)
    api.create_strategy(other, name="not mine", is_public=True)
    response = api.client.get("/api/v1/strategies", headers=bearer(token))
    assert _names(response) == ["c", "b", "a"]
    assert "entry_rules" not in response.json()["data"][0]
    assert response.json()["meta"] == {"page": 1, "per_page": 20, "total_pages": 1, "total_count": 3, "offset": 0}


def test_list_filters_by_is_active_and_strategy_type(api):
    token, _ = api.sign_up()
    api.create_strategy(token, name="active trend", strategy_type="trend")
    api.create_strategy(token, name="idle trend", strategy_type="trend", is_active=False)
    api.create_strategy(token, name="active revert", strategy_type="mean_reversion")
    get = lambda query: _names(api.client.get(f"/api/v1/strategies?{query}", headers=bearer(token)))  # noqa: E731
    assert get("is_active=false") == ["idle trend"]
    assert get("strategy_type=trend&order_by=name&order_dir=asc") == ["active trend", "idle trend"]
    assert get("is_active=true&strategy_type=mean_reversion") == ["active revert"]


def test_list_pages_with_page_per_page_or_limit_offset(api):
    token, _ = api.sign_up()
    for i in range(5):
        api.create_strategy(token, name=f"s{i}")
    page2 = api.client.get("/api/v1/strategies?page=2&per_page=2&order_by=name&order_dir=asc", headers=bearer(token))
    assert _names(page2) == ["s2", "s3"]
    assert page2.json()["meta"] == {"page": 2, "per_page": 2, "total_pages": 3, "total_count": 5, "offset": 2}
    window = api.client.get("/api/v1/strategies?limit=3&offset=3&order_by=name&order_dir=asc", headers=bearer(token))
    assert _names(window) == ["s3", "s4"]
    assert window.json()["meta"]["total_count"] == 5
    beyond = api.client.get("/api/v1/strategies?page=9&per_page=2", headers=bearer(token))
    assert beyond.json()["data"] == [] and beyond.json()["meta"]["total_count"] == 5


@pytest.mark.parametrize(
    "query, field",
    [
        ("per_page=101", "per_page"),
        ("per_page=0", "per_page"),
        ("page=0", "page"),
        ("limit=500", "limit"),
        ("offset=-1", "offset"),
        ("page=1&offset=2", "offset"),
        ("order_by=password", "order_by"),
        ("scope=all", "scope"),
    ],
)
def test_bad_listing_parameters_are_422(api, query, field):
    token, _ = api.sign_up()
    response = api.client.get(f"/api/v1/strategies?{query}", headers=bearer(token))
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["error"]["details"]]


def test_public_strategies_are_listed_and_readable_by_everyone(api):
    owner, owner_user = api.sign_up("Owner")
    reader, _ = api.sign_up("Reader")
    shared = api.create_strategy(owner, name=f"shared {uuid.uuid4()}", is_public=True)
    api.create_strategy(owner, name="private")
    public = api.client.get("/api/v1/strategies?scope=public&per_page=100", headers=bearer(reader)).json()["data"]
    assert shared["id"] in [s["id"] for s in public]
    assert all(s["is_public"] for s in public)
    read = api.client.get(f"/api/v1/strategies/{shared['id']}", headers=bearer(reader))
    assert read.status_code == 200 and read.json()["owner_id"] == owner_user["id"]


def test_making_a_strategy_private_removes_it_from_the_public_listing(api):
    owner, _ = api.sign_up()
    shared = api.create_strategy(owner, is_public=True)
    api.client.put(f"/api/v1/strategies/{shared['id']}", json={"is_public": False}, headers=bearer(owner))
    public = api.client.get("/api/v1/strategies?scope=public&per_page=100", headers=bearer(owner)).json()["data"]
    assert shared["id"] not in [s["id"] for s in public]


def test_the_indicator_catalogue_lists_every_indicator_with_its_parameters(api):
    token, _ = api.sign_up()
    response = api.client.get("/api/v1/indicators", headers=bearer(token))
    assert response.status_code == 200
    catalogue = {entry["name"]: entry for entry in response.json()["data"]}
    assert {"sma", "macd", "cdlengulfing", "ichimoku", "pivots", "vwap"} <= set(catalogue)
    macd = catalogue["macd"]
    assert macd["group"] == "momentum" and macd["default_output"] == "macd"
    assert [p["name"] for p in macd["parameters"]] == ["fastperiod", "slowperiod", "signalperiod"]
    assert macd["parameters"][0] == {
        "name": "fastperiod",
        "default": 12,
        "type": "integer",
        "minimum": 2,
        "maximum": 100000,
        "choices": None,
        "aliases": ["fast_period"],
    }
    assert macd["outputs"][2] == {"name": "macdhist", "aliases": ["histogram"]}
    assert macd["sources"] == [{"name": "source", "default": "close"}] and macd["warmup"] == 33
    assert catalogue["pivots"]["parameters"][0]["choices"] == ["standard", "fibonacci", "camarilla", "woodie"]
    assert "williams_r" not in catalogue and catalogue["willr"]["aliases"] == ["williams_r"]
    mavp = catalogue["mavp"]  # TA-Lib's MAVP: its period per bar is a series
    assert [(p["name"], p["default"]) for p in mavp["parameters"]] == [
        ("minperiod", 2),
        ("maxperiod", 30),
        ("matype", 0),
    ]
    assert [(p["name"], p["accepts"]) for p in mavp["series_parameters"]] == [
        ("periods", ["price", "number", "indicator"])
    ]
    assert mavp["warmup"] == 29 and mavp["lookback"] is None and catalogue["sma"]["series_parameters"] == []
    assert api.client.get("/api/v1/indicators").status_code == 401


def test_a_mavp_condition_reads_its_periods_series_and_a_bad_one_is_422_naming_it(api):
    token, _ = api.sign_up()
    periods = {"indicator": "aroon", "params": {"timeperiod": 10, "output": "aroonup"}}
    good = {
        **STRATEGY,
        "entry_rules": {
            "conditions": [
                {
                    "indicator": "mavp",
                    "params": {"periods": periods, "maxperiod": 50},
                    "comparator": "<",
                    "value": "close",
                }
            ]
        },
    }
    created = api.client.post("/api/v1/strategies", json=good, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert created.json()["entry_rules"]["conditions"][0]["params"]["periods"] == periods
    for params, field in [
        ({"maxperiod": 50}, "entry_rules.conditions[0].params.periods"),
        ({"periods": "rsi"}, "entry_rules.conditions[0].params.periods"),
        (
            {"periods": {"indicator": "aroon", "params": {"timeperiod": 1}}},
            "entry_rules.conditions[0].params.periods.params.timeperiod",
        ),
    ]:
        bad = {
            **STRATEGY,
            "entry_rules": {
                "conditions": [{"indicator": "mavp", "params": params, "comparator": "<", "value": "close"}]
            },
        }
        response = api.client.post("/api/v1/strategies", json=bad, headers=bearer(token))
        assert response.status_code == 422
        assert field in {d["field"] for d in response.json()["error"]["details"]}, response.text


def test_the_rule_builders_mavp_rule_is_accepted_as_the_builder_emits_it(api):
    # Given the entry rules the rule builder emits for a MAVP rule whose periods are another indicator
    token, _ = api.sign_up()
    entry_rules = json.loads(BUILDER_MAVP_RULES.read_text())
    assert entry_rules["conditions"][0]["params"]["periods"]["indicator"] == "aroon"
    # When a strategy is posted with exactly that JSON
    created = api.client.post(
        "/api/v1/strategies", json={**STRATEGY, "entry_rules": entry_rules}, headers=bearer(token)
    )
    # Then the API accepts it and keeps it as it was sent
    assert created.status_code == 201, created.text
    assert created.json()["entry_rules"] == entry_rules


def test_a_long_and_short_strategy_keeps_its_short_rules(api):
    token, _ = api.sign_up()
    short = {
        "operator": "and",
        "conditions": [{"indicator": "rsi", "params": {"period": 14}, "comparator": ">", "value": 70}],
    }
    created = api.create_strategy(token, config={"direction": "both"}, short_entry_rules=short)
    assert created["short_entry_rules"] == short and created["short_exit_rules"] is None
    fetched = api.client.get(f"/api/v1/strategies/{created['id']}", headers=bearer(token)).json()
    assert fetched["short_entry_rules"] == short
    backtest = api.create_backtest(token, created["id"])
    assert api.services.backtests.repository.get(backtest["id"]).strategy["short_entry_rules"] == short


def test_direction_both_needs_short_entry_rules(api):
    token, _ = api.sign_up()
    response = api.client.post(
        "/api/v1/strategies", headers=bearer(token), json={**STRATEGY, "config": {"direction": "both"}}
    )
    assert response.status_code == 422
    assert "short_entry_rules" in [detail["field"] for detail in response.json()["error"]["details"]]
