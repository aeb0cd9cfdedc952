"""A backtest's equity series as charts need it: downsampled without losing what matters.

The engine produces one equity value per candle (1M values for two years of 1m bars); a chart
needs a few thousand. `downsample` keeps, per time bucket, the bar of the lowest and the bar of
the highest equity (the shape a line chart would draw), always the first and the last bar (so the
last point is the final balance), and the peak and trough bars of the maximum drawdown, so the
maximum drawdown computed from the served points equals the one the summary reports: a subset's
running peak can only be lower than the full series', and the peak bar is kept.

`benchmark` is buy-and-hold of the same initial balance: bought at the first bar's open (no fees,
as `buy_and_hold_return`), marked at each close.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.candles import Candles
from shared.engine.result import drawdown_records
from shared.metrics import calculate_drawdown
from shared.times import iso_utc_array


@dataclass(frozen=True, eq=False)
class EquitySeries:
    """Aligned columns, one row per candle: open time (epoch ms), equity at its close, buy-and-hold."""

    timestamps: NDArray[Any]  # int64 epoch ms
    equity: NDArray[Any]  # float64
    benchmark: NDArray[Any]  # float64

    def __len__(self) -> int:
        return len(self.timestamps)

    @classmethod
    def of(cls, equity: NDArray[Any], candles: Candles, initial_balance: float) -> EquitySeries:
        """A run's curve (one value per candle of `candles`) beside buy-and-hold of its balance."""
        if len(equity) != len(candles):
            raise ValueError(f"{len(equity)} equity values for {len(candles)} candles")
        return cls(
            np.asarray(candles.ts, dtype=np.int64),
            np.asarray(equity, dtype=np.float64),
            buy_and_hold(float(candles.open[0]), candles.close, initial_balance),
        )


@dataclass(frozen=True, eq=False)
class SeriesPoints:
    """The served rows of a series, with each row's drawdown from the FULL series' running peak."""

    timestamps: NDArray[Any]
    equity: NDArray[Any]
    benchmark: NDArray[Any]
    drawdown: NDArray[Any]
    drawdown_percentage: NDArray[Any]
    total_points: int

    def records(self) -> list[dict[str, Any]]:
        columns = {
            "timestamp": iso_utc_array(self.timestamps, always_ms=True),
            "equity": self.equity.tolist(),
            "drawdown": self.drawdown.tolist(),
            "drawdown_percentage": self.drawdown_percentage.tolist(),
            "benchmark": self.benchmark.tolist(),
        }
        return [dict(zip(columns, row)) for row in zip(*columns.values())]


def buy_and_hold(first_open: float, closes: NDArray[Any], initial_balance: float) -> NDArray[Any]:
    return initial_balance * np.asarray(closes, dtype=np.float64) / first_open


def drawdowns(equity: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """peak - equity and 100·(peak - equity)/peak per bar (0 where the peak is 0), as in `shared.metrics`."""
    peak = np.maximum.accumulate(equity)
    depth = peak - equity
    with np.errstate(divide="ignore", invalid="ignore"):
        percentage = np.where(peak > 0, 100.0 * depth / peak, 0.0)
    return depth, percentage


def downsample_indices(timestamps: NDArray[Any], equity: NDArray[Any], points: int) -> NDArray[Any]:
    """At most `points` row indices, ascending (every row when there are no more than that)."""
    n = len(equity)
    if n <= points:
        return np.arange(n)
    kept = [0, n - 1]
    _, percentage = drawdowns(equity)
    trough = int(np.argmax(percentage))
    if percentage[trough] > 0 and points >= 4:
        kept += [int(np.argmax(equity[: trough + 1])), trough]  # argmax: the first bar at the peak
    required = np.unique(kept)
    buckets = (points - len(required)) // 2
    if buckets < 1:
        return required
    return np.union1d(required, _bucket_extremes(np.asarray(timestamps, dtype=np.int64), equity, buckets))


def _bucket_extremes(timestamps: NDArray[Any], equity: NDArray[Any], buckets: int) -> NDArray[Any]:
    """The first bar of the lowest and of the highest equity in each of `buckets` equal time spans."""
    first, span = int(timestamps[0]), int(timestamps[-1]) - int(timestamps[0]) + 1
    bucket = (timestamps - first) * buckets // span
    starts = np.concatenate(([0], np.flatnonzero(np.diff(bucket)) + 1))
    counts = np.diff(np.append(starts, len(equity)))
    chosen = []
    for extreme in (np.minimum, np.maximum):
        at_extreme = np.flatnonzero(equity == np.repeat(extreme.reduceat(equity, starts), counts))
        # the first bar at the extreme in each bucket: the first such index at or after its start
        chosen.append(at_extreme[np.searchsorted(at_extreme, starts)])
    return np.concatenate(chosen)


def downsample(series: EquitySeries, points: int) -> SeriesPoints:
    rows = downsample_indices(series.timestamps, series.equity, points)
    depth, percentage = drawdowns(series.equity)
    return SeriesPoints(
        series.timestamps[rows],
        series.equity[rows],
        series.benchmark[rows],
        depth[rows],
        percentage[rows],
        total_points=len(series),
    )


def drawdown_periods(series: EquitySeries) -> list[dict[str, Any]]:
    """`calculate_drawdown`'s periods (start = peak bar, trough, recovery or None, depth, depth %),
    deepest first (by depth %, then earliest start)."""
    records = drawdown_records(calculate_drawdown(series.equity).drawdown_periods, series.timestamps)
    return sorted(records, key=lambda period: -period["depth_percentage"])
