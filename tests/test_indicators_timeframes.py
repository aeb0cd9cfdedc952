"""Multi-timeframe conditions: an indicator on a coarser timeframe, read at each bar from the last
coarser candle closed by that bar's close (the look-ahead check is in test_indicators_lookahead)."""

from __future__ import annotations

import numpy as np
import pytest

from shared.candles import Candles
from shared.engine import BacktestSettings, run_backtest
from shared.indicators import IndicatorCache, series_ref
from shared.strategy import validate_strategy

HOUR = 3_600_000


def hourly(close: list[float], start_hour: int = 0) -> Candles:
    x = np.array(close, dtype=float)
    return Candles.from_arrays((start_hour + np.arange(len(x))) * HOUR, x, x + 1, x - 1, x, np.ones(len(x)))


def test_a_4h_sma_is_read_from_the_last_closed_4h_candle() -> None:
    # Given 12 hourly closes: the 4h candles close at hours 3, 7 and 11 with 103, 107 and 111
    candles = hourly([100.0 + i for i in range(12)])
    cache = IndicatorCache(candles, timeframe="1h")
    sma = cache.series(series_ref("sma", {"period": 2}, timeframe="4h"))
    close_4h = cache.series(series_ref("price", {}, timeframe="4h"))
    # Then the 4h close is known from the hour that completes each 4h candle on...
    np.testing.assert_array_equal(close_4h, [np.nan] * 3 + [103.0] * 4 + [107.0] * 4 + [111.0])
    # ...and SMA(2) of 4h closes from the second 4h candle's last hour, never mid-candle
    np.testing.assert_array_equal(sma, [np.nan] * 7 + [(103 + 107) / 2] * 4 + [(107 + 111) / 2])


def test_a_partial_first_bucket_counts_once_it_has_closed() -> None:
    # Given hourly data starting at 02:00: the first 4h candle holds hours 2 and 3 only
    candles = hourly([10.0, 11.0, 12.0, 13.0, 14.0, 15.0], start_hour=2)
    series = IndicatorCache(candles, timeframe="1h").series(series_ref("price", {"source": "high"}, timeframe="4h"))
    # Then its high (11 + 1) is used from 03:00's bar on, while the next 4h candle (04:00-07:00)
    # forms; that one's high (15 + 1) from 07:00's bar, whose close completes it
    np.testing.assert_array_equal(series, [np.nan, 12.0, 12.0, 12.0, 12.0, 16.0])


def test_offset_counts_coarser_bars() -> None:
    candles = hourly([100.0 + i for i in range(12)])
    previous = IndicatorCache(candles, timeframe="1h").series(series_ref("price", {}, offset=1, timeframe="4h"))
    np.testing.assert_array_equal(previous, [np.nan] * 7 + [103.0] * 4 + [107.0])


def test_a_backtest_runs_rules_on_a_coarser_timeframe() -> None:
    # Entry when the hourly close is above the last closed 4h close
    strategy = validate_strategy(
        {
            "entry_rules": {
                "conditions": [
                    {
                        "indicator": "price",
                        "params": {},
                        "comparator": ">",
                        "value": {"indicator": "price", "params": {"timeframe": "4h"}},
                    }
                ]
            },
            "config": {"stop_loss": 50},
        }
    )
    result = run_backtest(strategy, hourly([100.0, 99, 98, 97, 96, 97, 98, 99]), BacktestSettings(timeframe="1h"))
    # 4h close 97 known from bar 3; bar 5 closes at 97 (not above), bar 6 at 98: entry fills at bar 7
    assert result.trades.entry_bar.tolist() == [7]


@pytest.mark.parametrize(
    ("condition_timeframe", "problem"), [("30m", True), ("1h", False), ("4h", False), ("1w", False)]
)
def test_a_condition_timeframe_must_be_coarser_than_the_backtests(condition_timeframe: str, problem: bool) -> None:
    strategy = validate_strategy(
        {
            "entry_rules": {
                "conditions": [
                    {"indicator": "rsi", "params": {"timeframe": condition_timeframe}, "comparator": "<", "value": 30}
                ]
            }
        }
    )
    problems = strategy.timeframe_problems("1h")
    assert bool(problems) == problem
    if problem:
        assert "must be coarser than the backtest's 1h" in problems[0]
