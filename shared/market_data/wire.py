"""JSON shapes of candles, shared by API responses and WebSocket events."""

from __future__ import annotations

from typing import Any

from shared.candles import Candles
from shared.times import iso_utc, iso_utc_array


def candle_dict(ts: int, open: float, high: float, low: float, close: float, volume: float) -> dict[str, Any]:
    return {
        "timestamp": iso_utc(ts),
        "open": float(open),
        "high": float(high),
        "low": float(low),
        "close": float(close),
        "volume": float(volume),
    }


def candle_dicts(candles: Candles) -> list[dict[str, Any]]:
    """One dict per candle, in time order (the API's `data` array)."""
    return [
        {"timestamp": stamp, "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for stamp, (_, o, h, lo, c, v) in zip(iso_utc_array(candles.ts), candles.rows(), strict=True)
    ]
