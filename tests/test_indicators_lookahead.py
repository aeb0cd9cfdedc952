"""No indicator looks ahead: for every indicator and output, the value at bar t computed on
candles [0, t] equals the value at t computed on the whole series (Freqtrade's
lookahead-analysis), on its own timeframe and on a coarser one (multi-timeframe conditions)."""

from __future__ import annotations

import numpy as np
import pytest

from shared.candles import Candles
from shared.indicators import REGISTRY, IndicatorCache, series_ref
from tests.test_indicators import required_params, walk

BARS = 300
TRUNCATIONS = (40, 97, 180, 251, BARS - 1)


DATA = walk(BARS, seed=17)


def assert_no_lookahead(ref, data: Candles, timeframe: str | None = None) -> None:
    full = IndicatorCache(data, timeframe=timeframe).series(ref)
    for t in TRUNCATIONS:
        prefix = IndicatorCache(data.slice(0, t + 1), timeframe=timeframe).series(ref)
        np.testing.assert_array_equal(prefix[t], full[t], err_msg=f"{ref.describe()} at bar {t}")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_no_indicator_output_looks_ahead(name: str) -> None:
    for output in REGISTRY[name].outputs:
        assert_no_lookahead(series_ref(name, required_params(name), output), DATA)


@pytest.mark.parametrize(
    "name", ["sma", "rsi", "macd", "ichimoku", "pivots", "fractals", "supertrend", "cdlengulfing", "mavp"]
)
def test_no_coarser_timeframe_value_looks_ahead(name: str) -> None:
    # Given hourly candles and the indicator on 4h candles resampled from them
    data = walk(BARS * 4, seed=5)
    for output in REGISTRY[name].outputs:
        assert_no_lookahead(series_ref(name, required_params(name), output, timeframe="4h"), data, timeframe="1h")


def test_a_series_parameter_on_a_coarser_timeframe_does_not_look_ahead() -> None:
    # Given mavp on hourly candles whose period per bar is the 4h RSI
    data = walk(BARS * 4, seed=5)
    periods = series_ref("rsi", {"timeperiod": 5}, timeframe="4h")
    assert_no_lookahead(series_ref("mavp", {"periods": periods}), data, timeframe="1h")
