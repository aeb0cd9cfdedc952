"""The best of a sweep kept in full on the local stack (issue 17, "Scale": batches keep summaries and
params for the ranking; Finish runs the best FULL_RESULTS again for their trades and equity): each
stored full result is a separate single pass of its combination on the same candles, the API serves
it as a backtest of that combination serves its trades and equity, only the best 10 are kept (all of
a smaller sweep), and nothing is left of them when the run fails or its objects are deleted."""

from __future__ import annotations

import sys

import pytest

from adapters.optimization_store import S3OptimizationStore
from shared.engine import BacktestSettings, run_backtest
from shared.strategy import validate_strategy, with_parameters
from tests.fanout.stack import Stack, StackUser
from tests.test_optimizations_stack import (
    END_MS,
    RANGE,
    SMA_CROSS,
    START_MS,
    SYMBOL,
    assert_failed_leaving_nothing,
    create,
    fail_and_clean_up,
    stack_candles,  # noqa: F401 - the module's candles (a fixture)
    wait_for,
)

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def user_and_strategy(stack) -> tuple[StackUser, dict]:
    """One owner for the module (each sign-up counts against the stack's auth rate limit)."""
    user = stack.sign_up()
    return user, stack.create_strategy(user, SMA_CROSS)


def full_result_keys(stack: Stack, optimization_id: str) -> list[str]:
    return stack.keys("ResultsBucket", f"optimizations/{optimization_id}/full/")


def test_the_best_ten_are_kept_in_full_each_equal_to_its_own_backtest(stack, user_and_strategy):
    user, strategy = user_and_strategy
    # Given an 18-combination grid, more than the 10 kept in full
    created = create(stack, user, strategy["id"])[1]
    assert wait_for(stack, user, created["id"])["status"] == "completed"
    store = S3OptimizationStore(stack.client("s3"), stack.bucket("ResultsBucket"))
    ranking = store.ranking(created["id"])
    # Then ranks 1-10 have a full result (a document, its trades and its equity curve each), rank 11 none
    assert len(full_result_keys(stack, created["id"])) == 30
    assert store.full_result(created["id"], 11) is None
    # And each is a separate single pass of its combination on the same candles: trades, equity, summary
    candles = stack.candles(SYMBOL, "1h", START_MS, END_MS)
    settings = BacktestSettings(initial_balance=10_000.0, commission=0.1, timeframe="1h")
    for ranked in ranking[:10]:
        full = store.full_result(created["id"], ranked["rank"])
        assert full is not None
        single = run_backtest(validate_strategy(with_parameters(SMA_CROSS, ranked["params"])), candles, settings)
        document = full.document
        assert (document["rank"], document["params"]) == (ranked["rank"], ranked["params"])
        assert document["objective_value"] == ranked["objective_value"] == single.performance_summary["total_pnl"]
        assert document["performance_summary"] == ranked["performance_summary"] == single.performance_summary
        assert document["final_balance"] == single.final_balance
        assert full.trades == single.trades.to_records() and document["trade_count"] == len(full.trades) > 0
        assert full.equity.timestamps.tolist() == single.timestamps.tolist()
        assert full.equity.equity.tolist() == single.equity_curve.tolist()


def test_a_full_result_is_served_as_the_backtest_of_that_combination(stack, user_and_strategy):
    user, strategy = user_and_strategy
    created = create(stack, user, strategy["id"])[1]
    assert wait_for(stack, user, created["id"])["status"] == "completed"
    status, ranked = stack.request("GET", f"/optimizations/{created['id']}/results?per_page=3", user.token)
    third = ranked["data"][2]
    # Given rank 3's combination run as a backtest ("run as backtest": a copy of the strategy with its values)
    copy = stack.create_strategy(user, with_parameters(SMA_CROSS, third["params"]))
    backtest = stack.create_backtest(
        user, copy["id"], symbol=SYMBOL, timeframe="1h", initial_balance=10_000, metadata={"commission": 0.1}, **RANGE
    )
    backtest = stack.wait_for_backtest(user, backtest["id"])
    assert backtest["status"] == "completed", backtest
    # When the owner reads rank 3 in full, a page of its trades and its equity at 300 points
    path = f"/optimizations/{created['id']}/results/3"
    status, full = stack.request("GET", f"{path}?page=2&per_page=4&points=300", user.token)
    assert status == 200, full
    # Then it is the ranking's row, with the backtest's trades (without their ids) and its equity points
    assert {key: full[key] for key in third} == third
    assert full["performance_summary"] == backtest["performance_summary"]
    assert full["final_balance"] == backtest["final_balance"]
    trades = stack.request("GET", f"/backtests/{backtest['id']}/trades?page=2&per_page=4", user.token)[1]
    stored_only = ("id", "backtest_id", "created_at")
    assert full["trades"]["meta"] == trades["meta"] and trades["meta"]["total_count"] > 8
    assert full["trades"]["data"] == [{k: v for k, v in t.items() if k not in stored_only} for t in trades["data"]]
    equity = stack.request("GET", f"/backtests/{backtest['id']}/equity?points=300", user.token)[1]
    assert full["equity"] == equity and full["equity"]["meta"]["points"] <= 300
    # And by default: the first page of 20 trades, the equity as the backtest's at its default points
    status, default = stack.request("GET", path, user.token)
    assert default["trades"]["meta"] | {"per_page": 20, "page": 1} == default["trades"]["meta"]
    assert default["equity"] == stack.request("GET", f"/backtests/{backtest['id']}/equity", user.token)[1]


def test_a_rank_beyond_the_best_kept_is_not_found_with_the_way_to_it(stack, user_and_strategy):
    user, strategy = user_and_strategy
    created = create(stack, user, strategy["id"])[1]
    assert wait_for(stack, user, created["id"])["status"] == "completed"
    status, answer = stack.request("GET", f"/optimizations/{created['id']}/results/11", user.token)
    assert status == 404
    assert answer["error"]["code"] == "not_found"
    assert "only the best 10 combinations keep their trades" in answer["error"]["message"]
    assert "run as backtest" in answer["error"]["message"]
    status, answer = stack.request("GET", f"/optimizations/{created['id']}/results/0", user.token)
    assert status == 422 and answer["error"]["details"][0]["field"] == "rank"
    # Another user's optimization: not found, as its other routes
    stranger = stack.sign_up("Eve")
    assert stack.request("GET", f"/optimizations/{created['id']}/results/1", stranger.token)[0] == 404


def test_a_sweep_smaller_than_ten_keeps_every_result_in_full(stack, user_and_strategy):
    user, strategy = user_and_strategy
    created = create(stack, user, strategy["id"], parameters={"fast": [5, 10], "slow": [30, 40]})[1]
    assert wait_for(stack, user, created["id"])["status"] == "completed"
    for rank in (1, 2, 3, 4):
        status, full = stack.request("GET", f"/optimizations/{created['id']}/results/{rank}", user.token)
        assert status == 200 and full["rank"] == rank
    assert stack.request("GET", f"/optimizations/{created['id']}/results/5", user.token)[0] == 404
    # Deleting the optimization's objects removes its full results with the rest
    S3OptimizationStore(stack.client("s3"), stack.bucket("ResultsBucket")).delete(created["id"])
    assert full_result_keys(stack, created["id"]) == []


def test_a_finish_that_finds_the_run_failed_leaves_no_full_result(stack, user_and_strategy, monkeypatch):
    workflow = sys.modules[stack.local.functions["WorkflowFunction"].handler().__module__].optimizations()
    real_put = workflow.store.put_full_result

    def after_a_failure(optimization_id: str, full) -> None:
        if full.rank == 3:  # Given the run was failed (and cleaned up) while Finish ran the best in full
            fail_and_clean_up(workflow, optimization_id, "the run watchdog gave up on it")
        real_put(optimization_id, full)

    monkeypatch.setattr(workflow.store, "put_full_result", after_a_failure)
    user, strategy = user_and_strategy
    created = create(stack, user, strategy["id"])[1]
    # Then Finish removed what it wrote after the cleanup, and the run stays failed with its reason
    assert_failed_leaving_nothing(stack, user, created["id"], "the run watchdog gave up on it")


def test_a_finish_retried_midway_stores_the_same_full_results(stack, user_and_strategy, monkeypatch):
    from adapters.workflow import TransientError

    workflow = sys.modules[stack.local.functions["WorkflowFunction"].handler().__module__].optimizations()
    real_put, written = workflow.store.put_full_result, []

    def flaky(optimization_id: str, full) -> None:
        written.append(full.rank)
        if written.count(5) == 1 and full.rank == 5:  # Finish's first attempt dies at rank 5: an S3 5xx, say
            raise TransientError("temporary S3 error: 503 Slow Down")
        real_put(optimization_id, full)

    monkeypatch.setattr(workflow.store, "put_full_result", flaky)
    user, strategy = user_and_strategy
    created = create(stack, user, strategy["id"])[1]
    assert wait_for(stack, user, created["id"])["status"] == "completed"
    # Then the state machine retried Finish, which wrote ranks 1-10 again: the same 10, once each
    assert written == [1, 2, 3, 4, 5, *range(1, 11)]
    assert len(full_result_keys(stack, created["id"])) == 30
    store = S3OptimizationStore(stack.client("s3"), stack.bucket("ResultsBucket"))
    ranking = store.ranking(created["id"])
    for ranked in ranking[:10]:
        full = store.full_result(created["id"], ranked["rank"])
        assert full is not None and full.document["params"] == ranked["params"]
        assert full.document["performance_summary"] == ranked["performance_summary"]
