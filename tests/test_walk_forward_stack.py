"""Walk-forwards end to end on the local stack: POST /api/v1/walk_forwards runs the optimization state
machine from template.yaml over every train window at once; each window's choice and out-of-sample
result equal separate backtests (chosen by the same ranking, capital carried)."""

from __future__ import annotations

import time

import pytest

from shared.engine import BacktestSettings, run_backtest
from shared.optimizations.sweep import parameter_grid, rank
from shared.strategy import validate_strategy, with_parameters
from tests.test_optimizations_stack import (  # noqa: F401 - the candles of its stack
    SMA_CROSS,
    START_MS,
    SYMBOL,
    execution,
    stack_candles,
    user_and_strategy,
    wait_for,
)

pytestmark = pytest.mark.stack

DAY_MS = 86_400_000
GRID = {"fast": [5, 10], "slow": [30, 40], "config.stop_loss": [1, 3]}


def walk_forward_body(strategy_id: str, **overrides) -> dict:
    """A walk-forward over 79 days of the stack's candles, 30-day train and 10-day test windows."""
    return {
        "strategy_id": strategy_id,
        "symbol": SYMBOL,
        "timeframe": "1h",
        "initial_balance": 10_000,
        "start_time": "2024-01-01T00:00:00Z",
        "end_time": "2024-03-20T00:00:00Z",
        "parameters": GRID,
        "objective": "total_pnl",
        "train": "30d",
        "test": "10d",
        **overrides,
    }


def test_a_walk_forward_chooses_on_train_windows_and_trades_them_out_of_sample(stack, user_and_strategy):
    user, strategy = user_and_strategy
    body = walk_forward_body(strategy["id"])  # test windows end on days 40..70 (80 > 79)
    status, created = stack.request("POST", "/walk_forwards", user.token, body)
    assert status == 202, created
    assert created["combination_count"] == 8 * 4 and created["step"] == "10d" and created["anchored"] is False
    assert wait_for(stack, user, created["id"], timeout=120, resource="walk_forwards")["status"] == "completed"
    assert execution(stack, created["id"])["status"] == "SUCCEEDED"
    status, walk_forward = stack.request("GET", f"/walk_forwards/{created['id']}", user.token)
    assert status == 200
    result = walk_forward["result"]
    windows = result["windows"]
    assert [w["test_start"] for w in windows] == [iso(START_MS + (30 + 10 * k) * DAY_MS) for k in range(4)]
    assert [w["train_start"] for w in windows] == [iso(START_MS + 10 * k * DAY_MS) for k in range(4)]

    settings = BacktestSettings(initial_balance=10_000.0, commission=0.1, timeframe="1h")
    balance, trades = 10_000.0, 0
    for k, window in enumerate(windows):
        train_start, test_start = START_MS + 10 * k * DAY_MS, START_MS + (30 + 10 * k) * DAY_MS
        # The choice: the best of a separate grid over the train window, ranked the same way
        train = stack.candles(SYMBOL, "1h", train_start, test_start)
        separate = [
            {
                "index": c.index,
                "params": c.params,
                "performance_summary": run_backtest(
                    validate_strategy(with_parameters(SMA_CROSS, c.params)), train, settings
                ).performance_summary,
            }
            for c in parameter_grid(SMA_CROSS, GRID, 100)
        ]
        best = rank(separate, "total_pnl")[0]
        assert window["params"] == best["params"]
        assert window["in_sample"]["total_pnl"] == pytest.approx(best["performance_summary"]["total_pnl"], rel=1e-11)
        # Out of sample: a separate backtest of those parameters on the test window, with the carried balance
        test = stack.candles(SYMBOL, "1h", test_start, test_start + 10 * DAY_MS)
        single = run_backtest(
            validate_strategy(with_parameters(SMA_CROSS, window["params"])),
            test,
            BacktestSettings(initial_balance=balance, commission=0.1, timeframe="1h"),
        )
        assert window["initial_balance"] == pytest.approx(balance, rel=1e-11)
        assert window["final_balance"] == pytest.approx(single.final_balance, rel=1e-11)
        assert window["out_of_sample"]["total_trades"] == single.performance_summary["total_trades"]
        balance, trades = single.final_balance, trades + len(single.trades)
    oos = result["out_of_sample"]
    assert oos["final_balance"] == pytest.approx(balance, rel=1e-11) and len(oos["trades"]) == trades
    assert oos["equity"]["total_points"] == 4 * 240 and oos["equity"]["equity"][-1] == pytest.approx(balance, rel=1e-11)
    years = 40 * DAY_MS / (365 * DAY_MS)
    assert oos["annualised_return"] == pytest.approx(100 * ((balance / 10_000) ** (1 / years) - 1), rel=1e-9)
    in_sample = sum(w["in_sample"]["cagr"] for w in windows) / 4
    assert result["walk_forward_efficiency"] == pytest.approx(oos["annualised_return"] / in_sample, rel=1e-9)
    fast = result["parameter_stability"]["fast"]
    assert fast["values"] == [w["params"]["fast"] for w in windows]
    assert fast["mode_share"] == max(fast["values"].count(v) for v in fast["values"]) / 4
    # A walk-forward is its own resource: not an optimization, and nobody else's
    assert stack.request("GET", f"/optimizations/{created['id']}", user.token)[0] == 404
    assert [w["id"] for w in stack.request("GET", "/walk_forwards", user.token)[1]["data"]] == [created["id"]]
    assert stack.request("GET", f"/walk_forwards/{created['id']}", stack.sign_up("Eve").token)[0] == 404


def test_a_range_too_short_for_one_window_is_refused(stack, user_and_strategy):
    user, strategy = user_and_strategy
    body = walk_forward_body(strategy["id"], end_time="2024-02-01T00:00:00Z")
    status, answer = stack.request("POST", "/walk_forwards", user.token, body)
    assert status == 422 and answer["error"]["details"][0]["field"] == "end_time"
    status, answer = stack.request("POST", "/walk_forwards", user.token, body | {"train": "30 days"})
    assert status == 422 and answer["error"]["details"][0]["field"] == "train"


def iso(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch_ms / 1000))
