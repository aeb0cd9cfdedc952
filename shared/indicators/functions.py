"""Technical indicators as pure functions of NumPy arrays, equal to TA-Lib's (default settings).

float64 arrays in (finite values), float64 arrays of the same length out, NaN during warm-up.
Defaults are TA-Lib's. Warm-up = number of leading NaNs, identical to TA-Lib's lookback:

    indicator    warm-up (leading NaN bars)                 TA-Lib equivalent
    ----------   ----------------------------------------   ---------------------------
    sma          period - 1                                 SMA
    ema          period - 1                                 EMA
    wma          period - 1                                 WMA
    rsi          period                                     RSI
    macd         slow_period + signal_period - 2 (all 3)    MACD
    bbands       period - 1                                 BBANDS (matype SMA)
    atr          period                                     ATR
    stoch        k_period + k_smoothing + d_period - 3      STOCH (SMA smoothing)
    adx          2 * period - 1                             ADX
    cci          period - 1                                 CCI
    obv          0                                          OBV
    vwap         period - 1                                 (none: rolling window)
    roc          period                                     ROC
    momentum     period                                     MOM
    williams_r   period - 1                                 WILLR
    donchian     period - 1                                 (none: MAX/MIN channel)

Conventions copied from TA-Lib (0.8: its zero tests are exact, so every indicator is
independent of the price scale): EMA seeds with the SMA of its first `period` values; MACD
seeds its fast EMA at the slow EMA's first bar (with the SMA of the `fast_period` values ending
there) and reports all three outputs from the signal's first bar; RSI, ATR and ADX use Wilder's
smoothing seeded with a plain average; RSI is 0 when average gain + average loss is 0; STOCH %K,
Williams %R and CCI are 0 on a zero range / zero deviation; ROC is 0 after a zero price; ADX
keeps its previous value on a bar whose DX is undefined (zero true range or zero +DI + -DI).
Where TA-Lib's answer is rounding noise, ours is the exact one: an EMA (and so MACD) of a flat
series is exactly flat, CCI of a flat window is exactly 0.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from shared.indicators._kernels import (
    WindowSums,
    exponential_smoothing,
    lagged_sum,
    nan_array,
    rolling_max,
    rolling_min,
)


class MACD(NamedTuple):
    line: NDArray[Any]
    signal: NDArray[Any]
    histogram: NDArray[Any]


class Bands(NamedTuple):
    upper: NDArray[Any]
    middle: NDArray[Any]
    lower: NDArray[Any]


class Stochastic(NamedTuple):
    k: NDArray[Any]
    d: NDArray[Any]


def _after(start: int, n: int, tail: NDArray[Any]) -> NDArray[Any]:
    """A length-n series: NaN before `start`, then `tail` (which may itself begin with NaN)."""
    out = nan_array(n)
    out[start:] = tail
    return out


def true_range(high: NDArray[Any], low: NDArray[Any], close: NDArray[Any]) -> NDArray[Any]:
    """max(high - low, |high - prev close|, |low - prev close|); NaN on the first bar."""
    out = nan_array(len(close))
    if len(close) > 1:
        prev_close = close[:-1]
        out[1:] = np.maximum(
            high[1:] - low[1:],
            np.maximum(np.abs(high[1:] - prev_close), np.abs(low[1:] - prev_close)),
        )
    return out


def sma(x: NDArray[Any], period: int = 30) -> NDArray[Any]:
    return sma_from_sums(WindowSums(x), period)


def sma_from_sums(sums: WindowSums, period: int) -> NDArray[Any]:
    """SMA from window sums another SMA of the same series may already have prepared."""
    average = sums.sum(period)
    average /= period
    return average


def _ema_from(x: NDArray[Any], start: int, period: int) -> NDArray[Any]:
    """EMA seeded at bar `start` with the SMA of the `period` values ending there (summed as
    deviations from x[start], so that a flat window seeds exactly at its price)."""
    seed = x[start] + (x[start - period + 1 : start + 1] - x[start]).sum() / period
    return _after(start, len(x), exponential_smoothing(x[start:], 2.0 / (period + 1), seed))


def ema(x: NDArray[Any], period: int = 30) -> NDArray[Any]:
    if period > len(x):
        return nan_array(len(x))
    return _ema_from(x, period - 1, period)


def wma(x: NDArray[Any], period: int = 30) -> NDArray[Any]:
    """Linearly weighted: weights 1..period, newest heaviest."""
    weighted = lagged_sum(x, period, lambda values, lag, out: np.multiply(values, float(period - lag), out=out))
    return weighted / (period * (period + 1) / 2)


def _wilder(values: NDArray[Any], period: int) -> NDArray[Any]:
    """Wilder's smoothing of values[1:], seeded at bar `period` with the mean of values[1..period]
    (values[0] is undefined: a difference or a true range needs a previous bar)."""
    n = len(values)
    if period >= n:
        return nan_array(n)
    seed = values[1 : period + 1].sum() / period
    return _after(period, n, exponential_smoothing(values[period:], 1.0 / period, seed))


def rsi(x: NDArray[Any], period: int = 14) -> NDArray[Any]:
    """Wilder's RSI: 100 * avg gain / (avg gain + avg loss); 0 when both are 0."""
    change = np.diff(x, prepend=np.nan)
    gain = _wilder(np.maximum(change, 0.0), period)
    loss = _wilder(np.maximum(-change, 0.0), period)
    total = gain + loss
    ratio = np.divide(gain, total, out=np.zeros(len(x)), where=total != 0)
    return 100.0 * ratio


def macd(x: NDArray[Any], fast_period: int = 12, slow_period: int = 26, signal_period: int = 9) -> MACD:
    if not fast_period < slow_period:
        raise ValueError("fast_period must be less than slow_period")
    n = len(x)
    first_line = slow_period - 1
    first_signal = first_line + signal_period - 1
    if first_signal >= n:
        return MACD(nan_array(n), nan_array(n), nan_array(n))
    line = _ema_from(x, first_line, fast_period) - _ema_from(x, first_line, slow_period)
    signal = _after(first_line, n, _ema_from(line[first_line:], signal_period - 1, signal_period))
    line[:first_signal] = np.nan
    return MACD(line, signal, line - signal)


def _deviation_sum(x: NDArray[Any], centre: NDArray[Any], period: int, measure: np.ufunc) -> NDArray[Any]:
    """sum over each trailing window of measure(x - the window's centre), measure = abs / square."""
    window_centre = centre[period - 1 :]

    def term(values: NDArray[Any], lag: int, out: NDArray[Any]) -> NDArray[Any]:
        return measure(np.subtract(values, window_centre, out=out), out=out)

    return lagged_sum(x, period, term)


def bbands(x: NDArray[Any], period: int = 20, std_dev: float = 2.0) -> Bands:
    """Middle = SMA(period); upper/lower = middle +/- std_dev * population standard deviation."""
    middle = sma(x, period)
    width = std_dev * np.sqrt(_deviation_sum(x, middle, period, np.square) / period)
    return Bands(middle + width, middle, middle - width)


def atr(high: NDArray[Any], low: NDArray[Any], close: NDArray[Any], period: int = 14) -> NDArray[Any]:
    """Wilder's average true range; period 1 is the true range itself."""
    tr = true_range(high, low, close)
    return tr if period == 1 else _wilder(tr, period)


def _range_position(numerator: NDArray[Any], highest: NDArray[Any], lowest: NDArray[Any], scale: float) -> NDArray[Any]:
    """numerator / ((highest - lowest) / scale), 0 where the range is 0 (TA-Lib's operation
    order); NaN stays NaN."""
    span = (highest - lowest) / scale
    return np.divide(numerator, span, out=np.zeros(len(span)), where=span != 0.0)


def stoch(
    high: NDArray[Any], low: NDArray[Any], close: NDArray[Any], k_period: int = 5, k_smoothing: int = 3, d_period: int = 3
) -> Stochastic:
    """Slow stochastic: %K = SMA(k_smoothing) of 100 * (close - lowest low) / range over
    k_period; %D = SMA(d_period) of %K. Both start where %D does, as in TA-Lib."""
    n = len(close)
    first_fast = k_period - 1
    first_d = first_fast + k_smoothing - 1 + d_period - 1
    if first_d >= n:
        return Stochastic(nan_array(n), nan_array(n))
    lowest = rolling_min(low, k_period)
    fast_k = _range_position(close - lowest, rolling_max(high, k_period), lowest, 100.0)
    k = _after(first_fast, n, sma(fast_k[first_fast:], k_smoothing))
    first_k = first_fast + k_smoothing - 1
    d = _after(first_k, n, sma(k[first_k:], d_period))
    k[:first_d] = np.nan
    return Stochastic(k, d)


def _directional_movement(high: NDArray[Any], low: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """(+DM, -DM) per bar: the larger of the up-move and down-move if positive, else 0."""
    up = np.diff(high, prepend=np.nan)
    down = -np.diff(low, prepend=np.nan)
    plus = np.where((up > 0) & (up > down), up, 0.0)
    minus = np.where((down > 0) & (up < down), down, 0.0)
    return plus, minus


def adx(high: NDArray[Any], low: NDArray[Any], close: NDArray[Any], period: int = 14) -> NDArray[Any]:
    """Wilder's average directional index.

    +DM, -DM and TR are Wilder-smoothed from a seed summing bars 1..period-1; DX = 100 *
    |+DI - -DI| / (+DI + -DI) from bar `period`; ADX starts at bar 2*period-1 as the mean of
    the first `period` DX (an undefined DX counting 0) and is Wilder-smoothed after that,
    holding its value on bars where DX is undefined (zero true range or zero +DI + -DI).
    """
    n = len(close)
    first_adx = 2 * period - 1
    if first_adx >= n:
        return nan_array(n)
    plus, minus = _directional_movement(high, low)
    tr = true_range(high, low, close)
    alpha = 1.0 / period

    def smoothed(values: NDArray[Any]) -> NDArray[Any]:
        # TA-Lib's sum S <- S - S/period + v is period * this average.
        seed = values[1:period].sum() / period
        return exponential_smoothing(values[period - 1 :], alpha, seed)[1:]

    plus_s, minus_s, tr_s = smoothed(plus), smoothed(minus), smoothed(tr)
    with np.errstate(invalid="ignore", divide="ignore"):
        plus_di = 100.0 * (plus_s / tr_s)
        minus_di = 100.0 * (minus_s / tr_s)
        di_sum = minus_di + plus_di
        dx = 100.0 * (np.abs(minus_di - plus_di) / di_sum)
    defined = (tr_s != 0) & (di_sum != 0)
    dx = np.where(defined, dx, 0.0)  # dx[i] is bar period + i
    seed = dx[:period].sum() / period
    later_dx = dx[period:]
    later_defined = defined[period:]
    values = exponential_smoothing(np.concatenate(([seed], later_dx[later_defined])), alpha, seed)
    # On each bar, the ADX after the last defined DX so far (values[0] = the seed).
    return _after(first_adx, n, values[np.concatenate(([0], np.cumsum(later_defined)))])


def cci(high: NDArray[Any], low: NDArray[Any], close: NDArray[Any], period: int = 14) -> NDArray[Any]:
    """(typical price - its SMA) / (0.015 * mean absolute deviation); 0 when either is 0."""
    typical = (high + low + close) / 3
    # The mean from direct window sums: CCI divides by the small distance typical - mean.
    mean = lagged_sum(typical, period, lambda values, lag, out: values) / period
    deviation = _deviation_sum(typical, mean, period, np.abs) / period
    distance = typical - mean
    # A flat window is 0 even when its mean rounds an ulp away from its values.
    flat = rolling_max(typical, period) == rolling_min(typical, period)
    defined = (distance != 0) & (deviation != 0) & ~flat
    out = np.divide(distance, 0.015 * deviation, out=np.zeros(len(close)), where=defined)
    out[np.isnan(mean)] = np.nan
    return out


def obv(x: NDArray[Any], volume: NDArray[Any]) -> NDArray[Any]:
    """On-balance volume: starts at the first bar's volume, then adds the volume of up bars
    and subtracts that of down bars."""
    signed = np.sign(np.diff(x, prepend=np.nan)) * volume
    if len(signed):
        signed[0] = volume[0]
    return np.cumsum(signed)


def vwap(x: NDArray[Any], volume: NDArray[Any], period: int = 20) -> NDArray[Any]:
    """Rolling volume-weighted average of x over `period` bars; NaN where that volume is 0."""
    traded = WindowSums(x * volume).sum(period)
    total = WindowSums(volume).sum(period)
    out = nan_array(len(x))
    np.divide(traded, total, out=out, where=total > 0)
    return out


def roc(x: NDArray[Any], period: int = 10) -> NDArray[Any]:
    """Rate of change in percent: (x / x[t-period] - 1) * 100; 0 after a zero price."""
    out = nan_array(len(x))
    if period < len(x):
        before = x[:-period]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[period:] = np.where(before != 0, (x[period:] / before - 1.0) * 100.0, 0.0)
    return out


def momentum(x: NDArray[Any], period: int = 10) -> NDArray[Any]:
    """x - x[t-period]."""
    out = nan_array(len(x))
    if period < len(x):
        out[period:] = x[period:] - x[:-period]
    return out


def williams_r(high: NDArray[Any], low: NDArray[Any], close: NDArray[Any], period: int = 14) -> NDArray[Any]:
    """-100 * (highest high - close) / (highest high - lowest low), in [-100, 0]; 0 on a zero range."""
    highest = rolling_max(high, period)
    return _range_position(highest - close, highest, rolling_min(low, period), -100.0)


def donchian(high: NDArray[Any], low: NDArray[Any], period: int = 20) -> Bands:
    """Highest high and lowest low of the last `period` bars (this bar included), and their midpoint."""
    upper = rolling_max(high, period)
    lower = rolling_min(low, period)
    return Bands(upper, (upper + lower) / 2, lower)
