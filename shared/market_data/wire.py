"""JSON shapes of candles and times, shared by API responses and WebSocket events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from shared.candles import Candles

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_utc(ms: int) -> str:
    """`2024-03-01T00:00:00Z` (milliseconds shown only when not zero)."""
    moment = _EPOCH + timedelta(milliseconds=int(ms))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}Z" if moment.microsecond else f"{text}Z"


def epoch_ms(moment: datetime | int) -> int:
    """Epoch milliseconds of a datetime (naive ones are UTC) or of an epoch-ms integer."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - _EPOCH) // timedelta(milliseconds=1)
    return int(moment)


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
    stamps = np.datetime_as_string(candles.ts.astype("datetime64[ms]"), unit="s")
    columns = zip(
        stamps,
        candles.open.tolist(),
        candles.high.tolist(),
        candles.low.tolist(),
        candles.close.tolist(),
        candles.volume.tolist(),
        strict=True,
    )
    return [
        {"timestamp": f"{stamp}Z", "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for stamp, o, h, lo, c, v in columns
    ]
