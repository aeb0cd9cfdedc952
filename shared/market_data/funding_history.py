"""A symbol's stored funding-rate history: how new rates join it, and the store's port.

Rates are merged like candles: a rate already stored identically changes nothing, a new time is
added, and a different rate at a stored time is refused (nothing written), so two sources can
never silently mix. Within one batch, identical repeats are dropped and conflicting ones refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.errors import FieldError, ValidationFailed
from shared.market_data.funding import FundingRates
from shared.times import iso_utc

MAX_LISTED_CONFLICTS = 100


def empty_funding() -> FundingRates:
    return FundingRates(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))


def funding_rates(times: NDArray[Any], rates: NDArray[Any]) -> FundingRates:
    """FundingRates from unordered rows: sorted by time, identical repeats dropped; ValidationFailed
    naming each time given two different rates, or a rate that is not a finite number."""
    times = np.asarray(times, dtype=np.int64)
    rates = np.asarray(rates, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(rates))
    if len(bad):
        raise ValidationFailed(
            f"{len(bad)} funding rates are not numbers",
            [
                FieldError(iso_utc(times[i]), "the funding rate is not a finite number")
                for i in bad[:MAX_LISTED_CONFLICTS]
            ],
        )
    order = np.lexsort((rates, times))
    times, rates = times[order], rates[order]
    keep = np.ones(len(times), dtype=bool)
    keep[1:] = (times[1:] != times[:-1]) | (rates[1:] != rates[:-1])
    times, rates = times[keep], rates[keep]
    clash = np.flatnonzero(times[1:] == times[:-1])
    if len(clash):
        raise ValidationFailed(
            f"{len(clash)} funding times are given different rates",
            [
                FieldError(
                    iso_utc(times[i]), f"two different funding rates: {float(rates[i])!r} and {float(rates[i + 1])!r}"
                )
                for i in clash[:MAX_LISTED_CONFLICTS]
            ],
        )
    return FundingRates(times, rates)


def funding_dicts(rates: FundingRates) -> list[dict[str, Any]]:
    """The API's shape: `{time, rate}` per funding event, oldest first."""
    return [{"time": iso_utc(t), "rate": r} for t, r in zip(rates.times.tolist(), rates.rates.tolist(), strict=True)]


@dataclass(frozen=True)
class FundingMerge:
    """The series after a merge, and how many incoming rates were new or already stored."""

    rates: FundingRates
    added: int
    unchanged: int


def merge_funding(stored: FundingRates, incoming: FundingRates) -> FundingMerge:
    """`incoming` (as made by funding_rates) joined to `stored`; ValidationFailed, naming each
    time, when an incoming rate contradicts a stored one."""
    position = np.searchsorted(stored.times, incoming.times)
    inside = position < len(stored.times)
    matched = np.zeros(len(incoming.times), dtype=bool)
    matched[inside] = stored.times[position[inside]] == incoming.times[inside]
    stored_rate = np.full(len(incoming.times), np.nan)
    stored_rate[matched] = stored.rates[position[matched]]
    differs = np.flatnonzero(matched & (stored_rate != incoming.rates))
    if len(differs):
        raise ValidationFailed(
            f"{len(differs)} funding rates differ from the stored ones",
            [
                FieldError(
                    iso_utc(incoming.times[i]),
                    f"stored rate {float(stored_rate[i])!r}, this one {float(incoming.rates[i])!r}",
                )
                for i in differs[:MAX_LISTED_CONFLICTS]
            ],
        )
    new = ~matched
    times = np.concatenate((stored.times, incoming.times[new]))
    rates = np.concatenate((stored.rates, incoming.rates[new]))
    order = np.argsort(times, kind="stable")
    return FundingMerge(FundingRates(times[order], rates[order]), int(new.sum()), int(matched.sum()))
