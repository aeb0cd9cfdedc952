"""Technical indicators (pure NumPy, equal to TA-Lib) and the registry the strategy language uses.

`functions` holds the indicators as array functions; `registry` describes each one to the
strategy language (parameters, outputs, warm-up) and caches computed series per candle set.
"""

from shared.indicators.functions import (
    MACD,
    Bands,
    Stochastic,
    adx,
    atr,
    bbands,
    cci,
    donchian,
    ema,
    macd,
    momentum,
    obv,
    roc,
    rsi,
    sma,
    stoch,
    true_range,
    vwap,
    williams_r,
    wma,
)
from shared.indicators.registry import (
    MAX_PERIOD,
    REGISTRY,
    SOURCES,
    IndicatorCache,
    IndicatorSpec,
    Param,
    SeriesRef,
    series_ref,
)

__all__ = [
    "MACD",
    "MAX_PERIOD",
    "REGISTRY",
    "SOURCES",
    "Bands",
    "IndicatorCache",
    "IndicatorSpec",
    "Param",
    "SeriesRef",
    "Stochastic",
    "adx",
    "atr",
    "bbands",
    "cci",
    "donchian",
    "ema",
    "macd",
    "momentum",
    "obv",
    "roc",
    "rsi",
    "series_ref",
    "sma",
    "stoch",
    "true_range",
    "vwap",
    "williams_r",
    "wma",
]
