"""Missing candles in a series: allowed (exchanges halt, files have holes) but always reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.timeframes import timeframe_ms
from shared.times import iso_utc

MAX_REPORTED_GAPS = 20


@dataclass(frozen=True)
class Gap:
    """Candles missing with open times in [start_ms, end_ms)."""

    start_ms: int
    end_ms: int
    missing: int

    def to_dict(self) -> dict[str, Any]:
        return {"start": iso_utc(self.start_ms), "end": iso_utc(self.end_ms), "missing_candles": self.missing}


@dataclass(frozen=True)
class GapReport:
    """All gaps counted; the first MAX_REPORTED_GAPS (in time order) listed."""

    missing_candles: int
    gap_count: int
    gaps: tuple[Gap, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "missing_candles": self.missing_candles,
            "gap_count": self.gap_count,
            "gaps": [gap.to_dict() for gap in self.gaps],
        }


NO_GAPS = GapReport(0, 0, ())


def find_gaps(ts: NDArray[Any], timeframe: str) -> GapReport:
    """Gaps between consecutive candles of sorted, unique, aligned open times `ts`."""
    step = timeframe_ms(timeframe)
    if len(ts) < 2:
        return NO_GAPS
    missing = np.diff(ts) // step - 1
    at = np.flatnonzero(missing > 0)
    listed = tuple(Gap(int(ts[i]) + step, int(ts[i + 1]), int(missing[i])) for i in at[:MAX_REPORTED_GAPS])
    return GapReport(int(missing[at].sum()), len(at), listed)
