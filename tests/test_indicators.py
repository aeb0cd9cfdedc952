"""The seeds' indicators (those TA-Lib lacks, and the TA-Lib ones that stand in for them), each
against an independent calculation written here as a plain loop over the definition the README
gives: agreement within 1e-9 relative and identical NaN positions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib

from shared.candles import Candles
from shared.indicators import REGISTRY, IndicatorCache, series_ref
from shared.indicators.functions import vwap

N = 400


def walk(n: int = N, seed: int = 7, spacing_ms: int = 3_600_000) -> Candles:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([close[0]], close[:-1])) * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    return Candles.from_arrays(np.arange(n) * spacing_ms, open_, high, low, close, rng.lognormal(5, 1, n))


DATA = walk()


# A series parameter (mavp's `periods`) has no default: registry-wide tests give this one (its
# values, 20 to 80, vary the period inside mavp's default range and past its maximum).
EXAMPLE_SERIES = {"periods": series_ref("rsi", {"timeperiod": 5})}


def required_params(name: str) -> dict:
    """The parameters an indicator cannot default (none but a series parameter's)."""
    return {param: EXAMPLE_SERIES[param] for param in REGISTRY[name].series_params}


def computed(name: str, output: str | None = None, data: Candles = DATA, **params) -> np.ndarray:
    return IndicatorCache(data).series(series_ref(name, params, output))


def assert_matches(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg="NaN positions differ")
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12)


# -- the definitions, one loop each --------------------------------------------------------------


def nans(n: int = N) -> np.ndarray:
    return np.full(n, np.nan)


def sma_loop(x: np.ndarray, period: int) -> np.ndarray:
    out = nans(len(x))
    for t in range(len(x)):
        window = x[t - period + 1 : t + 1] if t >= period - 1 else []
        if len(window) == period and not np.isnan(window).any():
            out[t] = sum(window) / period
    return out


def wma_loop(x: np.ndarray, period: int) -> np.ndarray:
    out = nans(len(x))
    weights = np.arange(1, period + 1)
    for t in range(period - 1, len(x)):
        window = x[t - period + 1 : t + 1]
        if not np.isnan(window).any():
            out[t] = sum(w * v for w, v in zip(weights, window)) / weights.sum()
    return out


def smoothing_loop(x: np.ndarray, period: int, alpha: float) -> np.ndarray:
    """Seeded with the mean of the first `period` defined values, then y += alpha * (x - y)."""
    out = nans(len(x))
    first = int(np.flatnonzero(~np.isnan(x))[0])
    if first + period > len(x):
        return out
    y = sum(x[first : first + period]) / period
    out[first + period - 1] = y
    for t in range(first + period, len(x)):
        y += alpha * (x[t] - y)
        out[t] = y
    return out


def ema_loop(x: np.ndarray, period: int) -> np.ndarray:
    return smoothing_loop(x, period, 2 / (period + 1))


def wilder_loop(x: np.ndarray, period: int) -> np.ndarray:
    return smoothing_loop(x, period, 1 / period)


def true_range_loop(c: Candles) -> np.ndarray:
    out = nans(len(c))
    for t in range(1, len(c)):
        out[t] = max(c.high[t] - c.low[t], abs(c.high[t] - c.close[t - 1]), abs(c.low[t] - c.close[t - 1]))
    return out


def atr_loop(c: Candles, period: int) -> np.ndarray:
    return wilder_loop(true_range_loop(c), period)


def highest(x: np.ndarray, period: int) -> np.ndarray:
    return np.array([max(x[t - period + 1 : t + 1]) if t >= period - 1 else np.nan for t in range(len(x))])


def lowest(x: np.ndarray, period: int) -> np.ndarray:
    return np.array([min(x[t - period + 1 : t + 1]) if t >= period - 1 else np.nan for t in range(len(x))])


def diff(x: np.ndarray) -> np.ndarray:
    return np.concatenate(([np.nan], x[1:] - x[:-1]))


def rsi_loop(x: np.ndarray, period: int) -> np.ndarray:
    change = diff(x)
    gains = wilder_loop(np.where(np.isnan(change), np.nan, np.maximum(change, 0)), period)
    losses = wilder_loop(np.where(np.isnan(change), np.nan, np.maximum(-change, 0)), period)
    return 100 * gains / (gains + losses)


# -- moving averages ------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [9, 20])
def test_hma_is_the_wma_of_twice_the_half_wma_minus_the_full_wma(period: int) -> None:
    # Alan Hull: WMA(sqrt(n)) of 2 * WMA(n / 2) - WMA(n)
    inner = 2 * wma_loop(DATA.close, period // 2) - wma_loop(DATA.close, period)
    assert_matches(computed("hma", timeperiod=period), wma_loop(inner, int(math.sqrt(period))))


def test_vwma_is_the_volume_weighted_mean_of_the_window() -> None:
    expected = sma_loop(DATA.close * DATA.volume, 30) / sma_loop(DATA.volume, 30)
    assert_matches(computed("vwma"), expected)


def test_volume_sma_is_the_mean_volume_of_the_window() -> None:
    assert_matches(computed("volume_sma", period=20), sma_loop(DATA.volume, 20))


@pytest.mark.parametrize("period", [1, 2, 20, 64])
def test_vwap_is_the_volume_weighted_mean_of_the_window(period: int) -> None:
    typical = (DATA.high + DATA.low + DATA.close) / 3
    expected = nans()
    for t in range(period - 1, N):
        window = slice(t - period + 1, t + 1)
        expected[t] = sum(typical[window] * DATA.volume[window]) / sum(DATA.volume[window])
    assert_matches(computed("vwap", period=period), expected)


def test_vwap_is_undefined_where_the_window_traded_nothing() -> None:
    price = np.array([10.0, 11.0, 12.0, 13.0, 14.0])
    volume = np.array([1.0, 0.0, 0.0, 2.0, 0.0])
    # windows of 2: (1,0) -> 10, (0,0) -> undefined, (0,2) -> 13, (2,0) -> 13
    np.testing.assert_array_equal(vwap(price, volume, 2), [np.nan, 10.0, np.nan, 13.0, 13.0])


# -- channels and trend -----------------------------------------------------------------------------


@pytest.mark.parametrize("period", [2, 5, 20])
def test_donchian_is_the_highest_high_and_lowest_low_of_the_window(period: int) -> None:
    upper, lower = highest(DATA.high, period), lowest(DATA.low, period)
    assert_matches(computed("donchian", "upper", period=period), upper)
    assert_matches(computed("donchian", "lower", period=period), lower)
    assert_matches(computed("donchian", "middle", period=period), (upper + lower) / 2)


def test_keltner_is_the_ema_plus_or_minus_a_multiple_of_the_atr() -> None:
    middle = ema_loop(DATA.close, 20)
    width = 2.0 * atr_loop(DATA, 10)
    assert_matches(computed("keltner", "middle"), middle)
    assert_matches(computed("keltner", "upper"), middle + width)
    assert_matches(computed("keltner", "lower", multiplier=1.5, atr_period=5), middle - 1.5 * atr_loop(DATA, 5))


def supertrend_loop(c: Candles, period: int, multiplier: float) -> tuple[np.ndarray, np.ndarray]:
    """Bands hl2 +/- multiplier * ATR; the upper band only falls (and the lower only rises)
    unless the previous close broke it; the trend flips when the close crosses the band it
    rides; the line is the lower band in an up trend, the upper in a down trend."""
    atr = atr_loop(c, period)
    line, trend = nans(len(c)), nans(len(c))
    upper = lower = None
    direction = 1
    for t in range(len(c)):
        if np.isnan(atr[t]):
            continue
        mid = (c.high[t] + c.low[t]) / 2
        basic_upper, basic_lower = mid + multiplier * atr[t], mid - multiplier * atr[t]
        if upper is None:
            upper, lower = basic_upper, basic_lower
        else:
            upper = basic_upper if basic_upper < upper or c.close[t - 1] > upper else upper
            lower = basic_lower if basic_lower > lower or c.close[t - 1] < lower else lower
            if direction == 1 and c.close[t] < lower:
                direction = -1
            elif direction == -1 and c.close[t] > upper:
                direction = 1
        line[t] = lower if direction == 1 else upper
        trend[t] = direction
    return line, trend


def test_supertrend_rides_the_atr_band_on_the_trend_side() -> None:
    line, trend = supertrend_loop(DATA, 10, 3.0)
    assert_matches(computed("supertrend", "supertrend"), line)
    assert_matches(computed("supertrend", "trend"), trend)


def test_ichimoku_lines_and_the_cloud_shifted_forward() -> None:
    tenkan = (highest(DATA.high, 9) + lowest(DATA.low, 9)) / 2
    kijun = (highest(DATA.high, 26) + lowest(DATA.low, 26)) / 2
    span_b = (highest(DATA.high, 52) + lowest(DATA.low, 52)) / 2
    expected = {"tenkan": tenkan, "kijun": kijun, "senkou_a": nans(), "senkou_b": nans()}
    for t in range(26, N):  # the cloud at t is the one computed 26 bars earlier
        expected["senkou_a"][t] = (tenkan[t - 26] + kijun[t - 26]) / 2
        expected["senkou_b"][t] = span_b[t - 26]
    warmup = 51 + 26  # every output starts with the last one (senkou B)
    for output, values in expected.items():
        values[:warmup] = np.nan
        assert_matches(computed("ichimoku", output), values)


# -- volume -----------------------------------------------------------------------------------------


def test_cmf_is_the_volume_weighted_close_location() -> None:
    location = ((DATA.close - DATA.low) - (DATA.high - DATA.close)) / (DATA.high - DATA.low)
    expected = sma_loop(location * DATA.volume, 20) / sma_loop(DATA.volume, 20)
    assert_matches(computed("cmf"), expected)


def test_vpt_accumulates_volume_times_the_relative_change() -> None:
    expected = np.zeros(N)
    for t in range(1, N):
        expected[t] = expected[t - 1] + DATA.volume[t] * (DATA.close[t] - DATA.close[t - 1]) / DATA.close[t - 1]
    assert_matches(computed("vpt"), expected)


def test_force_index_is_the_ema_of_change_times_volume() -> None:
    assert_matches(computed("force_index"), ema_loop(diff(DATA.close) * DATA.volume, 13))


def test_eom_is_the_average_distance_moved_per_box_ratio() -> None:
    emv = nans()
    for t in range(1, N):
        distance = (DATA.high[t] + DATA.low[t]) / 2 - (DATA.high[t - 1] + DATA.low[t - 1]) / 2
        box_ratio = DATA.volume[t] / 1e8 / (DATA.high[t] - DATA.low[t])
        emv[t] = distance / box_ratio
    assert_matches(computed("eom"), sma_loop(emv, 14))


@pytest.mark.parametrize(("name", "on_lower_volume"), [("nvi", True), ("pvi", False)])
def test_nvi_and_pvi_move_with_price_on_lower_or_higher_volume(name: str, on_lower_volume: bool) -> None:
    expected = np.empty(N)
    expected[0] = 1000.0
    for t in range(1, N):
        moves = DATA.volume[t] < DATA.volume[t - 1] if on_lower_volume else DATA.volume[t] > DATA.volume[t - 1]
        change = DATA.close[t] / DATA.close[t - 1] - 1 if moves else 0.0
        expected[t] = expected[t - 1] * (1 + change)
    assert_matches(computed(name), expected)


# -- momentum and volatility --------------------------------------------------------------------------


def test_elder_ray_is_high_and_low_against_the_ema() -> None:
    ema = ema_loop(DATA.close, 13)
    assert_matches(computed("elder_ray", "bull"), DATA.high - ema)
    assert_matches(computed("elder_ray", "bear"), DATA.low - ema)


def test_tsi_is_the_double_smoothed_momentum_over_its_absolute_value() -> None:
    change = diff(DATA.close)
    numerator = ema_loop(ema_loop(change, 25), 13)
    denominator = ema_loop(ema_loop(np.abs(change), 25), 13)
    assert_matches(computed("tsi"), 100 * numerator / denominator)


def test_chaikin_volatility_is_the_rate_of_change_of_the_smoothed_range() -> None:
    smoothed = ema_loop(DATA.high - DATA.low, 10)
    expected = nans()
    expected[10:] = 100 * (smoothed[10:] / smoothed[:-10] - 1)
    assert_matches(computed("chaikin_volatility"), expected)


def test_rvi_is_the_rsi_of_the_standard_deviation_by_direction() -> None:
    # Dorsey's relative volatility index: the 10-bar standard deviation of the close, counted as
    # up on a rising close and down on a falling one, each Wilder-smoothed over 14 bars.
    deviation = nans()
    for t in range(9, N):
        deviation[t] = np.std(DATA.close[t - 9 : t + 1])
    change = diff(DATA.close)
    up = np.where(np.isnan(deviation) | np.isnan(change), np.nan, np.where(change > 0, deviation, 0.0))
    down = np.where(np.isnan(deviation) | np.isnan(change), np.nan, np.where(change < 0, deviation, 0.0))
    up_s, down_s = wilder_loop(up, 14), wilder_loop(down, 14)
    assert_matches(computed("rvi"), 100 * up_s / (up_s + down_s))


def test_stochrsi_is_the_fast_stochastic_of_the_rsi() -> None:
    rsi = rsi_loop(DATA.close, 14)
    defined = rsi[~np.isnan(rsi)]
    fast_k = nans(len(defined))
    for t in range(4, len(defined)):
        window = defined[t - 4 : t + 1]
        fast_k[t] = 100 * (defined[t] - min(window)) / (max(window) - min(window))
    k = np.concatenate((nans(N - len(defined)), fast_k))
    d = sma_loop(k, 3)
    k[np.isnan(d)] = np.nan  # TA-Lib reports both from %D's first bar
    assert_matches(computed("stochrsi", "fastk"), k)
    assert_matches(computed("stochrsi", "fastd"), d)


# -- a moving average with a period per bar (TA-Lib's MAVP) -------------------------------------


def mavp_loop(x: np.ndarray, periods: np.ndarray, minperiod: int, maxperiod: int) -> np.ndarray:
    """The simple average over the last clamp(int(periods[t]), minperiod, maxperiod) bars, from
    maxperiod - 1 bars after periods' first defined value; undefined where periods is."""
    out = nans(len(x))
    first = int(np.flatnonzero(~np.isnan(periods))[0])
    for t in range(first + maxperiod - 1, len(x)):
        if not math.isnan(periods[t]):
            period = min(max(int(periods[t]), minperiod), maxperiod)
            out[t] = sum(x[t - period + 1 : t + 1]) / period
    return out


def test_mavp_averages_over_the_period_its_series_gives_each_bar() -> None:
    # Given periods from RSI(14) (about 30 to 70), clamped to [40, 60]: both bounds are reached
    periods = rsi_loop(DATA.close, 14)
    clamped = np.clip(np.floor(periods[~np.isnan(periods)]), 40, 60)
    assert (clamped == 40).any() and (clamped == 60).any() and ((clamped > 40) & (clamped < 60)).any()
    rsi = {"indicator": "rsi", "params": {"period": 14}}
    params = {"periods": series_ref(rsi["indicator"], rsi["params"]), "minperiod": 40, "maxperiod": 60}
    actual = computed("mavp", **params)
    assert_matches(actual, mavp_loop(DATA.close, periods, 40, 60))
    # and it is TA-Lib's own MAVP, for any MA type
    assert_matches(actual, talib.MAVP(DATA.close, talib.RSI(DATA.close, 14), 40, 60, 0))
    for matype in (1, 2, 6):
        assert_matches(
            computed("mavp", **params, matype=matype, source="hl2"),
            talib.MAVP((DATA.high + DATA.low) / 2, talib.RSI(DATA.close, 14), 40, 60, matype),
        )


def test_mavp_periods_may_be_a_price_field_a_number_or_an_indicator_output() -> None:
    # A constant period is the simple average of that period (from maxperiod's warm-up on);
    # volume (at least 12 on these candles) reads as maxperiod
    constant = sma_loop(DATA.close, 9)
    constant[:29] = np.nan
    assert_matches(computed("mavp", periods=9.7, maxperiod=30), constant)
    assert_matches(computed("mavp", periods="volume", maxperiod=12), sma_loop(DATA.close, 12))
    # An output of a multi-output indicator, shifted back one bar
    aroon = series_ref("aroon", {"timeperiod": 10}, "aroonup", offset=1)
    expected = talib.MAVP(DATA.close, np.concatenate(([np.nan], talib.AROON(DATA.high, DATA.low, 10)[1][:-1])), 5, 50)
    ref = series_ref("mavp", {"periods": aroon, "minperiod": 5, "maxperiod": 50})
    assert ref.warmup == 10 + 1 + 49
    assert_matches(IndicatorCache(DATA).series(ref), expected)


def test_mavp_is_undefined_where_its_period_is() -> None:
    # Given periods from the 4h close, hourly candles: undefined before the first 4h candle closes
    data = walk(200)
    ref = series_ref("mavp", {"periods": series_ref("price", {}, timeframe="4h"), "maxperiod": 5})
    cache = IndicatorCache(data, timeframe="1h")
    periods = cache.series(series_ref("price", {}, timeframe="4h"))
    assert np.isnan(periods[:3]).all() and not np.isnan(periods[3:]).any()
    # Then mavp starts maxperiod - 1 bars after it (TA-Lib would read NaN periods as minperiod)
    actual = cache.series(ref)
    assert_matches(actual, talib.MAVP(data.close, periods, 2, 5))
    assert np.isnan(actual[: 3 + 4]).all() and not np.isnan(actual[3 + 4 :]).any()


# -- regression ---------------------------------------------------------------------------------------


def regression_loop(x: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fitted value at t, R², residual standard deviation) of the least-squares line per window."""
    fitted, r2, residual = nans(len(x)), nans(len(x)), nans(len(x))
    time = np.arange(period, dtype=float)
    for t in range(period - 1, len(x)):
        window = x[t - period + 1 : t + 1]
        slope, intercept = np.polyfit(time, window, 1)
        line = intercept + slope * time
        errors = window - line
        fitted[t] = line[-1]
        r2[t] = 1 - np.sum(errors**2) / np.sum((window - window.mean()) ** 2)
        residual[t] = np.sqrt(np.mean(errors**2))
    return fitted, r2, residual


def test_linreg_r2_is_the_coefficient_of_determination_of_the_window() -> None:
    _, r2, _ = regression_loop(DATA.close, 14)
    np.testing.assert_allclose(computed("linreg_r2"), r2, rtol=1e-7, atol=1e-9)


def test_linreg_channel_is_the_fitted_line_plus_or_minus_the_residual_deviation() -> None:
    fitted, _, residual = regression_loop(DATA.close, 20)
    np.testing.assert_allclose(computed("linreg_channel", "middle"), fitted, rtol=1e-9)
    np.testing.assert_allclose(computed("linreg_channel", "upper"), fitted + 2 * residual, rtol=1e-7)
    np.testing.assert_allclose(computed("linreg_channel", "lower", nbdev=1), fitted - residual, rtol=1e-7)


def test_linreg_r2_of_a_straight_line_is_one_and_of_a_flat_window_zero() -> None:
    line = Candles.from_arrays(np.arange(30) * 60_000, *(np.arange(30.0) + 1,) * 4, np.ones(30))
    assert computed("linreg_r2", data=line, timeperiod=10)[-1] == pytest.approx(1.0)
    flat = Candles.from_arrays(np.arange(30) * 60_000, *(np.full(30, 5.0),) * 4, np.ones(30))
    assert computed("linreg_r2", data=flat, timeperiod=10)[-1] == 0.0


# -- pivots and fractals ----------------------------------------------------------------------------


def test_pivots_come_from_the_previous_days_high_low_and_close() -> None:
    # Given two days of hourly candles: day 1 high 110, low 90, close 105; day 2 a flat 100
    hours = 48
    close = np.full(hours, 100.0)
    close[:24] = 100.0
    close[23] = 105.0
    high, low = close.copy(), close.copy()
    high[5], low[10] = 110.0, 90.0
    data = Candles.from_arrays(np.arange(hours) * 3_600_000, close, high, low, close, np.ones(hours))
    p = (110 + 90 + 105) / 3
    expected = {
        "standard": {
            "pp": p,
            "r1": 2 * p - 90,
            "s1": 2 * p - 110,
            "r2": p + 20,
            "s2": p - 20,
            "r3": 110 + 2 * (p - 90),
            "s3": 90 - 2 * (110 - p),
        },
        "fibonacci": {
            "pp": p,
            "r1": p + 0.382 * 20,
            "r2": p + 0.618 * 20,
            "r3": p + 20,
            "s1": p - 0.382 * 20,
            "s2": p - 0.618 * 20,
            "s3": p - 20,
        },
        "camarilla": {
            "pp": p,
            "r1": 105 + 1.1 * 20 / 12,
            "r2": 105 + 1.1 * 20 / 6,
            "r3": 105 + 1.1 * 20 / 4,
            "s1": 105 - 1.1 * 20 / 12,
            "s2": 105 - 1.1 * 20 / 6,
            "s3": 105 - 1.1 * 20 / 4,
        },
    }
    woodie = (110 + 90 + 2 * 105) / 4
    expected["woodie"] = {
        "pp": woodie,
        "r1": 2 * woodie - 90,
        "s1": 2 * woodie - 110,
        "r2": woodie + 20,
        "s2": woodie - 20,
        "r3": 110 + 2 * (woodie - 90),
        "s3": 90 - 2 * (110 - woodie),
    }
    for kind, levels in expected.items():
        for output, level in levels.items():
            series = computed("pivots", output, data=data, kind=kind)
            # Then day 1 has no previous day, and every bar of day 2 reads day 1's levels
            assert np.isnan(series[:24]).all()
            np.testing.assert_allclose(series[24:], level, rtol=1e-12, err_msg=f"{kind} {output}")


def test_weekly_pivots_use_the_previous_monday_aligned_week() -> None:
    # Given 3 weeks of daily candles starting on Monday 1970-01-05 (day 4 after the epoch)
    days = 21
    ts = (4 + np.arange(days)) * 86_400_000
    close = 100.0 + np.arange(days)
    data = Candles.from_arrays(ts, close, close + 1, close - 1, close, np.ones(days))
    pp = computed("pivots", "pp", data=data, anchor="week")
    assert np.isnan(pp[:7]).all()
    # Week 1: high 107 (day 6's close 106 + 1), low 99, close 106
    np.testing.assert_allclose(pp[7:14], (107 + 99 + 106) / 3)
    np.testing.assert_allclose(pp[14:], (114 + 106 + 113) / 3)


def test_fractals_are_known_two_bars_after_the_fractal_bar() -> None:
    up = nans()
    down = nans()
    for t in range(4, N):
        k = t - 2  # the fractal bar a confirmation at t completes
        up[t] = DATA.high[k] if all(DATA.high[k] > DATA.high[j] for j in (k - 2, k - 1, k + 1, k + 2)) else up[t - 1]
        down[t] = DATA.low[k] if all(DATA.low[k] < DATA.low[j] for j in (k - 2, k - 1, k + 1, k + 2)) else down[t - 1]
    assert_matches(computed("fractals", "up"), up)
    assert_matches(computed("fractals", "down"), down)
