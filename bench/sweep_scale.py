"""Sweep time against the number of combinations, on the local stack, against a NumPy floor (issue 17).

    .venv/bin/python bench/sweep_scale.py [--sizes 100 1000 10000] [--in-process-only]

Two years of synthetic 1h candles (17,520 bars); an SMA cross (fast 2..101 x slow 110..1100, no
stops) swept over the first N combinations of that grid: created over REST, run by the
optimization state machine from template.yaml (distributed Map over batches in S3) on moto.
Reported per size, in the same run:
- wall: POST to `completed`; per combination; and its ratio to
- the floor: a single process computing the same combinations with NumPy alone (each distinct SMA
  once by cumsum, per combination the position (fast > slow, filled at the next open), the equity
  curve from open-to-open returns less commission on each switch, final balance, max drawdown and
  Sharpe): what any engine must at least do;
- where the time goes: the POST (it validates every combination), then the state machine's
  steps from its execution history (Prepare, the distributed Map over the batches, Finish with
  its ranking and the best 10 run in full), the batches' compute and candle-read seconds summed
  (from the execution's output; the batch Lambdas run as processes of their own, 4 environments
  on this machine's cores, and a warm environment keeps its candle read), and in-process on a
  sample of 300 combinations the split between building the strategy variant (with_parameters +
  validate_strategy), signals, simulation and metrics, and what the same combinations cost run
  one after another in one process (the engine alone, against the floor);
- a model of AWS wall time and cost at MapMaxConcurrency 100 and 1,000 for 10k and 100k
  combinations from the measured per-combination and per-batch times
  (shared/optimizations/estimate.py's cost model with these measured constants).

`--in-process-only` skips the stack: per size, `evaluate_batch` (one batch's work) on the same
combinations as the floor, one after another in this process, and its ratio to the floor; and
the time `sweep_combinations` takes to lay out and check a random sweep of each size (what POST
/optimizations and the Prepare step run).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import numpy as np  # noqa: E402

from shared.engine import BacktestSettings, simulate  # noqa: E402
from shared.indicators import IndicatorCache  # noqa: E402
from shared.metrics import performance_summary  # noqa: E402
from shared.optimizations import estimate  # noqa: E402
from shared.optimizations.sweep import batch_count, evaluate_batch, parameter_grid, sweep_combinations  # noqa: E402
from shared.strategy import validate_strategy, with_parameters  # noqa: E402
from tests.fanout.stack import HOUR_MS, START_MS, random_walk, start_stack  # noqa: E402
from tests.fanout.strategies import sma_cross  # noqa: E402

BARS = 17_520
SYMBOL = "SWEEPUSDT"
COMMISSION = 0.1
STRATEGY = sma_cross("$fast", "$slow", parameters={"fast": 10, "slow": 200})
GRID = {"fast": {"start": 2, "stop": 101, "step": 1}, "slow": {"start": 110, "stop": 1100, "step": 10}}


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def numpy_floor(candles, combos) -> float:
    """Seconds for the floor over `combos` (see the module docstring)."""
    started = time.perf_counter()
    close, opens = candles.close.astype(np.float64), candles.open.astype(np.float64)
    sums = np.concatenate([[0.0], np.cumsum(close)])
    periods = {p for c in combos for p in (c.params["fast"], c.params["slow"])}
    sma = {p: np.concatenate([np.full(p - 1, np.nan), (sums[p:] - sums[:-p]) / p]) for p in periods}
    returns = np.concatenate([[0.0], opens[1:] / opens[:-1] - 1.0])
    fee = COMMISSION / 100.0
    for combo in combos:
        above = sma[combo.params["fast"]] > sma[combo.params["slow"]]
        position = np.concatenate([[0.0, 0.0], above[:-2]]).astype(np.float64)  # decided at close, filled next open
        switches = np.abs(np.diff(position, prepend=0.0))
        equity = 10_000.0 * np.cumprod(1.0 + position * returns - fee * switches)
        peak = np.maximum.accumulate(equity)
        _ = equity[-1], ((peak - equity) / peak).max(), np.diff(equity).mean() / (np.diff(equity).std() or 1.0)
    return time.perf_counter() - started


def in_process_split(candles, combos, settings) -> dict[str, float]:
    """Seconds per combination of each part of `evaluate_batch`, on `combos` sharing one cache."""
    cache, parts = IndicatorCache(candles), {"variant": 0.0, "signals": 0.0, "simulate": 0.0, "metrics": 0.0}
    for combo in combos:
        t0 = time.perf_counter()
        variant = validate_strategy(with_parameters(STRATEGY, combo.params))
        t1 = time.perf_counter()
        signals = variant.signals(candles, cache)
        t2 = time.perf_counter()
        result = simulate(candles, signals, variant.config, settings, excursions=False)  # as evaluate_batch
        t3 = time.perf_counter()
        performance_summary(result.trades, result.equity_curve, candles, initial_balance=10_000.0, timeframe="1h")
        t4 = time.perf_counter()
        parts["variant"] += t1 - t0
        parts["signals"] += t2 - t1
        parts["simulate"] += t3 - t2  # includes the summary once (simulate computes it)
        parts["metrics"] += t4 - t3
    return {name: seconds / len(combos) for name, seconds in parts.items()}


def run_on_stack(stack, user, strategy_id: str, size: int) -> tuple[float, dict, dict[str, float]]:
    body = {
        "strategy_id": strategy_id,
        "symbol": SYMBOL,
        "timeframe": "1h",
        "start_time": iso(START_MS),
        "end_time": iso(START_MS + BARS * HOUR_MS),
        "initial_balance": 10_000,
        "parameters": GRID,
        "method": "random",
        "n_trials": size,
        "seed": 1,
        "objective": "sharpe_ratio",
        "max_combinations": size,
    }
    started = time.perf_counter()
    status, created = stack.request("POST", "/optimizations", user.token, body)
    assert status == 202, created
    phases = {"POST": time.perf_counter() - started}
    while True:  # polled 4 times a second (the API's general limit is 120 a minute: a 429 waits its window)
        polled, got = stack.request("GET", f"/optimizations/{created['id']}", user.token)
        if polled == 200 and got["status"] in ("completed", "failed"):
            break
        time.sleep(0.25 if polled == 200 else 1.0)
    wall = time.perf_counter() - started
    assert got["status"] == "completed", got
    sfn = stack.client("stepfunctions")
    arn = stack.template.arn("OptimizationStateMachine").replace(":stateMachine:", ":execution:") + f":{created['id']}"
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        time.sleep(0.1)
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return wall, json.loads(described["output"])["finished"], phases | step_seconds(history)


def step_seconds(history: list[dict]) -> dict[str, float]:
    """Seconds from each named state's entry to its exit, from an execution's history."""
    entered, seconds = {}, {}
    for event in history:
        if details := event.get("stateEnteredEventDetails"):
            entered[details["name"]] = event["timestamp"]
        elif (details := event.get("stateExitedEventDetails")) and details["name"] in entered:
            spent = (event["timestamp"] - entered[details["name"]]).total_seconds()
            seconds[details["name"]] = seconds.get(details["name"], 0.0) + spent
    return {name: seconds[name] for name in ("Prepare", "EvaluateBatches", "Finish") if name in seconds}


def aws_model(per_combination: float, read_per_batch: float, combinations: int, concurrency: int) -> str:
    batches = batch_count(combinations, concurrency, BARS)
    per_batch = estimate.FIXED_BATCH_SECONDS + read_per_batch + math.ceil(combinations / batches) * per_combination
    wall = math.ceil(batches / concurrency) * per_batch
    gb_seconds = batches * per_batch * 3008 / 1024
    cost = (
        gb_seconds * estimate.LAMBDA_GB_SECOND_USD
        + batches * estimate.LAMBDA_REQUEST_USD
        + batches * estimate.TRANSITIONS_PER_BATCH * estimate.STATE_TRANSITION_USD
    )
    return (
        f"{combinations:>7} combos @ MapMaxConcurrency {concurrency:>4}: {batches:>4} batches, "
        f"~{wall:6.1f} s wall, {gb_seconds:8.0f} GB-s, ~${cost:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--in-process-only", action="store_true", help="skip the stack (see the module docstring)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    warnings.filterwarnings("ignore", "No application metrics to publish")

    candles = random_walk(11, BARS, HOUR_MS)
    settings = BacktestSettings(initial_balance=10_000.0, commission=COMMISSION, timeframe="1h")
    grid = parameter_grid(STRATEGY, GRID, 10_000)
    split = in_process_split(candles, grid[:: len(grid) // 300][:300], settings)
    if args.in_process_only:
        in_process_only(candles, settings, grid, split, args.sizes)
        return
    local, stack = start_stack()
    # The batch functions' environments are processes started with the environment of their first
    # invocation: their per-invocation INFO logs would drown the figures.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    try:
        stack.import_candles(SYMBOL, "1h", candles)
        user = stack.sign_up("Bench")
        strategy_id = stack.create_strategy(user, STRATEGY)["id"]
        print(f"{BARS} 1h bars; SMA cross; local stack (moto), MapMaxConcurrency 16")
        print("in-process per combination: " + ", ".join(f"{k} {v * 1000:.2f} ms" for k, v in split.items()))
        measured = {}
        in_process = split["variant"] + split["signals"] + split["simulate"]  # what evaluate_batch runs
        for size in args.sizes:
            sample = random_combinations_like(grid, size)
            floor = statistics.median(numpy_floor(candles, sample) for _ in range(3))
            wall, finished, phases = run_on_stack(stack, user, strategy_id, size)
            measured[size] = finished
            print(
                f"{size:>6} combos: wall {wall:7.2f} s ({wall / size * 1000:6.2f} ms/combo) vs NumPy floor "
                f"{floor:6.2f} s ({floor / size * 1000:5.3f} ms/combo) = {wall / floor:5.1f}x; "
                f"{finished['batches']} batches, compute {finished['compute_seconds']:.1f} s and reads "
                f"{finished['read_seconds']:.2f} s summed over batches running at once; one process in a row: "
                f"{size * in_process:.1f} s = {size * in_process / floor:.1f}x the floor\n"
                "         steps: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items())
            )
        # One Lambda batch runs alone on its vCPUs: the in-process cost per combination, and the candle
        # read of the smallest run (one batch, no other batch reading at the same time).
        per_combination = in_process
        smallest = measured[min(measured)]
        read_per_batch = smallest["read_seconds"] / smallest["batches"]
        print(
            f"AWS model ({per_combination * 1000:.2f} ms/combo in-process, {read_per_batch * 1000:.0f} ms candle "
            f"read per batch; 3008 MB batches; {estimate.FIXED_BATCH_SECONDS} s per batch invocation):"
        )
        for combinations in (10_000, 100_000):
            for concurrency in (100, 1_000):
                print("  " + aws_model(per_combination, read_per_batch, combinations, concurrency))
    finally:
        local.stop()


def in_process_only(candles, settings, grid, split: dict[str, float], sizes: list[int]) -> None:
    print(f"{BARS} 1h bars; SMA cross; in this process only (no stack)")
    print("in-process per combination: " + ", ".join(f"{k} {v * 1000:.3f} ms" for k, v in split.items()))
    for size in sizes:
        sample = random_combinations_like(grid, size)
        floor = statistics.median(numpy_floor(candles, sample) for _ in range(3))
        started = time.perf_counter()
        evaluate_batch(STRATEGY, sample, candles, settings)
        engine = time.perf_counter() - started
        started = time.perf_counter()
        laid_out = sweep_combinations(STRATEGY, "random", GRID, [], size, size, 1)
        prepare = time.perf_counter() - started
        assert laid_out is not None and len(laid_out) == size
        print(
            f"{size:>6} combos: evaluate_batch {engine:7.2f} s ({engine / size * 1000:5.3f} ms/combo) vs NumPy floor "
            f"{floor:6.2f} s ({floor / size * 1000:5.3f} ms/combo) = {engine / floor:4.2f}x; "
            f"sweep_combinations (random, checked) {prepare:6.3f} s"
        )


def random_combinations_like(grid, size: int):
    """The floor's combinations: as many as the stack's random sample, spread over the same grid."""
    step = max(1, len(grid) // size)
    return grid[::step][:size]


if __name__ == "__main__":
    main()
