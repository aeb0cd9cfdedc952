"""Ownership, for every operation of the OpenAPI document whose path names a resource: Bob sending
the id of one of Alice's resources gets 403 or 404 in the API's error shape, never a 2xx (her data),
never a 5xx, and never a 422 (a request refused before the owner check proves nothing).

The operations come from `app.openapi()`, not from a list kept by hand (test_api_authorization.py's
MATRIX checks the exact status per route): a new route with a path parameter is checked the day it
is added. Its parameter must name a resource this module knows how to own (OWNED_BY_PARAMETER,
`owned_id`), or the route must be listed in PUBLIC_BY_DESIGN with the reason; a required body or
query parameter must have a valid value in BODIES / QUERIES. Otherwise its case fails and says so.

Each case has its control: the same request from Alice is not refused as hers (for a read, it
answers 2xx), and her view of the resource is the same before and after Bob's request (nothing
was changed, cancelled or deleted for her).
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import pytest

from api.application import create_app
from api.settings import ApiSettings
from api.wiring import build_services
from local.template import Template
from shared.backtests.equity import EquitySeries
from shared.backtests.trade_ids import trade_id
from shared.optimizations.full_results import FullResult
from shared.optimizations.sweep import rank
from shared.times import utc_now
from tests.api.conftest import bearer, engine_trades
from tests.api.test_api_transactions import TRADES_CSV, import_file, transaction_ids, worker  # noqa: F401 - fixture
from tests.fanout.strategies import sma_cross

# Operations with a path parameter that names no one's resource, each with the reason.
PUBLIC_BY_DESIGN = {
    ("GET", "/api/v1/market_data/{symbol}/funding"): "market data is shared by every user",
    ("GET", "/api/v1/market_data/{symbol}/info"): "market data is shared by every user",
    ("GET", "/api/v1/market_data/{symbol}/latest_candle"): "market data is shared by every user",
    ("GET", "/api/v1/market_data/{symbol}/{timeframe}"): "market data is shared by every user",
    ("GET", "/api/v1/market_data/{symbol}/{timeframe}/quality"): "market data is shared by every user",
    (
        "POST",
        "/api/v1/market_data/{symbol}/{timeframe}/repair",
    ): "any user may fill gaps of the shared series (as POST /market_data/fetch); the import it queues is the caller's",
}

# Path parameter -> the key in `world` of Alice's resource it names.
OWNED_BY_PARAMETER = {
    "strategy_id": "private",
    "backtest_id": "completed",
    "trade_id": "trade",
    "optimization_id": "optimization",
    "walk_forward_id": "walk_forward",
    "replay_id": "replay",
}

# Bodies and query parameters that pass validation, so the request reaches the owner check.
BODIES = {
    ("PUT", "/api/v1/strategies/{strategy_id}"): {"name": "mine now"},
    ("POST", "/api/v1/backtests/{backtest_id}/monte_carlo"): {"simulations": 100, "seed": 1},
}
QUERIES = {
    ("GET", "/api/v1/optimizations/{optimization_id}/heatmap"): {"x": "fast", "y": "slow"},
}


def _document() -> dict[str, Any]:
    """The API's OpenAPI document, from the app as the function builds it (no AWS call is made)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    environment = Template.load().function_environment("ApiFunction")
    settings = ApiSettings.from_env(environment)
    return create_app(
        build_services(settings, endpoint_url="http://127.0.0.1:9"), settings.cors_allowed_origin
    ).openapi()


DOCUMENT = _document()
OPERATIONS = {
    (method.upper(), path): operation for path, item in DOCUMENT["paths"].items() for method, operation in item.items()
}


def path_parameters(operation: dict[str, Any]) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]


WITH_PATH_PARAMETERS = sorted(key for key, operation in OPERATIONS.items() if path_parameters(operation))
OWNED = [key for key in WITH_PATH_PARAMETERS if key not in PUBLIC_BY_DESIGN]


def owned_id(world: dict[str, str], path: str, name: str) -> str:
    if name == "import_id":  # two kinds of import jobs, each with its own route
        return world["transaction_import" if path.startswith("/api/v1/transactions/") else "market_import"]
    if name == "rank":  # a result of her optimization (the path's other parameter): its best, kept in full
        return "1"
    key = OWNED_BY_PARAMETER.get(name)
    assert key is not None, (
        f"{path}: no owned resource is known for the path parameter {name!r}; add one to "
        f"OWNED_BY_PARAMETER and `world`, or list the route in PUBLIC_BY_DESIGN with its reason"
    )
    return world[key]


def resource_path(path: str) -> str:
    """The GET route of the resource an operation acts on: its path up to the last path parameter."""
    resource = re.sub(r"(.*\})/.*$", r"\1", path)
    assert ("GET", resource) in OPERATIONS, f"{path}: no GET {resource} to read the resource back"
    return resource


@pytest.fixture(scope="module")
def world(api, worker) -> dict[str, str]:
    """One of each of Alice's resources, created through the API (the replay from her imported trades)."""
    alice, alice_user = api.sign_up("Alice")
    bob, _ = api.sign_up("Bob")
    own = bearer(alice)
    # Parameterised, so an optimization and a walk-forward can sweep it
    strategy = api.create_strategy(
        alice, name="alice private", **sma_cross("$fast", "$slow", stop_loss=2, parameters={"fast": 10, "slow": 50})
    )
    completed = api.create_backtest(alice, strategy["id"])
    hours = 1_704_067_200_000 + np.arange(6, dtype=np.int64) * 3_600_000
    api.complete(
        completed["id"],
        engine_trades([1, -1, 1], [3.0, -1.0, 2.0]),
        final_balance=10_004.0,
        equity=EquitySeries(
            hours, np.asarray([10_000.0, 10_003, 10_003, 10_002, 10_002, 10_004]), np.full(6, 10_000.0)
        ),
    )
    window = {
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "initial_balance": 10_000,
        "start_time": "2024-01-01T00:00:00Z",
        "end_time": "2024-03-20T00:00:00Z",
    }
    grid = {"fast": [5, 10], "slow": [30, 40]}

    def created(path: str, body: dict[str, Any], key: str = "id") -> str:
        response = api.client.post(path, json=body, headers=own)
        assert response.status_code in (201, 202), (path, response.text)
        return str(response.json()[key])

    optimization = created(
        "/api/v1/optimizations",
        {"strategy_id": strategy["id"], "parameters": grid, "objective": "total_pnl", "max_combinations": 10, **window},
    )
    complete_optimization(api, optimization, grid)
    walk_forward = created(
        "/api/v1/walk_forwards",
        {
            "strategy_id": strategy["id"],
            "parameters": grid,
            "objective": "total_pnl",
            "train": "30d",
            "test": "10d",
            **window,
        },
    )
    market_import = created(
        "/api/v1/market_data/uploads", {"symbol": "NEWCOIN", "timeframe": "1h", "filename": "mine.csv"}, "import_id"
    )
    transaction_import = import_file(api, worker, (alice, alice_user["id"]), TRADES_CSV)["import_id"]
    mine = transaction_ids(api, alice)
    replay = created(
        "/api/v1/transactions/replay",
        {"transaction_ids": [mine["b-1"], mine["b-2"]], "symbol": "BTCUSDT", "timeframe": "1h"},
        "replay_id",
    )
    return {
        "alice": alice,
        "bob": bob,
        "private": strategy["id"],
        "completed": completed["id"],
        "trade": trade_id(completed["id"], 0),
        "optimization": optimization,
        "walk_forward": walk_forward,
        "market_import": market_import,
        "transaction_import": transaction_import,
        "replay": replay,
    }


def complete_optimization(api, optimization_id: str, grid: dict[str, list[int]]) -> None:
    """Play the optimization state machine's part: a ranking of every combination, the best in
    full, then completed (so Bob's reads meet results that exist, not a 409 before them)."""
    results = [
        {
            "index": index,
            "params": {"fast": fast, "slow": slow},
            "final_balance": 10_000.0 + fast - slow,
            "performance_summary": {"total_pnl": float(fast - slow), "total_trades": 3},
        }
        for index, (fast, slow) in enumerate((f, s) for f in grid["fast"] for s in grid["slow"])
    ]
    ranking = rank(results, "total_pnl")
    optimizations = api.services.optimizations
    optimizations.repository.mark_running(optimization_id, utc_now())
    optimizations.store.put_ranking(optimization_id, ranking)
    hours = 1_704_067_200_000 + np.arange(6, dtype=np.int64) * 3_600_000
    best = {key: ranking[0][key] for key in ("rank", "params", "objective_value", "final_balance")}
    optimizations.store.put_full_result(
        optimization_id,
        FullResult(
            best | {"performance_summary": ranking[0]["performance_summary"]},
            engine_trades([1, -1, 1], [3.0, -1.0, 2.0]).to_records(),
            EquitySeries(hours, np.full(6, ranking[0]["final_balance"]), np.full(6, 10_000.0)),
        ),
    )
    optimizations.repository.complete(optimization_id, ranking[0], utc_now())


def test_the_document_has_owned_routes_and_every_public_one_exists():
    assert len(OWNED) >= 18, OWNED  # 18 when written: strategies, backtests, trades, imports, runs, replays
    assert set(PUBLIC_BY_DESIGN) <= set(WITH_PATH_PARAMETERS), "a stale PUBLIC_BY_DESIGN entry"
    assert all(reason for reason in PUBLIC_BY_DESIGN.values())


def test_every_required_body_and_query_parameter_has_a_valid_value_here():
    for key in OWNED:
        operation = OPERATIONS[key]
        if operation.get("requestBody", {}).get("required"):
            assert key in BODIES, f"{key}: add a valid body to BODIES (a 422 would not reach the owner check)"
        required = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and p.get("required")}
        assert required <= set(QUERIES.get(key, {})), f"{key}: add the query parameters {required} to QUERIES"


@pytest.mark.parametrize("method, path", OWNED, ids=[f"{m} {p}" for m, p in OWNED])
def test_another_users_resource_answers_403_or_404(api, world, method, path):
    names = path_parameters(OPERATIONS[method, path])
    url = path.format(**{name: owned_id(world, path, name) for name in names})
    resource = resource_path(path).format(**{name: owned_id(world, path, name) for name in names})
    request = {"json": BODIES.get((method, path)), "params": QUERIES.get((method, path))}
    alice, bob = bearer(world["alice"]), bearer(world["bob"])
    before = api.client.get(resource, headers=alice)
    assert before.status_code == 200, (resource, before.text)

    response = api.client.request(method, url, headers=bob, **request)

    assert response.status_code in (403, 404), (method, url, response.status_code, response.text)
    assert response.json()["error"]["code"] == {403: "forbidden", 404: "not_found"}[response.status_code]
    after = api.client.get(resource, headers=alice)
    assert (after.status_code, after.json()) == (200, before.json()), "Bob's request changed Alice's resource"
    if method == "GET":  # the control: the same read is Alice's to make
        control = api.client.request(method, url, headers=alice, **request)
        assert 200 <= control.status_code < 300, (url, control.status_code, control.text)
