"""How trustworthy a stretch of candles is: what a backtest over it would silently step over.

- gaps: candles missing inside [start, end) (before the first and after the last stored one too,
  when the bounds are given), as ranges with their counts;
- zero-volume runs: consecutive candles with volume 0 (an exchange that printed prices nobody traded);
- spikes: close-to-close log returns farther than `k` robust deviations from the median return, the
  robust deviation being 1.4826 x the median absolute deviation (a normal sigma estimate that a few
  spikes cannot inflate, unlike the standard deviation); none are flagged when it is 0;
- flat stretches: at least `flat_min_candles` consecutive candles with open = high = low = close = the
  previous close (a feed that repeated its last price);
- stale end: how many candles are missing between the last candle and the end of the range (now,
  when no end is given); stale when at least one is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.candles import Candles
from shared.market_data.gaps import Gap
from shared.timeframes import timeframe_ms
from shared.times import iso_utc

DEFAULT_SPIKE_K = 10.0
DEFAULT_FLAT_MIN_CANDLES = 5
MAX_LISTED = 100
MAD_TO_SIGMA = 1.4826  # 1 / Phi^-1(3/4): the MAD of a normal distribution times this is its sigma


def missing_ranges(ts: NDArray[Any], timeframe: str, start_ms: int | None, end_ms: int | None) -> list[Gap]:
    """Every range of missing open times in [start_ms, end_ms) around sorted aligned `ts` (bounds
    optional: without one, nothing is missing beyond the first or last candle). Bounds are
    rounded up to the timeframe's grid as the candles are."""
    step = timeframe_ms(timeframe)
    if len(ts) == 0:
        if start_ms is None or end_ms is None:
            return []
        first = -(-start_ms // step) * step
        return [Gap(first, end_ms, -(-(end_ms - first) // step))] if end_ms > first else []
    ranges = []
    if start_ms is not None:
        first = -(-start_ms // step) * step
        if ts[0] > first:
            ranges.append(Gap(first, int(ts[0]), int((ts[0] - first) // step)))
    missing = np.diff(ts) // step - 1
    ranges += [Gap(int(ts[i]) + step, int(ts[i + 1]), int(missing[i])) for i in np.flatnonzero(missing > 0)]
    if end_ms is not None:
        after = int(ts[-1]) + step
        if end_ms > after:
            ranges.append(Gap(after, end_ms, -(-(end_ms - after) // step)))
    return ranges


@dataclass(frozen=True)
class Run:
    """Consecutive candles i..j (inclusive) sharing a property."""

    first: int
    last: int


def _runs(mask: NDArray[Any], min_length: int = 1) -> list[Run]:
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [Run(int(a), int(b) - 1) for a, b in zip(starts, stops, strict=True) if b - a >= min_length]


def _runs_dict(runs: list[Run], ts: NDArray[Any], step: int, key: str) -> dict[str, Any]:
    return {
        "count": len(runs),
        "candles": sum(run.last - run.first + 1 for run in runs),
        key: [
            {"start": iso_utc(ts[r.first]), "end": iso_utc(ts[r.last] + step), "candles": r.last - r.first + 1}
            for r in runs[:MAX_LISTED]
        ],
    }


def assess_quality(
    candles: Candles,
    timeframe: str,
    start_ms: int | None,
    end_ms: int | None,
    now_ms: int,
    spike_k: float = DEFAULT_SPIKE_K,
    flat_min_candles: int = DEFAULT_FLAT_MIN_CANDLES,
) -> dict[str, Any]:
    """The quality report (API shape) of sorted candles read for [start_ms, end_ms)."""
    step = timeframe_ms(timeframe)
    ts = candles.ts
    # Candles can only be missing up to the open of the one in progress now.
    closed_end = now_ms // step * step if end_ms is None else min(end_ms, now_ms // step * step)
    if len(ts):
        gaps = missing_ranges(ts, timeframe, start_ms, None)
        trailing = missing_ranges(ts[-1:], timeframe, None, closed_end)
    else:
        gaps, trailing = missing_ranges(ts, timeframe, start_ms, closed_end), []
    report: dict[str, Any] = {
        "candles": len(ts),
        "first_timestamp": iso_utc(ts[0]) if len(ts) else None,
        "last_timestamp": iso_utc(ts[-1]) if len(ts) else None,
        "gaps": {
            "missing_candles": sum(g.missing for g in gaps),
            "gap_count": len(gaps),
            "gaps": [g.to_dict() for g in gaps[:MAX_LISTED]],
        },
        "zero_volume_runs": _runs_dict(_runs(candles.volume == 0), ts, step, "runs"),
    }
    returns = np.log(candles.close[1:] / candles.close[:-1]) if len(ts) > 1 else np.empty(0)
    spikes: list[dict[str, Any]] = []
    if len(returns) > 1:
        median = float(np.median(returns))
        sigma = MAD_TO_SIGMA * float(np.median(np.abs(returns - median)))
        if sigma > 0:
            deviations = np.abs(returns - median) / sigma
            at = np.flatnonzero(deviations > spike_k)
            spikes = [
                {
                    "timestamp": iso_utc(ts[i + 1]),
                    "return": float(np.expm1(returns[i])),
                    "deviations": float(deviations[i]),
                }
                for i in at
            ]
    report["spikes"] = {"k": spike_k, "count": len(spikes), "spikes": spikes[:MAX_LISTED]}
    flat = np.zeros(len(ts), dtype=bool)
    if len(ts) > 1:
        same = (candles.open == candles.high) & (candles.high == candles.low) & (candles.low == candles.close)
        flat[1:] = same[1:] & (candles.close[1:] == candles.close[:-1])
    stretches = _runs(flat, flat_min_candles)
    report["flat_stretches"] = {"min_candles": flat_min_candles, **_runs_dict(stretches, ts, step, "stretches")}
    behind = trailing[0].missing if trailing else 0
    report["stale_end"] = {
        "stale": behind > 0,
        "candles_behind": behind,
        "until": iso_utc(closed_end) if len(ts) else None,
    }
    return report
