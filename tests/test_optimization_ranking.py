"""Finish's ranking at scale (issue 17): each batch stores its results best first, Finish merges the
batches' rankings keeping the best K, so what it reads and holds does not grow with the sweep; the
ranking equals one sort of every result, and the heatmap streams every batch's results."""

from __future__ import annotations

import io
import random
import tracemalloc
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from adapters.optimization_store import FIRST_READ_BYTES, S3OptimizationStore
from shared.optimizations.heatmap import heatmap
from shared.optimizations.service import Optimization
from shared.optimizations.sweep import batches, rank, rank_key
from shared.optimizations.workflow import OptimizationWorkflow
from shared.statuses import COMPLETED, RUNNING
from tests.fakes.market_data import RecordingPublisher

BUCKET = "test-results"
BATCHES = 16  # as many as the Map runs at once: a sweep's batches grow in size, not number, up to ~24k
KEEP = 100
METRICS = [f"metric_{i:02d}" for i in range(40)]  # a summary's size (~1 KB a result, as the engine's)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class CountingS3:
    """A boto3 S3 client that counts the bytes its GETs return."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.bytes_read = 0

    def get_object(self, **request: Any) -> dict[str, Any]:
        answer = self._client.get_object(**request)
        body = answer["Body"].read()
        self.bytes_read += len(body)
        return answer | {"Body": io.BytesIO(body)}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@dataclass
class OneOptimization:
    """The repository Finish needs: one running optimization, completed once."""

    optimization: Optimization

    def get(self, optimization_id: str) -> Optimization | None:
        return self.optimization if optimization_id == self.optimization.id else None

    def complete(self, optimization_id: str, best: dict[str, Any] | None, now: datetime) -> Optimization:
        self.optimization = replace(self.optimization, status=COMPLETED, best=best, completed_at=now)
        return self.optimization


def optimization(objective: str, direction: str, min_trades: int) -> Optimization:
    return Optimization(
        id="opt-1",
        owner_id="u-1",
        strategy_id="s-1",
        strategy_name="sma",
        strategy={},
        symbol="BTCUSDT",
        timeframe="1h",
        start_time=NOW,
        end_time=NOW,
        initial_balance=10_000.0,
        metadata={},
        parameters={"fast": {}, "slow": {}},
        objective=objective,
        max_combinations=100_000,
        combination_count=0,
        method="grid",
        direction=direction,
        constraints=[],
        min_trades=min_trades,
        n_trials=None,
        batch_size=None,
        seed=None,
        walk_forward=None,
        status=RUNNING,
        progress=10,
        best=None,
        error=None,
        execution_arn=None,
        created_at=NOW,
        updated_at=NOW,
        started_at=NOW,
        completed_at=None,
    )


def synthetic_results(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` results in grid order over fast x slow, random metrics (some undefined, some with
    few trades, some ties), as a batch function writes them."""
    rng = random.Random(seed)
    results = []
    for index in range(count):
        summary: dict[str, Any] = {name: rng.uniform(-5, 5) for name in METRICS}
        summary["sharpe_ratio"] = None if rng.random() < 0.05 else round(rng.uniform(-3, 3), 2)  # ties too
        summary["total_trades"] = rng.randrange(0, 40)
        results.append(
            {
                "index": index,
                "params": {"fast": 2 + index % 100, "slow": 110 + 10 * (index // 100)},
                "final_balance": rng.uniform(5_000, 20_000),
                "performance_summary": summary,
            }
        )
    return results


def finish_a_sweep(
    aws: str, count: int, objective: str = "sharpe_ratio", direction: str = "max", min_trades: int = 10
) -> dict[str, Any]:
    """Store `count` synthetic results as BATCHES batches would, then run Finish on them, counting
    what it reads from S3 and the peak of what it allocates."""
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    results = synthetic_results(count, seed=count)
    store = S3OptimizationStore(client, BUCKET)
    subject = optimization(objective, direction, min_trades)
    stored = 0
    for index, batch in enumerate(batches(results, BATCHES)):
        ranked = sorted(batch, key=rank_key(objective, direction, min_trades))
        store.put_results(
            subject.id,
            index,
            {
                "batch": index,
                "window": 0,
                "combinations": len(batch),
                "indicator_computations": 2,
                "read_seconds": 0.1,
                "compute_seconds": 1.0,
            },
            ranked,
        )
    for key in store.finished_batches(subject.id):
        stored += client.head_object(Bucket=BUCKET, Key=f"optimizations/{subject.id}/results/{key:06d}.jsonl")[
            "ContentLength"
        ]
    store.put_plan(subject.id, {"batches": BATCHES, "windows": [[0, 1]]})
    counting = CountingS3(client)
    repository = OneOptimization(subject)
    workflow = OptimizationWorkflow(
        repository=repository,
        store=S3OptimizationStore(counting, BUCKET),  # type: ignore[arg-type]
        candles=None,
        publisher=RecordingPublisher(),  # type: ignore[arg-type]
        max_concurrency=BATCHES,
        ranked_results=KEEP,
        full_results=0,  # synthetic results: no strategy to run in full (tests/test_optimizations_stack.py does)
    )
    tracemalloc.start()
    answer = workflow.finish(subject.id)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "answer": answer,
        "results": results,
        "stored": stored,
        "read": counting.bytes_read,
        "peak": peak,
        "ranking": store.ranking(subject.id),
        "best": repository.optimization.best,
        "store": store,
    }


def test_finish_reads_and_holds_the_same_whatever_the_sweep_size_and_ranks_as_one_sort(aws):
    small = finish_a_sweep(aws, 2_000)
    large = finish_a_sweep(aws, 20_000)
    for run in (small, large):
        # The ranking is the best KEEP of one sort of every result (min_trades last, undefined after defined)
        assert run["ranking"] == rank(run["results"], "sharpe_ratio", "max", min_trades=10)[:KEEP]
        assert run["best"] == run["ranking"][0]
        assert run["answer"]["combinations"] == len(run["results"]) and run["answer"]["batches"] == BATCHES
    # Ten times the results: Finish reads about the same bytes (the cut, and a first read per batch),
    # a small part of what is stored, and its allocations peak at about the same
    assert large["stored"] > 9 * small["stored"]
    assert large["read"] < 1.25 * small["read"]
    assert large["read"] < 0.1 * large["stored"]
    assert large["read"] < 3 * len(str(large["ranking"])) + BATCHES * FIRST_READ_BYTES
    assert large["peak"] < 1.25 * small["peak"]


def test_a_minimised_objective_merges_in_its_direction(aws):
    run = finish_a_sweep(aws, 3_000, objective="metric_07", direction="min", min_trades=0)
    assert run["ranking"] == rank(run["results"], "metric_07", "min")[:KEEP]
    values = [result["objective_value"] for result in run["ranking"]]
    assert values == sorted(values) and values[0] == min(r["performance_summary"]["metric_07"] for r in run["results"])


def test_the_heatmap_streams_every_batch_result_not_only_the_ranking(aws):
    run = finish_a_sweep(aws, 3_000)
    answer = heatmap(run["store"].every_result("opt-1"), ["fast", "slow"], "fast", "slow", "metric_03", "max")
    # Then every cell is its combination's value (each (fast, slow) ran once), from all 3,000 results
    assert len(answer["x_values"]) == 100 and len(answer["y_values"]) == 30
    expected = {
        (r["params"]["fast"], r["params"]["slow"]): r["performance_summary"]["metric_03"] for r in run["results"]
    }
    for j, slow in enumerate(answer["y_values"]):
        for i, fast in enumerate(answer["x_values"]):
            assert answer["values"][j][i] == pytest.approx(expected[(fast, slow)], rel=1e-15)
