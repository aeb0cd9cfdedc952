"""Equity series for charts: min/max-preserving downsampling, buy-and-hold, drawdown periods.

Expectations are hand-computed on small curves, and checked on random curves against a plain
loop over the buckets and against the metrics module's maximum drawdown."""

from __future__ import annotations

import numpy as np
import pytest

from shared.backtests.equity import EquitySeries, buy_and_hold, downsample, downsample_indices, drawdown_periods
from shared.candles import Candles
from shared.metrics import calculate_drawdown

HOUR = 3_600_000


def series(equity: list[float] | np.ndarray) -> EquitySeries:
    equity = np.asarray(equity, dtype=np.float64)
    ts = np.arange(len(equity), dtype=np.int64) * HOUR
    return EquitySeries(ts, equity, np.full(len(equity), 100.0))


def test_a_short_curve_is_served_whole():
    # Given 5 bars and room for 10 points, Then every bar is served.
    assert downsample_indices(np.arange(5), np.ones(5), 10).tolist() == [0, 1, 2, 3, 4]


def test_each_bucket_keeps_its_lowest_and_highest_bar_plus_first_last_and_the_drawdown():
    # Given 12 hourly bars and points=8: first, last, peak (bar 1, 120) and trough (bar 4, 60)
    # of the maximum drawdown (50 %), then (8 - 4) // 2 = 2 buckets of 6 hours: bars 0-5 and 6-11.
    equity = [100, 120, 110, 90, 60, 80, 100, 95, 130, 125, 70, 105]
    # bucket 0 (bars 0-5): min 60 at bar 4, max 120 at bar 1; bucket 1 (6-11): min 70 at 10, max 130 at 8
    assert downsample_indices(np.arange(12) * HOUR, np.asarray(equity, float), 8).tolist() == [0, 1, 4, 8, 10, 11]


def test_served_points_carry_the_full_curves_drawdown():
    # Given the same curve, When downsampled, Then each point's drawdown is from the FULL running peak:
    # bar 10 (70) is below the peak 130 (bar 8): 60 and 100·60/130 %.
    points = downsample(series([100, 120, 110, 90, 60, 80, 100, 95, 130, 125, 70, 105]), 8)
    assert points.equity.tolist() == [100, 120, 60, 130, 70, 105]
    assert points.drawdown.tolist() == [0, 0, 60, 0, 60, 25]
    assert points.drawdown_percentage.tolist() == pytest.approx([0, 0, 50, 0, 100 * 60 / 130, 100 * 25 / 130])
    assert (points.total_points, len(points.records())) == (12, 6)
    assert points.records()[0] == {
        "timestamp": "1970-01-01T00:00:00.000Z",
        "equity": 100.0,
        "drawdown": 0.0,
        "drawdown_percentage": 0.0,
        "benchmark": 100.0,
    }


def test_two_points_are_the_first_and_the_last_bar():
    assert downsample_indices(np.arange(6), np.asarray([5, 1, 9, 2, 8, 3.0]), 2).tolist() == [0, 5]


def test_the_drawdown_is_kept_even_where_a_bucket_would_hide_it():
    # Given one bucket (points=6 -> (6-4)//2 = 1) whose min (bar 1, 40) precedes the peak (bar 2)
    # and whose max (bar 4) follows the trough: min/max alone ([0, 1, 4, 6]) would serve a 42.9 %
    # maximum drawdown (70 -> 40) instead of 50 % (100 -> 50).
    equity = np.asarray([70, 40, 100, 50, 120, 110, 115.0])
    assert downsample_indices(np.arange(7), equity, 6).tolist() == [0, 1, 2, 3, 4, 6]


@pytest.mark.parametrize("seed", range(8))
def test_random_curves_keep_extremes_final_balance_and_maximum_drawdown(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(500, 5000))
    equity = 10_000 * np.cumprod(1 + rng.normal(0, 0.01, n))
    ts = np.cumsum(rng.integers(1, 4, n)) * HOUR  # gaps: buckets are by time, not by bar count
    points = int(rng.integers(2, 400))
    kept = downsample_indices(ts, equity, points)
    assert len(kept) <= points and kept[0] == 0 and kept[-1] == n - 1
    assert np.all(np.diff(kept) > 0)
    if points >= 4:
        served = equity[kept]
        peak = np.maximum.accumulate(served)
        assert np.max(100 * (peak - served) / peak) == calculate_drawdown(equity).max_drawdown_percentage
        buckets = (points - len({0, n - 1, *_drawdown_bars(equity)})) // 2
        for b in range(buckets):  # a plain loop over the time buckets
            lo = ts[0] + (ts[-1] - ts[0] + 1) * b / buckets
            hi = ts[0] + (ts[-1] - ts[0] + 1) * (b + 1) / buckets
            inside = np.flatnonzero((ts >= lo) & (ts < hi))
            if len(inside):
                assert inside[np.argmin(equity[inside])] in kept
                assert inside[np.argmax(equity[inside])] in kept


def _drawdown_bars(equity: np.ndarray) -> set[int]:
    best, peak_bar, worst, bars = -np.inf, 0, 0.0, set()
    for i, value in enumerate(equity):
        if value > best:
            best, peak_bar = value, i
        if (best - value) / best > worst:
            worst, bars = (best - value) / best, {peak_bar, i}
    return bars


def test_buy_and_hold_buys_at_the_first_open_and_marks_at_each_close():
    # 1000 bought at 50 -> 20 units; closes 55, 40 -> 1100, 800.
    assert buy_and_hold(50.0, np.asarray([55.0, 40.0]), 1000.0).tolist() == [1100.0, 800.0]
    candles = Candles.from_arrays(
        np.asarray([0, HOUR]), [50.0, 55.0], [56.0, 56.0], [49.0, 39.0], [55.0, 40.0], [1.0, 1.0]
    )
    assert EquitySeries.of(np.asarray([1000.0, 990.0]), candles, 1000.0).benchmark.tolist() == [1100.0, 800.0]
    with pytest.raises(ValueError):  # noqa: PT011 - numpy's own shape error
        EquitySeries.of(np.asarray([1000.0]), candles, 1000.0)


def test_drawdown_periods_come_deepest_first():
    # Peaks 100 (bar 0) -> 90 (bar 1) -> back at bar 2 (10 %); 110 (bar 3) -> 55 (bar 5), never back (50 %).
    periods = drawdown_periods(series([100, 90, 100, 110, 70, 55, 60]))
    assert periods == [
        {
            "start": "1970-01-01T03:00:00Z",
            "trough": "1970-01-01T05:00:00Z",
            "recovery": None,
            "depth": 55.0,
            "depth_percentage": 50.0,
        },
        {
            "start": "1970-01-01T00:00:00Z",
            "trough": "1970-01-01T01:00:00Z",
            "recovery": "1970-01-01T02:00:00Z",
            "depth": 10.0,
            "depth_percentage": 10.0,
        },
    ]
