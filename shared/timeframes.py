"""Candle timeframes the service supports, and their lengths.

All are aligned to UTC boundaries measured from the Unix epoch, except `1w`, which Binance
(and this service) aligns to Monday 00:00 UTC.
"""

from __future__ import annotations

MINUTE_MS = 60_000
_WEEK_MS = 7 * 24 * 60 * MINUTE_MS
# 1970-01-01 was a Thursday; the first Monday 00:00 UTC is 1970-01-05.
WEEK_ORIGIN_MS = 4 * 24 * 60 * MINUTE_MS

TIMEFRAME_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "4h": 4 * 60 * MINUTE_MS,
    "1d": 24 * 60 * MINUTE_MS,
    "1w": _WEEK_MS,
}
TIMEFRAMES: tuple[str, ...] = tuple(TIMEFRAME_MS)

YEAR_MS = 365 * 24 * 60 * MINUTE_MS


def timeframe_ms(timeframe: str) -> int:
    """Length of one candle in milliseconds; ValueError for an unknown timeframe."""
    try:
        return TIMEFRAME_MS[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r}; expected one of {', '.join(TIMEFRAMES)}") from None


def origin_ms(timeframe: str) -> int:
    """The epoch offset candle boundaries of this timeframe are aligned to."""
    return WEEK_ORIGIN_MS if timeframe == "1w" else 0


def bars_per_year(timeframe: str) -> float:
    """Candles in a 365-day year: the annualisation factor for per-bar returns (crypto trades 24/7)."""
    return YEAR_MS / timeframe_ms(timeframe)
