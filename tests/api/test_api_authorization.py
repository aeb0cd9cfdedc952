"""Authorization matrix: user B on every route touching user A's resources.

Rule: what B may not see answers 404, exactly like a missing resource (A's private strategies,
all of A's backtests and trades); what B may see but not change (A's public strategy) answers 403.
"""

from __future__ import annotations

import pytest

from shared.backtests.trade_ids import trade_id
from tests.api.conftest import STRATEGY, backtest_body, bearer, engine_trades


@pytest.fixture(scope="module")
def world(api):
    alice, _ = api.sign_up("Alice")
    bob, _ = api.sign_up("Bob")
    private = api.create_strategy(alice, name="alice private")
    public = api.create_strategy(alice, name="alice public", is_public=True)
    completed = api.create_backtest(alice, private["id"])
    api.complete(completed["id"], engine_trades([1, -1], [3.0, -1.0]))
    pending = api.create_backtest(alice, private["id"])
    return {
        "alice": alice,
        "bob": bob,
        "private": private["id"],
        "public": public["id"],
        "completed": completed["id"],
        "pending": pending["id"],
        "trade": trade_id(completed["id"], 0),
    }


MATRIX = [
    ("GET", "/api/v1/strategies/{private}", None, 404),
    ("PUT", "/api/v1/strategies/{private}", {"name": "mine now"}, 404),
    ("DELETE", "/api/v1/strategies/{private}", None, 404),
    ("PUT", "/api/v1/strategies/{public}", {"name": "mine now"}, 403),
    ("PUT", "/api/v1/strategies/{public}", STRATEGY, 403),
    ("DELETE", "/api/v1/strategies/{public}", None, 403),
    ("POST", "/api/v1/backtests", "private", 404),
    ("GET", "/api/v1/backtests/{completed}", None, 404),
    ("GET", "/api/v1/backtests/{pending}", None, 404),
    ("POST", "/api/v1/backtests/{pending}/cancel", None, 404),
    ("POST", "/api/v1/backtests/{completed}/cancel", None, 404),
    ("DELETE", "/api/v1/backtests/{completed}", None, 404),
    ("DELETE", "/api/v1/backtests/{pending}", None, 404),
    ("GET", "/api/v1/backtests/{completed}/trades", None, 404),
    ("GET", "/api/v1/trades?backtest_id={completed}", None, 404),
    ("GET", "/api/v1/trades/{trade}", None, 404),
]


@pytest.mark.parametrize("method, path, body, status", MATRIX, ids=[f"{m} {p} {s}" for m, p, _, s in MATRIX])
def test_bob_cannot_touch_alices_resources(api, world, method, path, body, status):
    json_body = backtest_body(world[body]) if body == "private" else body
    response = api.client.request(method, path.format(**world), json=json_body, headers=bearer(world["bob"]))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == {403: "forbidden", 404: "not_found"}[status]


def test_a_404_for_someone_elses_resource_is_indistinguishable_from_a_missing_one(api, world):
    theirs = api.client.get(f"/api/v1/backtests/{world['completed']}", headers=bearer(world["bob"])).json()
    missing = api.client.get(
        "/api/v1/backtests/00000000-0000-4000-8000-000000000000", headers=bearer(world["bob"])
    ).json()
    assert theirs == missing


def test_bob_may_read_and_backtest_alices_public_strategy(api, world):
    assert api.client.get(f"/api/v1/strategies/{world['public']}", headers=bearer(world["bob"])).status_code == 200
    response = api.client.post("/api/v1/backtests", json=backtest_body(world["public"]), headers=bearer(world["bob"]))
    assert response.status_code == 202


def test_listings_show_bob_nothing_of_alices_private_resources(api, world):
    bob = bearer(world["bob"])
    own_strategies = api.client.get("/api/v1/strategies", headers=bob).json()["data"]
    public = api.client.get("/api/v1/strategies?scope=public&per_page=100", headers=bob).json()["data"]
    backtests = api.client.get("/api/v1/backtests", headers=bob).json()["data"]
    seen = {item["id"] for item in own_strategies + public + backtests}
    assert world["private"] not in seen and world["completed"] not in seen and world["pending"] not in seen


def test_alices_resources_are_unchanged_afterwards(api, world):
    alice = bearer(world["alice"])
    for path in ("strategies/{private}", "strategies/{public}", "backtests/{completed}", "backtests/{pending}"):
        assert api.client.get(f"/api/v1/{path.format(**world)}", headers=alice).status_code == 200
    assert api.client.get(f"/api/v1/backtests/{world['pending']}", headers=alice).json()["status"] == "pending"
    assert api.client.get(f"/api/v1/trades/{world['trade']}", headers=alice).status_code == 200
