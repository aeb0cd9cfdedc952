"""Candles of a coarser timeframe from a finer one, aligned to UTC boundaries (weeks to Monday).

A bucket's candle: open of its first candle, highest high, lowest low, close of its last candle,
summed volume, stamped with the bucket's open time. Buckets with no source candle are absent (a
gap stays a gap); a bucket only partly covered (the newest week, or one with missing minutes) is
built from the candles it has, as exchanges report an unfinished candle.
"""

from __future__ import annotations

import numpy as np

from shared.candles import Candles
from shared.timeframes import origin_ms, timeframe_ms


def can_resample(source: str, target: str) -> bool:
    """True when every `target` bucket is a whole number of `source` candles."""
    step, target_step = timeframe_ms(source), timeframe_ms(target)
    return target_step % step == 0 and (origin_ms(target) - origin_ms(source)) % step == 0


def bucket_start(ts_ms: int, timeframe: str, *, up: bool = False) -> int:
    """Open time of the `timeframe` bucket holding `ts_ms` (or of the first bucket at/after it)."""
    step, origin = timeframe_ms(timeframe), origin_ms(timeframe)
    offset = -((origin - ts_ms) // step) if up else (ts_ms - origin) // step
    return origin + offset * step


def resample(candles: Candles, source: str, target: str) -> Candles:
    """`candles` (sorted, unique, on `source` boundaries) aggregated into `target` candles."""
    if not can_resample(source, target):
        raise ValueError(f"{target} candles cannot be built from {source} candles")
    if source == target or len(candles) == 0:
        return candles
    step, origin = timeframe_ms(target), origin_ms(target)
    bucket = (candles.ts - origin) // step
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.concatenate((starts[1:], [len(candles)])) - 1
    return Candles.from_arrays(
        ts=bucket[starts] * step + origin,
        open=candles.open[starts],
        high=np.maximum.reduceat(candles.high, starts),
        low=np.minimum.reduceat(candles.low, starts),
        close=candles.close[ends],
        volume=np.add.reduceat(candles.volume, starts),
    )
