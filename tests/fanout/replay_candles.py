"""The hourly candles the transaction-replay suites trade against (tests/test_transactions_replay.py
works its expected numbers out on them; the API and the local-stack suites replay over the same)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shared.candles import Candles

HOUR_MS = 3_600_000
# bar:        0    1    2    3    4    5    6    7    8    9   10   11
OPEN = [100, 100, 101, 102, 105, 106, 97, 96, 95, 94, 93, 92]
HIGH = [101, 102, 103, 106, 107, 106, 98, 97, 96, 95, 94, 93]
LOW = [99, 99, 100, 101, 104, 96, 95, 94, 93, 92, 91, 90]
CLOSE = [100, 101, 102, 105, 106, 97, 96, 95, 94, 93, 92, 91]


def replay_candles(
    start_ms: int,
    open_: Sequence[float] = OPEN,
    high: Sequence[float] = HIGH,
    low: Sequence[float] = LOW,
    close: Sequence[float] = CLOSE,
) -> Candles:
    """Bar i opens at `start_ms` + i hours; volume 1 each."""
    n = len(open_)
    return Candles.from_arrays(start_ms + np.arange(n) * HOUR_MS, open_, high, low, close, np.ones(n))
