"""Monte Carlo end to end on the local stack: POST /backtests/{id}/monte_carlo on a backtest the
backtest state machine completed; the trade returns come from its stored trades."""

from __future__ import annotations

import pytest

from tests.test_optimizations_stack import (
    RANGE,
    SMA_CROSS,
    SYMBOL,
    stack_candles,  # noqa: F401 - this module's candles (the stack is conftest's)
)

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def completed(stack):
    user = stack.sign_up()
    strategy = stack.create_strategy(
        user, SMA_CROSS | {"config": {"stop_loss": 2, "parameters": {"fast": 5, "slow": 30}}}
    )
    created = stack.create_backtest(
        user, strategy["id"], symbol=SYMBOL, timeframe="1h", initial_balance=10_000, **RANGE
    )
    backtest = stack.wait_for_backtest(user, created["id"])
    assert backtest["status"] == "completed", backtest
    status, trades = stack.request("GET", f"/backtests/{created['id']}/trades?per_page=100", user.token)
    assert status == 200 and trades["meta"]["total_count"] >= 10
    return user, backtest, trades["data"]


def analyse(stack, user, backtest_id: str, **body) -> tuple[int, dict]:
    return stack.request("POST", f"/backtests/{backtest_id}/monte_carlo", user.token, body)


def test_a_permutation_of_all_in_trade_returns_keeps_every_final_balance(stack, completed):
    user, backtest, trades = completed
    status, answer = analyse(stack, user, backtest["id"], simulations=2_000, method="trade_permutation", seed=5)
    assert status == 200, answer
    closed = [t for t in trades if t["exit_time"] is not None]
    assert answer["trades"] == len(closed) and answer["simulations"] == 2_000
    expected = 10_000 + sum(t["pnl"] for t in closed)  # every closed pnl compounded, in any order
    for q in ("p5", "p25", "p50", "p75", "p95", "mean"):
        assert answer["final_balance"][q] == pytest.approx(expected, rel=1e-9)
    if len(closed) == len(trades):  # no trade left open: the backtest ended there too
        assert answer["backtest_final_balance"] == pytest.approx(expected, rel=1e-9)
    drawdown = answer["max_drawdown_percentage"]
    assert drawdown["p5"] <= drawdown["p50"] <= drawdown["p95"]  # the order changes the path, not the end
    bands = answer["equity_bands"]
    assert bands["unit"] == "trade" and bands["steps"][-1] == len(closed)
    assert bands["p5"][-1] == pytest.approx(expected, rel=1e-9) and bands["p50"][0] == 10_000


def test_a_bootstrap_is_deterministic_for_a_seed(stack, completed):
    user, backtest, _ = completed
    body = {"simulations": 3_000, "method": "trade_bootstrap", "seed": 11, "ruin_threshold": 0.9}
    first, second = analyse(stack, user, backtest["id"], **body)[1], analyse(stack, user, backtest["id"], **body)[1]
    assert first == second
    other = analyse(stack, user, backtest["id"], **body | {"seed": 12})[1]
    assert other["final_balance"] != first["final_balance"]
    assert other["final_balance"]["p50"] == pytest.approx(first["final_balance"]["p50"], rel=0.03)
    assert 0.0 <= first["probability_of_ruin"] <= 1.0


def test_bad_requests_and_strangers_are_refused(stack, completed):
    user, backtest, _ = completed
    status, answer = analyse(stack, user, backtest["id"], simulations=10_001)
    assert status == 422 and answer["error"]["details"][0]["field"] == "simulations"
    status, answer = analyse(stack, user, backtest["id"], method="shuffle")
    assert status == 422 and answer["error"]["details"][0]["field"] == "method"
    assert analyse(stack, stack.sign_up("Eve"), backtest["id"])[0] == 404


def test_a_block_bootstrap_resamples_the_stored_equity_curve(stack, completed):
    user, backtest, _ = completed
    # block = the whole curve: every simulation replays the backtest's own bars
    status, whole = analyse(stack, user, backtest["id"], simulations=20, method="block_bootstrap", block=100_000)
    assert status == 200, whole
    assert whole["final_balance"]["p5"] == pytest.approx(backtest["final_balance"], rel=1e-9)
    assert whole["trades"] is None and whole["equity_bands"]["unit"] == "bar"
    status, blocks = analyse(stack, user, backtest["id"], simulations=500, method="block_bootstrap", block=24, seed=3)
    assert status == 200 and blocks["final_balance"]["p5"] < blocks["final_balance"]["p95"]
    assert blocks["equity_bands"]["steps"][-1] == whole["equity_bands"]["steps"][-1]
