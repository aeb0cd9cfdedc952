"""Technical indicators and the registry the strategy language uses.

`talib_specs`: every TA-Lib function, computed by TA-Lib; `custom` (functions in `functions`):
the indicators TA-Lib lacks; `registry` joins them into one table and caches computed series
per candle set; `catalogue` describes them for the API (`GET /api/v1/indicators`).
"""

from shared.indicators.registry import REGISTRY, IndicatorCache, SeriesRef, exact_key, find_indicator, series_ref
from shared.indicators.spec import MAX_PERIOD, SOURCES, IndicatorSpec, Param
from shared.indicators.talib_specs import INDICATOR_ALIASES

__all__ = [
    "INDICATOR_ALIASES",
    "MAX_PERIOD",
    "REGISTRY",
    "SOURCES",
    "IndicatorCache",
    "IndicatorSpec",
    "Param",
    "SeriesRef",
    "exact_key",
    "find_indicator",
    "series_ref",
]
