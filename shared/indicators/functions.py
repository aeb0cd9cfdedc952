"""The indicators TA-Lib lacks, as functions of NumPy arrays (float64 in, float64 out, NaN
during warm-up). Definitions and references are in the README's indicator table; each is built
from TA-Lib's primitives where one fits (EMA, ATR, MAX, MIN, LINEARREG, VAR), so that the parts
are the reference everyone quotes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import talib
from numpy.typing import NDArray

from shared.indicators._kernels import WindowSums, nan_array
from shared.timeframes import origin_ms, timeframe_ms


class Bands(NamedTuple):
    upper: NDArray[Any]
    middle: NDArray[Any]
    lower: NDArray[Any]


class Ichimoku(NamedTuple):
    tenkan: NDArray[Any]
    kijun: NDArray[Any]
    senkou_a: NDArray[Any]
    senkou_b: NDArray[Any]


class Pivots(NamedTuple):
    pp: NDArray[Any]
    r1: NDArray[Any]
    r2: NDArray[Any]
    r3: NDArray[Any]
    s1: NDArray[Any]
    s2: NDArray[Any]
    s3: NDArray[Any]


class Fractals(NamedTuple):
    up: NDArray[Any]
    down: NDArray[Any]


PIVOT_KINDS = ("standard", "fibonacci", "camarilla", "woodie")
PIVOT_ANCHORS = {"day": "1d", "week": "1w"}


def vwap(x: NDArray[Any], volume: NDArray[Any], period: int = 20) -> NDArray[Any]:
    """Rolling volume-weighted average of x over `period` bars; NaN where that volume is 0."""
    traded = WindowSums(x * volume).sum(period)
    total = WindowSums(volume).sum(period)
    out = nan_array(len(x))
    np.divide(traded, total, out=out, where=total > 0)
    return out


def keltner(
    high: NDArray[Any],
    low: NDArray[Any],
    close: NDArray[Any],
    period: int = 20,
    atr_period: int = 10,
    multiplier: float = 2.0,
) -> Bands:
    """EMA(close, period) +/- multiplier * ATR(atr_period); NaN until both are defined."""
    middle = talib.EMA(close, period)
    width = multiplier * talib.ATR(high, low, close, atr_period)
    middle[np.isnan(width)] = np.nan
    return Bands(middle + width, middle, middle - width)


def _midrange(high: NDArray[Any], low: NDArray[Any], period: int) -> NDArray[Any]:
    out: NDArray[Any] = (talib.MAX(high, period) + talib.MIN(low, period)) / 2
    return out


def _shifted(x: NDArray[Any], bars: int) -> NDArray[Any]:
    out = nan_array(len(x))
    if bars < len(x):
        out[bars:] = x[: len(x) - bars]
    return out


def ichimoku(
    high: NDArray[Any], low: NDArray[Any], tenkan_period: int = 9, kijun_period: int = 26, senkou_period: int = 52
) -> Ichimoku:
    """Tenkan/kijun = midpoint of the highest high and lowest low over their periods; senkou A =
    (tenkan + kijun) / 2 and senkou B = the senkou_period midpoint, both shifted forward
    kijun_period bars as published, so the cloud at t was known at t - kijun_period. No chikou:
    it is today's close drawn in the past (compare close with `price` at `offset` instead)."""
    tenkan = _midrange(high, low, tenkan_period)
    kijun = _midrange(high, low, kijun_period)
    senkou_a = _shifted((tenkan + kijun) / 2, kijun_period)
    senkou_b = _shifted(_midrange(high, low, senkou_period), kijun_period)
    warmup = ichimoku_warmup(tenkan_period, kijun_period, senkou_period)
    series = Ichimoku(tenkan, kijun, senkou_a, senkou_b)
    for values in series:
        values[:warmup] = np.nan
    return series


def ichimoku_warmup(tenkan_period: int, kijun_period: int, senkou_period: int) -> int:
    return max(tenkan_period, kijun_period, senkou_period) - 1 + kijun_period


def ease_of_movement(
    high: NDArray[Any], low: NDArray[Any], volume: NDArray[Any], period: int = 14, divisor: float = 1e8
) -> NDArray[Any]:
    """SMA(period) of the one-bar EMV = (midpoint - previous midpoint) * (high - low) * divisor
    / volume (the distance moved per box ratio volume / divisor / range); EMV is 0 on a bar
    without volume."""
    midpoint = (high + low) / 2
    distance = np.diff(midpoint, prepend=np.nan)
    moved = distance * (high - low) * divisor
    emv = np.divide(moved, volume, out=np.zeros(len(volume)), where=volume > 0)
    emv[0] = np.nan
    out = nan_array(len(emv))
    if len(emv) > period:
        out[1:] = talib.SMA(emv[1:], period)
    return out


def linreg_r2(x: NDArray[Any], period: int = 14) -> NDArray[Any]:
    """R² of the least-squares line through the last `period` values against time:
    slope² * var(time) / var(x), var(time) = (period² - 1) / 12; 0 for a flat window."""
    slope = talib.LINEARREG_SLOPE(x, period)
    variance = talib.VAR(x, period)
    explained = slope * slope * ((period * period - 1) / 12.0)
    r2 = np.divide(explained, variance, out=np.zeros(len(x)), where=variance > 0)
    np.clip(r2, 0.0, 1.0, out=r2)
    r2[np.isnan(slope)] = np.nan
    return r2


def linreg_channel(x: NDArray[Any], period: int = 20, deviations: float = 2.0) -> Bands:
    """The least-squares line's value at t (LINEARREG) +/- `deviations` standard deviations of
    the window's residuals about it: sqrt(var(x) * (1 - R²))."""
    middle = talib.LINEARREG(x, period)
    residual = np.sqrt(np.maximum(talib.VAR(x, period) * (1.0 - linreg_r2(x, period)), 0.0))
    width = deviations * residual
    return Bands(middle + width, middle, middle - width)


def pivots(
    ts: NDArray[Any],
    high: NDArray[Any],
    low: NDArray[Any],
    close: NDArray[Any],
    kind: str = "standard",
    anchor: str = "day",
) -> Pivots:
    """Floor pivots from the previous UTC day's (or Monday-aligned week's) high, low and close,
    the one before the period holding each bar; NaN during the first period in the data.

    standard:  P = (H + L + C) / 3, R1 = 2P - L, S1 = 2P - H, R2 = P + (H - L), S2 = P - (H - L),
               R3 = H + 2(P - L), S3 = L - 2(H - P)
    fibonacci: P as standard, R/S n = P +/- (0.382, 0.618, 1.000) * (H - L)
    camarilla: P as standard, R/S n = C +/- 1.1 * (H - L) * (1/12, 1/6, 1/4)
    woodie:    P = (H + L + 2C) / 4, the rest as standard.
    """
    timeframe = PIVOT_ANCHORS[anchor]
    period_index = (ts - origin_ms(timeframe)) // timeframe_ms(timeframe)
    n = len(ts)
    starts = np.flatnonzero(np.concatenate(([True], period_index[1:] != period_index[:-1]))) if n else np.empty(0, int)
    if len(starts) < 2:
        return Pivots(*(nan_array(n) for _ in Pivots._fields))
    ends = np.concatenate((starts[1:], [n])) - 1
    h = np.maximum.reduceat(high, starts)[:-1]
    lo = np.minimum.reduceat(low, starts)[:-1]
    c = close[ends][:-1]
    span = h - lo
    p = (h + lo + 2 * c) / 4 if kind == "woodie" else (h + lo + c) / 3
    if kind == "fibonacci":
        levels = [p + f * span for f in (0.382, 0.618, 1.0)] + [p - f * span for f in (0.382, 0.618, 1.0)]
    elif kind == "camarilla":
        levels = [c + 1.1 * span * f for f in (1 / 12, 1 / 6, 1 / 4)] + [
            c - 1.1 * span * f for f in (1 / 12, 1 / 6, 1 / 4)
        ]
    else:
        levels = [2 * p - lo, p + span, h + 2 * (p - lo), 2 * p - h, p - span, lo - 2 * (h - p)]
    # Bars of period k (k >= 1) take the levels of period k - 1.
    owner = np.repeat(np.arange(len(starts)), np.diff(np.concatenate((starts, [n])))) - 1
    defined = owner >= 0

    def per_bar(values: NDArray[Any]) -> NDArray[Any]:
        out = nan_array(n)
        out[defined] = values[owner[defined]]
        return out

    return Pivots(*(per_bar(values) for values in [p, *levels]))


def fractals(high: NDArray[Any], low: NDArray[Any]) -> Fractals:
    """Bill Williams' fractals, known two bars after the fractal bar k: an up fractal when
    high[k] is above the highs of the two bars before and after it, a down fractal when low[k]
    is below theirs. Each output is the level of the latest confirmed fractal (its high / low),
    from its confirmation bar k + 2 on; NaN before the first."""
    return Fractals(_latest_fractal(high, np.greater), _latest_fractal(low, np.less))


def _latest_fractal(x: NDArray[Any], beyond: np.ufunc) -> NDArray[Any]:
    n = len(x)
    out = nan_array(n)
    if n < 5:
        return out
    centre = x[2:-2]
    is_fractal = beyond(centre, x[:-4]) & beyond(centre, x[1:-3]) & beyond(centre, x[3:-1]) & beyond(centre, x[4:])
    confirmed = np.flatnonzero(is_fractal) + 4  # fractal bar k = index + 2, known at k + 2
    if len(confirmed):
        latest = np.full(n, -1)
        latest[confirmed] = confirmed
        np.maximum.accumulate(latest, out=latest)
        known = latest >= 0
        out[known] = x[latest[known] - 2]
    return out
