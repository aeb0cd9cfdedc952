"""An optimization of 100 combinations over a year of 1-minute bars on the local stack (issue 7).

    .venv/bin/python bench/optimization.py [--bars 525600] [--repeats 2]

525,600 synthetic 1-minute bars (one year) in the candle store of a local stack; an SMA cross
strategy swept over fast 5..50 (10 values) x slow 60/90/120/150/200 x stop-loss 1 %/2 %: 100
combinations, created over REST, run by the optimization state machine (distributed Map over the
batch list in S3, batches on the optimization batch function in-process). Measured: wall time
from the POST to `completed`; per combination that wall time / 100 and the batches' compute time
/ 100, against one single backtest of the same strategy (in-process `run_backtest`, which
computes its own indicators) and one backtest through the backtest state machine on the stack;
and how many indicator series the batches computed against the 200 a per-combination run needs.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.fanout.fake_aws import use_fake_aws  # noqa: E402

use_fake_aws()

from shared.engine import BacktestSettings, run_backtest  # noqa: E402
from shared.optimizations.sweep import batch_count, batches, evaluate_batch, parameter_grid  # noqa: E402
from shared.strategy import validate_strategy, with_parameters  # noqa: E402
from tests.fanout.stack import START_MS, random_walk, start_stack  # noqa: E402
from tests.fanout.strategies import sma_cross  # noqa: E402

MINUTE_MS = 60_000
MAP_MAX_CONCURRENCY = 16  # template.yaml's default, which the local stack uses
SYMBOL = "OPTBENCHUSDT"
STRATEGY = sma_cross("$fast", "$slow", stop_loss=2, take_profit=4, parameters={"fast": 10, "slow": 60})
GRID = {"fast": {"start": 5, "stop": 50, "step": 5}, "slow": [60, 90, 120, 150, 200], "config.stop_loss": [1, 2]}


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=525_600)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    warnings.filterwarnings("ignore", "No application metrics to publish")

    candles = random_walk(7, args.bars, MINUTE_MS)
    end_ms = START_MS + args.bars * MINUTE_MS
    settings = BacktestSettings(initial_balance=10_000.0, commission=0.1, timeframe="1m")
    one = validate_strategy(with_parameters(STRATEGY, {"fast": 10, "slow": 60}))
    local, stack = start_stack()
    try:
        stack.import_candles(SYMBOL, "1m", candles)
        stored = stack.candles(SYMBOL, "1m", START_MS, end_ms)
        engine = []
        for _ in range(5):
            started = time.perf_counter()
            run_backtest(one, stored, settings)
            engine.append(time.perf_counter() - started)
        engine_s = statistics.median(engine)
        # The same grid evaluated in-process, batch after batch as the state machine splits it: what
        # a combination costs without the stack's threads sharing two cores.
        grid = parameter_grid(STRATEGY, GRID, 100)
        started = time.perf_counter()
        in_process = [
            evaluate_batch(STRATEGY, batch, stored, settings)
            for batch in batches(grid, batch_count(len(grid), MAP_MAX_CONCURRENCY, args.bars))
        ]
        sequential_s = time.perf_counter() - started

        user = stack.sign_up("Bench")
        strategy_id = stack.create_strategy(user, STRATEGY)["id"]
        run = {
            "symbol": SYMBOL,
            "timeframe": "1m",
            "start_time": iso(START_MS),
            "end_time": iso(end_ms),
            "initial_balance": 10_000,
        }
        single_walls = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            created = stack.create_backtest(user, strategy_id, **run, metadata={"chunks": 1})
            assert stack.wait_for_backtest(user, created["id"], timeout=600)["status"] == "completed"
            single_walls.append(time.perf_counter() - started)
            stack.wait_for_execution(created["id"], timeout=600)
        single_wall = statistics.median(single_walls)

        walls, outputs = [], []
        sfn = stack.client("stepfunctions")
        machine = stack.template.arn("OptimizationStateMachine").replace(":stateMachine:", ":execution:")
        for _ in range(args.repeats):
            started = time.perf_counter()
            status, created = stack.request(
                "POST",
                "/optimizations",
                user.token,
                {
                    "strategy_id": strategy_id,
                    **run,
                    "parameters": GRID,
                    "objective": "sharpe_ratio",
                    "max_combinations": 100,
                },
            )
            assert status == 202, created
            while True:
                got = stack.request("GET", f"/optimizations/{created['id']}", user.token)[1]
                if got["status"] in ("completed", "failed"):
                    break
                time.sleep(0.05)
            walls.append(time.perf_counter() - started)
            assert got["status"] == "completed", got
            while (described := sfn.describe_execution(executionArn=f"{machine}:{created['id']}"))[
                "status"
            ] == "RUNNING":
                time.sleep(0.05)
            outputs.append(json.loads(described["output"])["finished"])
        wall = statistics.median(walls)
        finished = outputs[walls.index(sorted(walls)[len(walls) // 2])]
        combos = finished["combinations"]
        print(f"{args.bars} 1m bars; {combos} combinations in {finished['batches']} batches")
        print(
            f"one backtest: engine in-process {engine_s * 1000:.0f} ms; through the backtest state machine "
            f"{single_wall:.2f} s wall"
        )
        print(
            f"optimization wall {wall:.2f} s = {wall / combos * 1000:.0f} ms per combination "
            f"({wall / combos / engine_s:.2f}x the in-process backtest, {wall / combos / single_wall:.3f}x the "
            f"state-machine backtest)"
        )
        print(
            f"batches' compute {finished['compute_seconds']:.2f} s = {finished['compute_seconds'] / combos * 1000:.0f} ms "
            f"per combination ({finished['compute_seconds'] / combos / engine_s:.2f}x the in-process backtest); "
            f"candle reads {finished['read_seconds']:.2f} s over the batches"
        )
        print(
            f"the same batches in-process, one after another: {sequential_s:.2f} s = "
            f"{sequential_s / combos * 1000:.0f} ms per combination ({sequential_s / combos / engine_s:.2f}x the "
            f"in-process backtest; {sum(b.indicator_computations for b in in_process)} indicator series)"
        )
        print(
            f"indicator series computed: {finished['indicator_computations']} (one run per combination: {2 * combos})"
        )
    finally:
        local.stop()


if __name__ == "__main__":
    main()
