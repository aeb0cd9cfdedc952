"""Perpetual funding-rate history: the one shape the importers produce and the engine consumes.

A series holds, for one symbol, each funding time (epoch ms, UTC, strictly increasing) and the rate
paid at it as a fraction (Binance's and Bybit's `fundingRate` as sent: 0.0001 = 0.01 %). A positive
rate means longs pay shorts.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray


class FundingRates(NamedTuple):
    """Funding times (int64 epoch ms, strictly increasing) and rates (float64 fractions)."""

    times: NDArray[Any]
    rates: NDArray[Any]

    def between(self, start_ms: int, end_ms: int) -> FundingRates:
        """The funding events with start_ms <= time <= end_ms."""
        lo = int(np.searchsorted(self.times, start_ms, side="left"))
        hi = int(np.searchsorted(self.times, end_ms, side="right"))
        return FundingRates(self.times[lo:hi], self.rates[lo:hi])
