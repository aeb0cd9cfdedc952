"""Merging validated candles into what a series already holds: new candles are added, identical
ones are left alone, and one that disagrees with a stored candle rejects the whole file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.candles import PRICE_FIELDS, Candles
from shared.market_data.store import month_name, month_spans
from shared.market_data.validation import Finding, ValidCandles, describe_differences, reject
from shared.times import iso_utc


@dataclass(frozen=True, eq=False)
class MergePlan:
    """The months an import changes (each with its complete new content) and what it did."""

    months: dict[str, Candles]
    added: int
    unchanged: int


def plan_merge(stored: Candles, incoming: ValidCandles) -> MergePlan:
    """Merge `incoming` into `stored` (the stored candles of every month `incoming` touches)."""
    new = incoming.candles
    position = np.searchsorted(stored.ts, new.ts)
    present = np.zeros(len(new), dtype=bool)
    same = np.zeros(len(new), dtype=bool)
    if len(stored):
        at = np.minimum(position, len(stored) - 1)  # past the end: compares with the last, never equal
        present = stored.ts[at] == new.ts
        same = present & np.all([getattr(stored, name)[at] == getattr(new, name) for name in PRICE_FIELDS], axis=0)
    conflicts = np.flatnonzero(present & ~same)
    if len(conflicts):
        raise reject(
            [Finding(incoming.rows[conflicts], lambda k: _conflict(stored, position, new, int(conflicts[k])))],
            incoming.locator,
            "the file conflicts with stored candles",
        )
    added = ~present
    if not added.any():
        return MergePlan({}, 0, len(new))
    fresh = new if not present.any() else Candles(*(getattr(new, n)[added] for n in ("ts", *PRICE_FIELDS)))
    merged = _merged(stored, fresh)
    months: dict[str, Candles] = {}
    touched = {month for month, _, _ in month_spans(fresh.ts)}
    for month, lo, hi in month_spans(merged.ts):
        if month in touched:
            months[month_name(month)] = merged.slice(lo, hi)
    return MergePlan(months, len(fresh), int(np.count_nonzero(present)))


def _merged(stored: Candles, fresh: Candles) -> Candles:
    """Both sorted series as one; no copy into a new series (the usual first import), no sort when
    one ends before the other starts (appending the latest candles)."""
    if not len(stored):
        return fresh
    first, second = (stored, fresh) if stored.ts[-1] < fresh.ts[0] else (fresh, stored)
    joined = [np.concatenate((getattr(first, n), getattr(second, n))) for n in ("ts", *PRICE_FIELDS)]
    if first.ts[-1] < second.ts[0]:
        return Candles(*joined)
    order = np.argsort(joined[0], kind="stable")
    return Candles(*(column[order] for column in joined))


def _conflict(stored: Candles, position: NDArray[Any], new: Candles, index: int) -> str:
    return f"the candle at {iso_utc(new.ts[index])} differs from the stored one: " + describe_differences(
        stored, int(position[index]), new, index, "stored", "in the file"
    )
