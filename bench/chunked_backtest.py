"""Chunked backtests on the local stack vs a single pass (issue 7's benchmark).

    .venv/bin/python bench/chunked_backtest.py [--bars 1000000] [--chunks 1 2 4 8] [--repeats 3]
                                               [--strategy sma-cross|heavy]

1M synthetic 1-minute bars (seeded random walk) stored in the candle store of a local stack
(moto + the template's state machine run by moto's interpreter, every Lambda in-process); SMA(10)
crosses SMA(50), SL 2 % / TP 4 %, 0.1 % fees (or `heavy`: WMA(240)/CCI(120) entries on most
bars, a trailing stop: a second a single pass). Measured:

- the single pass in-process: `run_backtest` on the candles (engine only), and the candle read
  from the store (what a one-chunk run must also do);
- for each chunk count, a backtest created over REST with `metadata.chunks`: wall time from the
  POST to `completed` (what a user waits), and the chunks' compute time summed (from the
  partials) against the single pass's engine time: the work chunking adds. The chunks' reads and
  Stitch (which reads the whole range and runs the sequential part) are shown apart.

Every chunked result is checked against the single pass (trades, final balance, summary).
The machine's cores bound the local parallelism: the stack runs the compute function's chunks on
4 threads of one process (2 cores here), so wall-time speed-ups on AWS, one Lambda per chunk,
are larger than these.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.fanout.fake_aws import use_fake_aws  # noqa: E402

use_fake_aws()

import logging  # noqa: E402
import warnings  # noqa: E402

from shared.engine import BacktestSettings, run_backtest  # noqa: E402
from shared.strategy import validate_strategy  # noqa: E402
from tests.fanout.stack import START_MS, random_walk, start_stack  # noqa: E402
from tests.fanout.strategies import sma_cross  # noqa: E402

MINUTE_MS = 60_000
SYMBOL = "BENCHUSDT"
STRATEGIES = {
    # the benchmark: cheap indicators, sparse entries
    "sma-cross": sma_cross(stop_loss=2, take_profit=4),
    # where the parallel part has work: weighted windows, CCI, dense entries, a trailing stop
    "heavy": {
        "entry_rules": {
            "operator": "and",
            "conditions": [
                {
                    "indicator": "price",
                    "params": {},
                    "comparator": ">",
                    "value": {"indicator": "wma", "params": {"period": 240}},
                },
                {"indicator": "cci", "params": {"period": 120}, "comparator": "<", "value": 150},
            ],
        },
        "exit_rules": {
            "operator": "or",
            "conditions": [
                {
                    "indicator": "price",
                    "params": {},
                    "comparator": "crosses_below",
                    "value": {"indicator": "wma", "params": {"period": 60}},
                }
            ],
        },
        "config": {"trailing_stop": 1.5, "take_profit": 3},
    },
}


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def step_seconds(history: list[dict]) -> dict[str, float]:
    """Seconds each top-level state took, from the execution history's entered/exited events."""
    entered, took = {}, {}
    for event in history:
        if "stateEnteredEventDetails" in event:
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            if name in entered:
                took[name] = (event["timestamp"] - entered[name]).total_seconds()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--chunks", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--strategy", choices=sorted(STRATEGIES), default="sma-cross")
    args = parser.parse_args()
    definition = STRATEGIES[args.strategy]
    logging.disable(logging.INFO)  # the handlers log every step; the table is the output
    warnings.filterwarnings("ignore", "No application metrics to publish")

    candles = random_walk(42, args.bars, MINUTE_MS)
    end_ms = START_MS + args.bars * MINUTE_MS
    settings = BacktestSettings(initial_balance=10_000.0, commission=0.1, timeframe="1m")
    strategy = validate_strategy(definition)
    local, stack = start_stack()
    try:
        stack.import_candles(SYMBOL, "1m", candles)
        reads = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            stored = stack.candles(SYMBOL, "1m", START_MS, end_ms)
            reads.append(time.perf_counter() - started)
        engine = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            single = run_backtest(strategy, stored, settings)
            engine.append(time.perf_counter() - started)
        read_s, engine_s = statistics.median(reads), statistics.median(engine)
        print(
            f"{args.bars} 1m bars, {len(single.trades)} trades; single pass in-process: "
            f"engine {engine_s * 1000:.0f} ms, candle read {read_s * 1000:.0f} ms"
        )
        print()
        print(
            f"{'chunks':>6} {'wall s':>7} {'wall/single':>11} {'chunk compute s':>15} {'sum/engine':>10} "
            f"{'chunk reads s':>13} {'prepare s':>9} {'map s':>6} {'stitch s':>8} {'(stitch())':>10} {'persist s':>9}"
        )

        user = stack.sign_up("Bench")
        strategy_id = stack.create_strategy(user, definition)["id"]
        for count in args.chunks:
            walls, computes, reads_sum, stitches, steps = [], [], [], [], []
            for _ in range(args.repeats):
                started = time.perf_counter()
                created = stack.create_backtest(
                    user,
                    strategy_id,
                    symbol=SYMBOL,
                    timeframe="1m",
                    start_time=iso(START_MS),
                    end_time=iso(end_ms),
                    initial_balance=10_000,
                    metadata={"chunks": count, "commission": 0.1},
                )
                backtest = stack.wait_for_backtest(user, created["id"], timeout=600)
                walls.append(time.perf_counter() - started)
                assert backtest["status"] == "completed", backtest
                execution = stack.wait_for_execution(created["id"], timeout=600)  # Notify's events: not timed
                history = stack.client("stepfunctions").get_execution_history(
                    executionArn=execution["executionArn"], maxResults=1000
                )["events"]
                stitched = json.loads(execution["output"])["stitched"]
                computes.append(sum(stitched["chunk_seconds"]))
                stitches.append(stitched["stitch_seconds"])
                reads_sum.append(
                    sum(
                        json.loads(event["taskSucceededEventDetails"]["output"])["Payload"].get("read_seconds", 0.0)
                        for event in history
                        if event["type"] == "TaskSucceeded"
                    )
                )
                steps.append(step_seconds(history))
                record = stack.backtests().get(created["id"])
                assert record.performance_summary == single.performance_summary
                assert record.final_balance == single.final_balance
                assert stack.trade_store().page(created["id"], None, None, 0, 1)[1] == len(single.trades)
            wall, compute = statistics.median(walls), statistics.median(computes)
            step = {name: statistics.median(run[name] for run in steps) for name in steps[0]}
            print(
                f"{count:>6} {wall:>7.2f} {wall / (read_s + engine_s):>10.1f}x {compute:>15.3f} "
                f"{compute / engine_s:>9.2f}x {statistics.median(reads_sum):>13.3f} {step['Prepare']:>9.2f} "
                f"{step['ComputeChunks']:>6.2f} {step['Stitch']:>8.2f} {statistics.median(stitches):>10.3f} "
                f"{step['Persist']:>9.2f}"
            )
        print()
        print("wall/single: against the in-process single pass including its candle read. chunk compute: the")
        print("chunks' compute_chunk time summed (sum/engine: against run_backtest). stitch: the Stitch step")
        print("(reads the whole range, stitches, stores the result); (stitch()): the stitching itself. Every")
        print("chunked result equals the single pass (trades, final balance, summary).")
    finally:
        local.stop()


if __name__ == "__main__":
    main()
