"""Indicators equal TA-Lib, the reference C library (test-only), on random walks and on edge data.

Agreement: identical NaN positions, and values within 1e-9 relative. Outputs that are
differences of two nearly equal numbers (MACD near a crossing, a Bollinger band touching 0, a
stochastic at 0) carry rounding of the order of their operands, not of themselves, so they are
also allowed 1e-12 of the output's natural scale (the price level for price-unit outputs, 100
for 0-100 oscillators). vwap and donchian, which TA-Lib lacks, are checked against loops
written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import talib

from shared import indicators as ind


@dataclass(frozen=True)
class Ohlcv:
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @property
    def price_scale(self) -> float:
        return float(np.max(np.abs(self.high))) or 1.0


def random_walk(n: int = 1500, level: float = 100.0, seed: int = 7) -> Ohlcv:
    rng = np.random.default_rng(seed)
    close = level * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([close[0]], close[:-1])) * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    return Ohlcv(open_, high, low, close, rng.lognormal(5, 1.5, n))


def flat(n: int = 300, price: float = 100.0) -> Ohlcv:
    """Constant prices (exactly representable, so TA-Lib's sums are exact too)."""
    x = np.full(n, price)
    return Ohlcv(x, x, x, x, np.full(n, 10.0))


def zero_range_bars(n: int = 300, seed: int = 3) -> Ohlcv:
    """high == low == close on every bar: true range only from gaps, stochastic ranges often 0."""
    rng = np.random.default_rng(seed)
    x = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 2)
    return Ohlcv(x, x, x, x, np.zeros(n))


def plateaus(n: int = 300, seed: int = 4) -> Ohlcv:
    """Price flat for 25 bars at a time, then a jump: windows with no change, RSI without
    gains or losses, Wilder averages decaying towards 0."""
    rng = np.random.default_rng(seed)
    x = np.repeat(np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n // 25))), 2), 25)
    return Ohlcv(x, x + 0.5, x - 0.5, x, np.ones(n))


def through_zero(n: int = 120) -> Ohlcv:
    """A price at exactly 0 then rising: ROC after a zero price, RSI from a zero base."""
    x = np.concatenate((np.zeros(40), np.arange(1.0, n - 39.0)))
    return Ohlcv(x, x, x, x, np.ones(n))


DATASETS = {
    "walk-100": random_walk(level=100.0),
    "walk-btc": random_walk(level=50_000.0, seed=11),
    "walk-subcent": random_walk(level=1e-5, seed=12),
    "flat": flat(),
    "zero-range": zero_range_bars(),
    "plateaus": plateaus(),
    "through-zero": through_zero(),
    "too-short": random_walk(n=6, seed=13),
}


def assert_matches(actual: np.ndarray, expected: np.ndarray, scale: float) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg="NaN positions differ")
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12 * scale)


OSCILLATOR = 100.0  # natural scale of 0-100 (and CCI's +-100) outputs

# name -> (ours(data, **params), TA-Lib(data, **params) with the same outputs, params to try, scale)
CASES = {
    "sma": (
        lambda d, period: ind.sma(d.close, period),
        lambda d, period: talib.SMA(d.close, period),
        [{"period": p} for p in (2, 3, 10, 50)],
        "price",
    ),
    "ema": (
        lambda d, period: ind.ema(d.close, period),
        lambda d, period: talib.EMA(d.close, period),
        [{"period": p} for p in (2, 3, 10, 50)],
        "price",
    ),
    "wma": (
        lambda d, period: ind.wma(d.close, period),
        lambda d, period: talib.WMA(d.close, period),
        [{"period": p} for p in (2, 3, 10, 50)],
        "price",
    ),
    "rsi": (
        lambda d, period: ind.rsi(d.close, period),
        lambda d, period: talib.RSI(d.close, period),
        [{"period": p} for p in (2, 3, 14, 50)],
        "oscillator",
    ),
    "macd": (
        lambda d, fast, slow, signal: ind.macd(d.close, fast, slow, signal),
        lambda d, fast, slow, signal: talib.MACD(d.close, fast, slow, signal),
        [
            {"fast": 12, "slow": 26, "signal": 9},
            {"fast": 2, "slow": 3, "signal": 2},
            {"fast": 5, "slow": 20, "signal": 1},
        ],
        "price",
    ),
    "bbands": (
        lambda d, period, dev: ind.bbands(d.close, period, dev),
        lambda d, period, dev: talib.BBANDS(d.close, period, dev, dev),
        [{"period": 20, "dev": 2.0}, {"period": 2, "dev": 1.0}, {"period": 7, "dev": 2.5}],
        "price",
    ),
    "atr": (
        lambda d, period: ind.atr(d.high, d.low, d.close, period),
        lambda d, period: talib.ATR(d.high, d.low, d.close, period),
        [{"period": p} for p in (1, 2, 14, 30)],
        "price",
    ),
    "stoch": (
        lambda d, k, ks, dp: ind.stoch(d.high, d.low, d.close, k, ks, dp),
        lambda d, k, ks, dp: talib.STOCH(d.high, d.low, d.close, k, ks, 0, dp, 0),
        [{"k": 5, "ks": 3, "dp": 3}, {"k": 14, "ks": 1, "dp": 1}, {"k": 1, "ks": 4, "dp": 2}],
        "oscillator",
    ),
    "adx": (
        lambda d, period: ind.adx(d.high, d.low, d.close, period),
        lambda d, period: talib.ADX(d.high, d.low, d.close, period),
        [{"period": p} for p in (2, 3, 14, 30)],
        "oscillator",
    ),
    "cci": (
        lambda d, period: ind.cci(d.high, d.low, d.close, period),
        lambda d, period: talib.CCI(d.high, d.low, d.close, period),
        [{"period": p} for p in (2, 3, 14, 30)],
        "oscillator",
    ),
    "obv": (
        lambda d: ind.obv(d.close, d.volume),
        lambda d: talib.OBV(d.close, d.volume),
        [{}],
        "volume",
    ),
    "roc": (
        lambda d, period: ind.roc(d.close, period),
        lambda d, period: talib.ROC(d.close, period),
        [{"period": p} for p in (1, 10, 30)],
        "oscillator",
    ),
    "momentum": (
        lambda d, period: ind.momentum(d.close, period),
        lambda d, period: talib.MOM(d.close, period),
        [{"period": p} for p in (1, 10, 30)],
        "price",
    ),
    "williams_r": (
        lambda d, period: ind.williams_r(d.high, d.low, d.close, period),
        lambda d, period: talib.WILLR(d.high, d.low, d.close, period),
        [{"period": p} for p in (2, 14, 30)],
        "oscillator",
    ),
}


def _scale(kind: str, data: Ohlcv) -> float:
    if kind == "price":
        return data.price_scale
    if kind == "volume":
        return float(np.sum(data.volume)) or 1.0
    return OSCILLATOR


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", CASES)
def test_indicator_equals_talib(name: str, dataset: str) -> None:
    # Given candles and the same parameters
    ours, reference, param_sets, scale_kind = CASES[name]
    data = DATASETS[dataset]
    for params in param_sets:
        # When both compute the indicator
        actual, expected = ours(data, **params), reference(data, **params)
        # Then every output agrees
        if isinstance(expected, tuple):
            assert len(actual) == len(expected)
            for a, e in zip(actual, expected, strict=True):
                assert_matches(a, e, _scale(scale_kind, data))
        else:
            assert_matches(actual, expected, _scale(scale_kind, data))


def test_defaults_are_talibs() -> None:
    data = DATASETS["walk-100"]
    assert_matches(ind.sma(data.close), talib.SMA(data.close), data.price_scale)
    assert_matches(ind.ema(data.close), talib.EMA(data.close), data.price_scale)
    assert_matches(ind.wma(data.close), talib.WMA(data.close), data.price_scale)
    assert_matches(ind.rsi(data.close), talib.RSI(data.close), OSCILLATOR)
    for a, e in zip(ind.macd(data.close), talib.MACD(data.close), strict=True):
        assert_matches(a, e, data.price_scale)
    for a, e in zip(ind.bbands(data.close), talib.BBANDS(data.close), strict=True):
        assert_matches(a, e, data.price_scale)
    hlc = (data.high, data.low, data.close)
    assert_matches(ind.atr(*hlc), talib.ATR(*hlc), data.price_scale)
    for a, e in zip(ind.stoch(*hlc), talib.STOCH(*hlc), strict=True):
        assert_matches(a, e, OSCILLATOR)
    assert_matches(ind.adx(*hlc), talib.ADX(*hlc), OSCILLATOR)
    assert_matches(ind.cci(*hlc), talib.CCI(*hlc), OSCILLATOR)
    assert_matches(ind.roc(data.close), talib.ROC(data.close), OSCILLATOR)
    assert_matches(ind.momentum(data.close), talib.MOM(data.close), data.price_scale)
    assert_matches(ind.williams_r(*hlc), talib.WILLR(*hlc), OSCILLATOR)


def test_true_range_equals_talib() -> None:
    data = DATASETS["walk-btc"]
    assert_matches(ind.true_range(data.high, data.low, data.close), talib.TRANGE(data.high, data.low, data.close), 1.0)


# -- where TA-Lib's answer is rounding noise, ours is exact -----------------------------------


def test_ema_and_macd_of_a_flat_series_are_exactly_flat() -> None:
    # Given a constant price that binary floating point cannot represent exactly
    x = np.full(200, 0.1)
    # Then the EMA stays exactly on it and the MACD is exactly 0 (TA-Lib drifts by ~1e-17)
    assert np.all(ind.ema(x, 10)[9:] == 0.1)
    line, signal, histogram = ind.macd(x)
    assert np.all(line[33:] == 0) and np.all(signal[33:] == 0) and np.all(histogram[33:] == 0)


def test_cci_of_a_flat_window_is_zero() -> None:
    # Given a constant typical price of 0.1 (TA-Lib returns +-66.67 from rounding noise here)
    x = np.full(50, 0.1)
    # Then CCI is the documented 0 for a window without deviation
    assert np.all(ind.cci(x, x, x, 14)[13:] == 0)


# -- indicators TA-Lib lacks: checked against loops written here ------------------------------


def rolling_vwap_loop(price: np.ndarray, volume: np.ndarray, period: int) -> np.ndarray:
    out = np.full(len(price), np.nan)
    for t in range(period - 1, len(price)):
        window = slice(t - period + 1, t + 1)
        traded = sum(p * v for p, v in zip(price[window], volume[window], strict=True))
        total = sum(volume[window])
        out[t] = traded / total if total > 0 else np.nan
    return out


@pytest.mark.parametrize("period", [1, 2, 20, 64])
def test_vwap_is_the_volume_weighted_mean_of_the_window(period: int) -> None:
    data = random_walk(n=400, seed=21)
    typical = (data.high + data.low + data.close) / 3
    assert_matches(ind.vwap(typical, data.volume, period), rolling_vwap_loop(typical, data.volume, period), 1.0)


def test_vwap_is_undefined_where_the_window_traded_nothing() -> None:
    price = np.array([10.0, 11.0, 12.0, 13.0, 14.0])
    volume = np.array([1.0, 0.0, 0.0, 2.0, 0.0])
    # windows of 2: (1,0) -> 10, (0,0) -> undefined, (0,2) -> 13, (2,0) -> 13
    np.testing.assert_array_equal(ind.vwap(price, volume, 2), [np.nan, 10.0, np.nan, 13.0, 13.0])


@pytest.mark.parametrize("period", [1, 2, 5, 20, 33])
def test_donchian_is_the_highest_high_and_lowest_low_of_the_window(period: int) -> None:
    data = random_walk(n=300, seed=22)
    upper, middle, lower = ind.donchian(data.high, data.low, period)
    expected_upper = np.full(300, np.nan)
    expected_lower = np.full(300, np.nan)
    for t in range(period - 1, 300):
        expected_upper[t] = max(data.high[t - period + 1 : t + 1])
        expected_lower[t] = min(data.low[t - period + 1 : t + 1])
    np.testing.assert_array_equal(upper, expected_upper)
    np.testing.assert_array_equal(lower, expected_lower)
    np.testing.assert_array_equal(middle, (expected_upper + expected_lower) / 2)


def test_hand_computed_small_cases() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(ind.sma(x, 2), [np.nan, 1.5, 2.5, 3.5, 4.5])
    # EMA(3): seed (1+2+3)/3 = 2 at bar 2, then +0.5 * (x - prev): 3, 4
    np.testing.assert_array_equal(ind.ema(x, 3), [np.nan, np.nan, 2.0, 3.0, 4.0])
    # WMA(2) = (x[t-1] + 2 x[t]) / 3
    np.testing.assert_allclose(ind.wma(x, 2), [np.nan, 5 / 3, 8 / 3, 11 / 3, 14 / 3])
    np.testing.assert_array_equal(ind.momentum(x, 2), [np.nan, np.nan, 2.0, 2.0, 2.0])
    np.testing.assert_allclose(ind.roc(x, 1), [np.nan, 100.0, 50.0, 100 / 3, 25.0])
    # Only gains: RSI 100
    np.testing.assert_array_equal(ind.rsi(x, 2), [np.nan, np.nan, 100.0, 100.0, 100.0])
    np.testing.assert_array_equal(ind.obv(x, np.array([5.0, 1.0, 1.0, 1.0, 1.0])), [5.0, 6.0, 7.0, 8.0, 9.0])
