"""Random and Bayesian search, constraints, dry runs and heatmaps end to end on the local stack
(issue 17): through the optimization state machine from template.yaml, whose Tell -> Map loop runs
a Bayesian search's rounds; every result equals the grid's (one single pass per combination)."""

from __future__ import annotations

import pytest

from adapters.optimization_store import S3OptimizationStore
from tests.fanout.stack import HOUR_MS, Stack
from tests.test_optimizations_stack import (  # noqa: F401 - the candles of its stack, its batches in-process
    END_MS,
    START_MS,
    batch_module,
    create,
    execution,
    in_process_functions,
    stack_candles,
    user_and_strategy,
    wait_for,
)

pytestmark = pytest.mark.stack


def ranking_of(stack: Stack, optimization_id: str) -> list[dict]:
    return S3OptimizationStore(stack.client("s3"), stack.bucket("ResultsBucket")).ranking(optimization_id)


def by_params(ranking: list[dict]) -> dict[tuple, dict]:
    return {tuple(sorted(result["params"].items())): result["performance_summary"] for result in ranking}


def test_random_search_is_reproducible_by_seed_and_equals_the_grid_on_its_combinations(stack, user_and_strategy):
    user, strategy = user_and_strategy
    grid = create(stack, user, strategy["id"])[1]
    runs = [create(stack, user, strategy["id"], method="random", n_trials=7, seed=seed)[1] for seed in (3, 3, 4)]
    assert all(run["combination_count"] == 7 and run["method"] == "random" for run in runs)
    assert wait_for(stack, user, grid["id"])["status"] == "completed"
    grid_results = by_params(ranking_of(stack, grid["id"]))
    samples = []
    for run in runs:
        assert wait_for(stack, user, run["id"])["status"] == "completed"
        sample = by_params(ranking_of(stack, run["id"]))
        assert len(sample) == 7 and all(grid_results[params] == summary for params, summary in sample.items())
        samples.append(set(sample))
    assert samples[0] == samples[1] and samples[0] != samples[2]


def test_bayesian_search_loops_rounds_through_the_state_machine(stack, user_and_strategy):
    user, strategy = user_and_strategy
    # When the whole 18-combination grid is given to a Bayesian search in rounds of 5 trials
    created = create(stack, user, strategy["id"], method="bayesian", n_trials=18, batch_size=5, seed=1)[1]
    assert created["combination_count"] == 18 and created["batch_size"] == 5
    grid = create(stack, user, strategy["id"])[1]
    optimization = wait_for(stack, user, created["id"], timeout=120)
    assert optimization["status"] == "completed", optimization
    # Then the state machine ran four rounds (5 + 5 + 5 + 3): the Map and Tell four times each
    run = execution(stack, created["id"])
    entered = [
        event["stateEnteredEventDetails"]["name"] for event in run["events"] if event["type"].endswith("StateEntered")
    ]
    assert entered.count("Tell") == 4 and entered.count("EvaluateBatches") == 4
    assert [event["type"] for event in run["events"]].count("MapRunStarted") == 4
    # And it tried every combination once, each the grid's (= its single pass), so its best is the grid's
    assert wait_for(stack, user, grid["id"])["status"] == "completed"
    ranking, grid_ranking = ranking_of(stack, created["id"]), ranking_of(stack, grid["id"])
    assert by_params(ranking) == by_params(grid_ranking)
    assert optimization["best"]["params"] == grid_ranking[0]["params"]
    assert stack.keys("ResultsBucket", f"partials/optimizations/{created['id']}/") == []


def test_constraints_min_trades_and_direction_shape_the_ranking(stack, user_and_strategy):
    user, strategy = user_and_strategy
    created = create(
        stack,
        user,
        strategy["id"],
        constraints=["slow - fast >= 25"],
        objective="exposure",
        direction="min",
        min_trades=3,
    )[1]
    # (5, 30..50), (10, 40..50), (15, 40..50) x 2 stop-losses
    assert created["combination_count"] == 14 and created["direction"] == "min"
    assert wait_for(stack, user, created["id"])["status"] == "completed"
    ranking = ranking_of(stack, created["id"])
    assert all(r["params"]["slow"] - r["params"]["fast"] >= 25 for r in ranking) and len(ranking) == 14
    enough = [r for r in ranking if r["performance_summary"]["total_trades"] >= 3]
    assert ranking[: len(enough)] == enough
    assert [r["objective_value"] for r in enough] == sorted(r["objective_value"] for r in enough)
    status, answer = create(stack, user, strategy["id"], constraints=["fast < slow", "import os"])
    assert status == 422 and answer["error"]["details"][0]["field"] == "constraints[1]"


def test_a_dry_run_estimates_and_runs_nothing(stack, user_and_strategy):
    user, strategy = user_and_strategy
    status, estimate = create(stack, user, strategy["id"], dry_run=True)
    assert status == 200, estimate
    assert estimate["dry_run"] is True and estimate["combination_count"] == 18 and estimate["rounds"] == 1
    assert estimate["bars"] == (END_MS - START_MS) // HOUR_MS and estimate["concurrency"] == 16
    assert estimate["batch_count"] == 1 and estimate["lambda_gb_seconds"] > 0 and estimate["estimated_cost_usd"] > 0
    bayesian = create(stack, user, strategy["id"], dry_run=True, method="bayesian", n_trials=18, batch_size=5)[1]
    assert bayesian["rounds"] == 4 and bayesian["eta_seconds"] > estimate["eta_seconds"]
    assert stack.request("GET", "/optimizations", user.token)[1]["data"] == []


def test_the_heatmap_answers_a_metric_over_two_parameters(stack, user_and_strategy):
    user, strategy = user_and_strategy
    created = create(stack, user, strategy["id"])[1]
    assert wait_for(stack, user, created["id"])["status"] == "completed"
    status, answer = stack.request(
        "GET", f"/optimizations/{created['id']}/heatmap?x=fast&y=slow&metric=sharpe_ratio", user.token
    )
    assert status == 200, answer
    assert answer["x_values"] == [5, 10, 15] and answer["y_values"] == [30, 40, 50]
    ranking = ranking_of(stack, created["id"])
    for j, slow in enumerate(answer["y_values"]):
        for i, fast in enumerate(answer["x_values"]):
            cell = [
                r["performance_summary"]["sharpe_ratio"]
                for r in ranking
                if r["params"]["fast"] == fast and r["params"]["slow"] == slow
            ]
            assert answer["values"][j][i] == pytest.approx(max(v for v in cell if v is not None), rel=1e-11)
    status, answer = stack.request("GET", f"/optimizations/{created['id']}/heatmap?x=fast&y=nope", user.token)
    assert status == 422 and answer["error"]["details"][0]["field"] == "y"


def test_a_batch_evaluated_again_is_skipped(stack, user_and_strategy, monkeypatch):
    workflow = batch_module(stack).optimizations()
    real, again = workflow.evaluate, []

    def twice(optimization_id: str, index: int) -> dict:
        first = real(optimization_id, index)
        again.append(real(optimization_id, index))  # as a retried task or a redriven execution would
        return first

    monkeypatch.setattr(workflow, "evaluate", twice)
    user, strategy = user_and_strategy
    created = create(stack, user, strategy["id"])[1]
    assert wait_for(stack, user, created["id"])["status"] == "completed"
    assert again == [{"batch": 0, "skipped": "already evaluated"}]
    assert len(ranking_of(stack, created["id"])) == 18


def test_a_batch_failing_transiently_is_retried_and_the_optimization_completes(stack, user_and_strategy, monkeypatch):
    from adapters.workflow import TransientError

    workflow = batch_module(stack).optimizations()
    real, calls = workflow.evaluate, []

    def flaky(optimization_id: str, index: int) -> dict:
        calls.append(index)
        if calls.count(index) == 1:  # the batch's first attempt: an S3 5xx, say
            raise TransientError("temporary S3 error: 503 Slow Down")
        return real(optimization_id, index)

    monkeypatch.setattr(workflow, "evaluate", flaky)
    user, strategy = user_and_strategy
    created = create(stack, user, strategy["id"])[1]
    assert wait_for(stack, user, created["id"])["status"] == "completed"
    # The Map's task retried the (one) batch after its TransientError; every combination ranked
    assert calls == [0, 0]
    assert len(ranking_of(stack, created["id"])) == 18
