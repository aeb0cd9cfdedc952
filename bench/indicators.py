"""Indicator cost on 1M bars per group, and the engine with 5 TA-Lib indicators vs a NumPy floor.

    .venv/bin/python bench/indicators.py [--bars 1000000] [--repeats 5]

1. Every indicator of the registry at its default parameters, through `IndicatorCache` (a fresh
   cache each time: the cost a backtest pays; mavp's `periods`, which has no default, is RSI(5),
   computed in its cost), on `--bars` synthetic 1-minute candles; per group
   the median and the slowest, as ratios to TA-Lib's SMA(30) on the same bars in the same run.
2. One strategy reading five TA-Lib indicators (sma, rsi, macd, bbands, adx), run by the engine
   from its JSON (`validate_strategy` + `run_backtest`: signals, fills, sizing, equity curve,
   metrics, excursions), against the floor: the same five TA-Lib calls made directly, the same
   conditions in NumPy and the same trades paired with `searchsorted` — the least any engine
   must do. Warm medians over `--repeats` interleaved rounds (target: engine <= 1.5x the floor);
   the trades are checked equal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import talib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.candles import Candles  # noqa: E402
from shared.engine import BacktestSettings, run_backtest  # noqa: E402
from shared.indicators import REGISTRY, IndicatorCache, series_ref  # noqa: E402
from shared.strategy import validate_strategy  # noqa: E402

TARGET_RATIO = 1.5
EXAMPLE_SERIES = {"periods": series_ref("rsi", {"timeperiod": 5})}  # series parameters have no default
STRATEGY = {
    "entry_rules": {
        "operator": "and",
        "conditions": [
            {
                "indicator": "macd",
                "params": {},
                "comparator": "crosses_above",
                "value": {"indicator": "macd", "params": {"output": "macdsignal"}},
            },
            {"indicator": "rsi", "params": {"timeperiod": 14}, "comparator": "<", "value": 70},
            {
                "indicator": "price",
                "params": {},
                "comparator": ">",
                "value": {"indicator": "sma", "params": {"timeperiod": 100}},
            },
        ],
    },
    "exit_rules": {
        "operator": "or",
        "conditions": [
            {
                "indicator": "price",
                "params": {},
                "comparator": ">",
                "value": {"indicator": "bbands", "params": {"output": "upperband"}},
            },
            {"indicator": "adx", "params": {}, "comparator": ">", "value": 45},
        ],
    },
}


def synthetic(n: int, seed: int = 1) -> Candles:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, n))
    return Candles.from_arrays(1_672_531_200_000 + np.arange(n) * 60_000, open_, high, low, close, rng.uniform(1, 9, n))


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def indicator_costs(candles: Candles) -> None:
    """Each indicator's best of two runs, over the reference timed just before it (the machine
    is shared: a reference measured once would drift from the load the indicator saw)."""
    per_group: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    references = []
    for name, spec in sorted(REGISTRY.items()):
        required = {param: EXAMPLE_SERIES[param] for param in spec.series_params}
        refs = [series_ref(name, required, output) for output in spec.outputs]

        def compute(refs=refs) -> None:
            cache = IndicatorCache(candles, timeframe="1m")
            for ref in refs:
                cache.series(ref)

        reference = min(timed(lambda: talib.SMA(candles.close, 30)) for _ in range(2))
        cost = min(timed(compute) for _ in range(2))
        references.append(reference)
        per_group[spec.group].append((cost / reference, cost, name))
    print(
        f"indicator cost on {len(candles):,} bars at default parameters, as multiples of talib.SMA(30) "
        f"(median {statistics.median(references) * 1000:.1f} ms)"
    )
    print(f"{'group':22} {'count':>5} {'median x':>9} {'median ms':>10}  slowest")
    for group, costs in sorted(per_group.items()):
        ratio = statistics.median(r for r, _, _ in costs)
        milliseconds = statistics.median(c for _, c, _ in costs)
        slowest_ratio, slowest, name = max(costs)
        print(
            f"{group:22} {len(costs):5d} {ratio:9.1f} {milliseconds * 1000:10.1f}  "
            f"{name} {slowest * 1000:.0f} ms ({slowest_ratio:.0f}x)"
        )


def floor(candles: Candles) -> tuple[np.ndarray, np.ndarray, float]:
    """(fill bars, exit bars, final balance all-in without fees) of the strategy with direct
    TA-Lib calls and array code."""
    c, h, lo, o = candles.close, candles.high, candles.low, candles.open
    n = len(c)
    line, signal, _ = talib.MACD(c)
    rsi, sma = talib.RSI(c, 14), talib.SMA(c, 100)
    upper, _, _ = talib.BBANDS(c, 20, 2.0, 2.0)
    adx = talib.ADX(h, lo, c)
    crossed = np.zeros(n, dtype=bool)
    crossed[1:] = (line[:-1] <= signal[:-1]) & (line[1:] > signal[1:])
    entry = crossed & (rsi < 70) & (c > sma)
    exit_ = (c > upper) | (adx > 45)
    entries, exits = np.flatnonzero(entry[:-1]) + 1, np.flatnonzero(exit_[:-1]) + 1
    fills, closes = [], []
    at = 0
    while True:  # the next entry after the last exit, then the first exit signal after its fill
        k = np.searchsorted(entries, at)
        if k == len(entries):
            break
        fill = int(entries[k])
        j = np.searchsorted(exits, fill, side="right")
        close = int(exits[j]) if j < len(exits) else n
        fills.append(fill)
        closes.append(close)
        at = close + 1 if close < n else n
        if close >= n:
            break
    fill_bars, exit_bars = np.array(fills, dtype=np.intp), np.array(closes, dtype=np.intp)
    exit_prices = np.where(exit_bars < n, o[np.minimum(exit_bars, n - 1)], c[-1])
    return fill_bars, exit_bars, 10_000.0 * float(np.prod(exit_prices / o[fill_bars]))


def engine_vs_floor(candles: Candles, repeats: int) -> None:
    strategy = validate_strategy(STRATEGY)
    settings = BacktestSettings(timeframe="1m", commission=0.0)  # the floor pays no fees
    result = run_backtest(strategy, candles, settings)
    fills, closes, final = floor(candles)
    exit_bars = np.where(result.trades.exit_bar < 0, len(candles), result.trades.exit_bar)
    assert np.array_equal(result.trades.entry_bar, fills) and np.array_equal(exit_bars, closes), "trades differ"
    assert abs(result.final_balance / final - 1) < 1e-9, (result.final_balance, final)
    engine_times, floor_times = [], []
    for _ in range(repeats):
        engine_times.append(timed(lambda: run_backtest(validate_strategy(STRATEGY), candles, settings)))
        floor_times.append(timed(lambda: floor(candles)))
    engine, reference = statistics.median(engine_times), statistics.median(floor_times)
    verdict = "ok" if engine / reference <= TARGET_RATIO else "OVER"
    print(
        f"\nengine with 5 TA-Lib indicators on {len(candles):,} bars, {len(result.trades)} trades (warm medians of {repeats})"
    )
    print(f"  NumPy floor (TA-Lib direct) {reference * 1000:8.1f} ms")
    print(
        f"  engine                      {engine * 1000:8.1f} ms   {engine / reference:.2f}x  (target <= {TARGET_RATIO}x: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    candles = synthetic(args.bars)
    indicator_costs(candles)
    engine_vs_floor(candles, args.repeats)


if __name__ == "__main__":
    main()
