"""The registry's indicators that TA-Lib does not have (definitions in `functions`)."""

from __future__ import annotations

from typing import Any

import talib
from numpy.typing import NDArray

from shared.indicators import functions as fn
from shared.indicators.spec import IndicatorSpec, Inputs, Param, Params, finite, period, unbounded

_BAND_ALIASES = {"upper": "upperband", "middle": "middleband", "lower": "lowerband"}
_BANDS = ("upperband", "middleband", "lowerband")
_HIGH_LOW_CLOSE: tuple[tuple[str, str], ...] = ()  # reads fixed columns: no `source`


def _int(p: Params, name: str) -> int:
    return int(p[name])


def _window_warmup(p: Params) -> int:
    return _int(p, "timeperiod") - 1


def _ichimoku(i: Inputs, p: Params) -> tuple[NDArray[Any], ...]:
    return tuple(
        fn.ichimoku(i.high, i.low, _int(p, "tenkan_period"), _int(p, "kijun_period"), _int(p, "senkou_period"))
    )


def _ichimoku_warmup(p: Params) -> int:
    return fn.ichimoku_warmup(_int(p, "tenkan_period"), _int(p, "kijun_period"), _int(p, "senkou_period"))


def _volume_sma(i: Inputs, p: Params) -> tuple[NDArray[Any], ...]:
    return (talib.SMA(i.volume, _int(p, "timeperiod")),)


CUSTOM_SPECS = (
    IndicatorSpec(
        "price",
        "price_transform",
        (),
        lambda i, p: (i.source(str(p["source"])),),
        lambda p: 0,
        lambda p: 1,
        reference="the candles' own series",
        description="A price series (open, high, ..., ohlc4)",
    ),
    IndicatorSpec(
        "vwap",
        "volume",
        (period(20, 1),),
        lambda i, p: (fn.vwap(i.source(str(p["source"])), i.volume, _int(p, "timeperiod")),),
        _window_warmup,
        finite(_window_warmup),
        sources=(("source", "hlc3"),),
        reference="rolling VWAP: sum(price * volume) / sum(volume) over timeperiod bars",
        description="Rolling volume-weighted average price",
    ),
    IndicatorSpec(
        "keltner",
        "volatility",
        (
            period(20),
            Param("atrperiod", 10, 1, aliases=("atr_period",)),
            Param("multiplier", 2.0, 0.0, 1e6, integer=False),
        ),
        lambda i, p: tuple(
            fn.keltner(i.high, i.low, i.close, _int(p, "timeperiod"), _int(p, "atrperiod"), float(p["multiplier"]))
        ),
        lambda p: max(_window_warmup(p), _int(p, "atrperiod")),
        unbounded,
        outputs=_BANDS,
        default_output="middleband",
        sources=_HIGH_LOW_CLOSE,
        output_aliases=_BAND_ALIASES,
        reference="StockCharts, Keltner Channels (EMA middle, ATR bands)",
        description="Keltner channels",
    ),
    IndicatorSpec(
        "ichimoku",
        "overlap",
        (Param("tenkan_period", 9), Param("kijun_period", 26), Param("senkou_period", 52)),
        _ichimoku,
        _ichimoku_warmup,
        finite(_ichimoku_warmup),
        outputs=("tenkan", "kijun", "senkou_a", "senkou_b"),
        default_output="kijun",
        sources=_HIGH_LOW_CLOSE,
        reference="Hosoda, Ichimoku Kinko Hyo; StockCharts, Ichimoku Cloud",
        description="Ichimoku cloud (senkou spans shifted forward, no chikou)",
    ),
    IndicatorSpec(
        "eom",
        "volume",
        (period(14, 1), Param("divisor", 1e8, 1e-12, 1e18, integer=False)),
        lambda i, p: (fn.ease_of_movement(i.high, i.low, i.volume, _int(p, "timeperiod"), float(p["divisor"])),),
        lambda p: _int(p, "timeperiod"),
        unbounded,
        sources=_HIGH_LOW_CLOSE,
        reference="Arms, Ease of Movement; StockCharts, Ease of Movement (EMV)",
        description="Ease of movement",
    ),
    IndicatorSpec(
        "linreg_r2",
        "statistic",
        (period(14),),
        lambda i, p: (fn.linreg_r2(i.source(str(p["source"])), _int(p, "timeperiod")),),
        _window_warmup,
        unbounded,
        reference="coefficient of determination of the least-squares line over the window",
        description="Linear regression R²",
    ),
    IndicatorSpec(
        "linreg_channel",
        "statistic",
        (period(20), Param("nbdev", 2.0, 0.0, 1e6, integer=False, aliases=("deviations",))),
        lambda i, p: tuple(fn.linreg_channel(i.source(str(p["source"])), _int(p, "timeperiod"), float(p["nbdev"]))),
        _window_warmup,
        unbounded,
        outputs=_BANDS,
        default_output="middleband",
        output_aliases=_BAND_ALIASES,
        reference="linear regression channel: LINEARREG +/- nbdev * standard error of the residuals",
        description="Linear regression channel",
    ),
    IndicatorSpec(
        "pivots",
        "overlap",
        (Param("kind", "standard", choices=fn.PIVOT_KINDS), Param("anchor", "day", choices=tuple(fn.PIVOT_ANCHORS))),
        lambda i, p: tuple(fn.pivots(i.ts, i.high, i.low, i.close, str(p["kind"]), str(p["anchor"]))),
        lambda p: 1,  # at least: the first (partial) day or week in the data
        unbounded,
        outputs=fn.Pivots._fields,
        default_output="pp",
        sources=_HIGH_LOW_CLOSE,
        reference="floor-trader, Fibonacci, Camarilla (Nick Scott) and Woodie pivot points",
        description="Pivot points of the previous day or week",
    ),
    IndicatorSpec(
        "fractals",
        "pattern_recognition",
        (),
        lambda i, p: tuple(fn.fractals(i.high, i.low)),
        lambda p: 4,  # at least: a fractal needs two bars on each side
        unbounded,
        outputs=fn.Fractals._fields,
        default_output="up",
        sources=_HIGH_LOW_CLOSE,
        reference="Bill Williams, Trading Chaos: five-bar fractals",
        description="Latest confirmed fractal high / low",
    ),
    IndicatorSpec(
        "volume_sma",
        "volume",
        (period(20, 1),),
        _volume_sma,
        _window_warmup,
        unbounded,
        sources=_HIGH_LOW_CLOSE,
        reference="SMA of volume",
        description="Simple moving average of volume",
    ),
)
# Warm-ups above that are lower bounds: the leading NaNs depend on the data (timestamps,
# where the first fractal falls), not only on the parameters.
DATA_DEPENDENT_WARMUP = frozenset({"pivots", "fractals"})
