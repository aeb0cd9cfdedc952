"""Optimizations end to end on the local stack: POST /api/v1/optimizations runs the optimization
state machine from template.yaml (a distributed Map reading its batch list from S3, on moto's
interpreter) and the ranked results equal one single pass per combination."""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime

import pytest

from adapters.optimization_store import S3OptimizationStore
from shared.engine import BacktestSettings, run_backtest
from shared.strategy import validate_strategy, with_parameters
from tests.fanout.stack import HOUR_MS, Stack, StackUser, random_walk
from tests.fanout.strategies import sma_cross

pytestmark = pytest.mark.stack

SYMBOL = "OPTUSDT"
SMA_CROSS = sma_cross("$fast", "$slow", stop_loss=2, parameters={"fast": 10, "slow": 50})
RANGE = {"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-03-15T00:00:00Z"}
START_MS, END_MS = 1_704_067_200_000, 1_710_460_800_000
GRID = {"fast": [5, 10, 15], "slow": {"start": 30, "stop": 50, "step": 10}, "config.stop_loss": [1, 2]}


@pytest.fixture(scope="module")
def in_process_functions() -> frozenset[str]:
    return frozenset({"OptimizationBatchFunction"})  # these tests patch its module


@pytest.fixture(scope="module")
def stack_candles() -> dict:
    return {(SYMBOL, "1h"): random_walk(21, 2000, HOUR_MS)}


@pytest.fixture
def user_and_strategy(stack) -> tuple[StackUser, dict]:
    user = stack.sign_up()
    return user, stack.create_strategy(user, SMA_CROSS)


def create(stack: Stack, user: StackUser, strategy_id: str, **overrides) -> tuple[int, dict]:
    body = {
        "strategy_id": strategy_id,
        "symbol": SYMBOL,
        "timeframe": "1h",
        "initial_balance": 10_000,
        "parameters": GRID,
        "objective": "total_pnl",
        "max_combinations": 50,
        **RANGE,
        **overrides,
    }
    return stack.request("POST", "/optimizations", user.token, body)


def wait_for(
    stack: Stack, user: StackUser, optimization_id: str, timeout: float = 60.0, resource: str = "optimizations"
) -> dict:
    """The optimization (or walk-forward) once completed or failed (or as it is at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        status, optimization = stack.request("GET", f"/{resource}/{optimization_id}", user.token)
        assert status == 200, optimization
        if optimization["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return optimization
        time.sleep(0.1)


def wait_for_execution_end(stack: Stack, optimization_id: str, timeout: float = 60.0) -> dict:
    """The optimization's state machine execution once it is no longer running."""
    machine = stack.template.arn("OptimizationStateMachine")
    deadline = time.monotonic() + timeout
    while True:
        executions = stack.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
        described = next((e for e in executions if e["name"] == optimization_id), None)
        if (described and described["status"] != "RUNNING") or time.monotonic() > deadline:
            return described or {}
        time.sleep(0.1)


def batch_module(stack: Stack):
    """The optimization batch function's module as the stack loaded it: tests wrap its workflow."""
    return sys.modules[stack.local.functions["OptimizationBatchFunction"].handler().__module__]


def execution(stack: Stack, optimization_id: str) -> dict:
    arn = stack.template.arn("OptimizationStateMachine").replace(":stateMachine:", ":execution:")
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=f"{arn}:{optimization_id}"))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return described | {"events": sfn.get_execution_history(executionArn=described["executionArn"])["events"]}


# ---------------------------------------------------------------- end to end
def test_an_optimization_ranks_every_combination_by_its_single_pass(stack, user_and_strategy):
    user, strategy = user_and_strategy
    # When the owner runs an 18-combination grid (3 fast x 3 slow x 2 stop-losses)
    status, created = create(stack, user, strategy["id"])
    assert status == 202, created
    assert created["status"] == "pending" and created["combination_count"] == 18
    optimization = wait_for(stack, user, created["id"])
    # Then it completed through the state machine, whose distributed Map read its items from S3
    assert optimization["status"] == "completed" and optimization["progress"] == 100
    run = execution(stack, created["id"])
    assert run["status"] == "SUCCEEDED"
    assert "MapRunStarted" in [event["type"] for event in run["events"]]
    assert json.loads(run["output"])["finished"]["combinations"] == 18
    # And every result is the single pass of its combination, ranked by total pnl
    ranking = S3OptimizationStore(stack.client("s3"), stack.bucket("ResultsBucket")).ranking(created["id"])
    candles = stack.candles(SYMBOL, "1h", START_MS, END_MS)
    settings = BacktestSettings(initial_balance=10_000.0, commission=0.1, timeframe="1h")
    for result in ranking:
        single = run_backtest(validate_strategy(with_parameters(SMA_CROSS, result["params"])), candles, settings)
        assert result["performance_summary"] == single.performance_summary
    pnl = [result["objective_value"] for result in ranking]
    assert pnl == sorted(pnl, reverse=True) and [r["rank"] for r in ranking] == list(range(1, 19))
    assert sorted(tuple(sorted(r["params"].items())) for r in ranking) == sorted(
        tuple(sorted({"fast": f, "slow": s, "config.stop_loss": sl}.items()))
        for f in (5, 10, 15)
        for s in (30, 40, 50)
        for sl in (1, 2)
    )
    # The REST API pages through the same ranking, and shows the best on the optimization
    status, page = stack.request("GET", f"/optimizations/{created['id']}/results?page=2&per_page=5", user.token)
    assert status == 200
    assert page["meta"] == {"page": 2, "per_page": 5, "total_pages": 4, "total_count": 18, "offset": 5}
    assert [r["params"] for r in page["data"]] == [r["params"] for r in ranking[5:10]]
    assert [r["rank"] for r in page["data"]] == [6, 7, 8, 9, 10]
    assert optimization["best"]["params"] == ranking[0]["params"]
    assert optimization["best"]["objective_value"] == pytest.approx(ranking[0]["objective_value"], rel=1e-11)
    # The intermediate objects are gone; the ranking stays
    assert stack.keys("ResultsBucket", f"partials/optimizations/{created['id']}/") == []
    status, listed = stack.request("GET", "/optimizations", user.token)
    assert [o["id"] for o in listed["data"]] == [created["id"]]


def test_a_failing_batch_fails_the_optimization_with_a_readable_message(stack, user_and_strategy, monkeypatch):
    workflow = batch_module(stack).optimizations()
    real = workflow.evaluate

    def broken(optimization_id: str, index: int) -> dict:
        if index == 0:
            raise MemoryError("batch too large")
        return real(optimization_id, index)

    monkeypatch.setattr(workflow, "evaluate", broken)
    user, strategy = user_and_strategy
    created = create(stack, user, strategy["id"])[1]
    optimization = wait_for(stack, user, created["id"])
    assert optimization["status"] == "failed"
    # (on AWS the distributed Map fails first: "a batch of the optimization failed; ..."; moto's map
    # run lets a failed child pass, and Finish finds the batch without results)
    assert optimization["error"] == "batch(es) 0 of the optimization failed: their combinations have no results"
    # Once the execution has ended (its Fail step cleans up after marking the run failed), nothing is left
    assert wait_for_execution_end(stack, created["id"])["status"] == "FAILED"
    assert stack.keys("ResultsBucket", f"partials/optimizations/{created['id']}/") == []
    assert stack.keys("ResultsBucket", f"optimizations/{created['id']}/") == []


def test_a_batch_that_writes_after_the_run_failed_removes_what_it_wrote(stack, user_and_strategy, monkeypatch):
    workflow = batch_module(stack).optimizations()
    real_put = workflow.store.put_results

    def after_a_failure(optimization_id: str, index: int, header: dict, results: list) -> None:
        # Given the run failed (and its Fail step cleaned up) while this batch was computing
        fail_and_clean_up(workflow, optimization_id, "another batch failed")
        real_put(optimization_id, index, header, results)

    monkeypatch.setattr(workflow.store, "put_results", after_a_failure)
    user, strategy = user_and_strategy
    created = create(stack, user, strategy["id"])[1]
    # Then the late write is gone with the rest, and the run stays failed with the first reason
    assert_failed_leaving_nothing(stack, user, created["id"], "another batch failed")


def fail_and_clean_up(workflow, optimization_id: str, reason: str) -> None:
    """What a Fail step (or the run watchdog) does while another step runs: mark failed, remove the objects."""
    workflow.repository.fail(optimization_id, reason, datetime.now(UTC))
    workflow.store.delete(optimization_id)


def assert_failed_leaving_nothing(stack: Stack, user: StackUser, optimization_id: str, reason: str) -> None:
    """Once its execution ended: the optimization failed for `reason`, and none of its objects is left."""
    wait_for_execution_end(stack, optimization_id)
    optimization = stack.request("GET", f"/optimizations/{optimization_id}", user.token)[1]
    assert (optimization["status"], optimization["error"]) == ("failed", reason)
    assert stack.keys("ResultsBucket", f"optimizations/{optimization_id}/") == []
    assert stack.keys("ResultsBucket", f"partials/optimizations/{optimization_id}/") == []


def test_results_come_once_completed(stack, user_and_strategy, monkeypatch):
    workflow = batch_module(stack).optimizations()
    real, release = workflow.evaluate, threading.Event()

    def held(optimization_id: str, index: int) -> dict:
        assert release.wait(30)
        return real(optimization_id, index)

    monkeypatch.setattr(workflow, "evaluate", held)
    user, strategy = user_and_strategy
    created = create(stack, user, strategy["id"])[1]
    status, answer = stack.request("GET", f"/optimizations/{created['id']}/results", user.token)
    in_full = stack.request("GET", f"/optimizations/{created['id']}/results/1", user.token)
    release.set()
    assert status == 409
    assert answer["error"]["message"].endswith("results come once it completed")
    assert in_full == (409, answer)
    assert wait_for(stack, user, created["id"])["status"] == "completed"


# ---------------------------------------------------------------- refusals
def test_a_grid_above_max_combinations_is_refused_with_422(stack, user_and_strategy):
    user, strategy = user_and_strategy
    status, answer = create(stack, user, strategy["id"], max_combinations=17)
    assert status == 422
    assert answer["error"]["details"] == [
        {"field": "parameters", "message": "the grid has 18 combinations, more than max_combinations (17)"}
    ]


def test_an_unknown_parameter_or_objective_is_refused_with_422(stack, user_and_strategy):
    user, strategy = user_and_strategy
    status, answer = create(stack, user, strategy["id"], parameters={"fats": [5, 10]})
    assert status == 422
    assert answer["error"]["details"][0]["field"] == "parameters.fats"
    status, answer = create(stack, user, strategy["id"], objective="luck")
    assert status == 422 and answer["error"]["details"][0]["field"] == "objective"


def test_someone_elses_optimization_is_not_found(stack, user_and_strategy):
    user, strategy = user_and_strategy
    created = create(stack, user, strategy["id"], parameters={"fast": [5]})[1]
    stranger = stack.sign_up("Eve")
    assert stack.request("GET", f"/optimizations/{created['id']}", stranger.token)[0] == 404
    assert stack.request("GET", f"/optimizations/{created['id']}/results", stranger.token)[0] == 404
    assert wait_for(stack, user, created["id"])["status"] == "completed"
