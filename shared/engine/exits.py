"""Where and why each candidate trade would end — computed for every candidate entry at once.

A candidate is a bar whose open could fill an entry (the entry rules held at the previous close).
A trade's exit depends only on its entry bar, never on earlier trades: stops are relative to the
entry fill price, the trailing stop follows the bars after the entry, and the liquidation price
follows from the entry price and the leverage. So exits are resolved for all candidates with array
operations, and the actual trade sequence is picked afterwards by `chain.follow_chain`.

Work is spent only where a stop can matter: the signal exit of every candidate comes from one
`searchsorted`; each candidate's window (entry bar up to its signal exit) is then checked, via
one `reduceat` per price series over the window boundaries, for whether any stop level is
reachable at all; only the candidates that pass are scanned bar by bar, in growing 2-D blocks,
to find the first bar that triggers.

Prices inside the stop search are "signed" (multiplied by the direction, +1 long / -1 short), so a
short is searched exactly like a long: the adverse series is `low` (long) or `-high` (short), the
favourable series is `high` or `-low`, and every comparison reads "adverse <= level" or
"favourable >= level". Negation is exact in floating point, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.candles import Candles
from shared.engine.rules import EngineRules

EXIT_REASONS = ("signal", "stop_loss", "take_profit", "trailing_stop", "liquidation", "open", "reversal")
SIGNAL, STOP_LOSS, TAKE_PROFIT, TRAILING_STOP, LIQUIDATION, OPEN, REVERSAL = range(len(EXIT_REASONS))

# Cells (candidates x bars) gathered per scan step: bounds the scan's memory to a few MB.
_SCAN_CELLS = 1 << 18
_SCAN_FIRST_WIDTH = 8


@dataclass(frozen=True, eq=False)
class CandidateExits:
    """Column arrays, one row per candidate entry, sorted by `fill_bar`.

    `exit_bar` is the bar during which the exit fills (at its open for a signal exit, intrabar for
    a stop); it is len(candles) for a trade still open at the end, whose `exit_price` is then the
    last close (the mark price).
    """

    fill_bar: NDArray[Any]
    entry_price: NDArray[Any]
    exit_bar: NDArray[Any]
    exit_price: NDArray[Any]
    exit_reason: NDArray[Any]  # int8 index into EXIT_REASONS
    ambiguous: NDArray[Any]  # bool: the exit bar held both a stop and the take-profit (same_bar_priority decided)

    def __len__(self) -> int:
        return len(self.fill_bar)


def resolve_exits(candles: Candles, entry: NDArray[Any], exit: NDArray[Any], rules: EngineRules) -> CandidateExits:
    """Exit of the trade that would open at each candidate bar.

    entry[t] / exit[t]: the rules held at bar t's close. A candidate fills at the next bar's open,
    so the last bar's signals never fill. The signal exit is the first exit signal at or after the
    entry bar's close, filled at the following open; stops are checked from the entry bar itself
    up to (not including) the bar where that signal exit fills, because a signal exit at a bar's
    open comes before that bar's stops.
    """
    n = len(candles)
    d = rules.direction
    fill_bar = np.flatnonzero(entry[:-1]) + 1
    exit_signal_bars = np.flatnonzero(exit[:-1])
    # A sentinel "signal" at the last bar fills at n, meaning: no signal exit before the data ends.
    following = np.append(exit_signal_bars, n - 1)
    signal_exit_bar = following[np.searchsorted(exit_signal_bars, fill_bar)] + 1

    entry_price = candles.open[fill_bar] * (1.0 + d * rules.slippage)
    is_open = signal_exit_bar == n
    exit_price = candles.open[np.minimum(signal_exit_bar, n - 1)] * (1.0 - d * rules.slippage)
    exit_price[is_open] = candles.close[n - 1]
    exit_reason = np.where(is_open, OPEN, SIGNAL).astype(np.int8)
    exit_bar = signal_exit_bar.copy()
    ambiguous = np.zeros(len(fill_bar), dtype=bool)

    if rules.has_price_exits and len(fill_bar):
        levels = _StopLevels.for_entries(entry_price, rules)
        rows = _rows_that_may_stop(candles, fill_bar, signal_exit_bar, levels, d)
        if len(rows):
            stop = _scan_first_stop(candles, rows, fill_bar[rows], signal_exit_bar[rows], levels, rules)
            exit_bar[stop.rows] = stop.bar
            exit_price[stop.rows] = stop.price
            exit_reason[stop.rows] = stop.reason
            ambiguous[stop.rows] = stop.ambiguous

    return CandidateExits(fill_bar, entry_price, exit_bar, exit_price, exit_reason, ambiguous)


def first_price_exits(
    candles: Candles, entry_price: NDArray[Any], start_bar: NDArray[Any], end_bar: NDArray[Any], rules: EngineRules
) -> _StopHits:
    """The stop-loss, take-profit, trailing-stop or liquidation exit of positions entered at any
    price (a replayed trade's actual fill, not a bar's open): for each row, the first bar in
    [start_bar, end_bar) that triggers, with the fill price and reason of the conventions above.
    Rows that never trigger are absent (`rows` indexes the inputs). Windows may overlap in any
    way: every row is scanned on its own, without the nested-window pre-check."""
    entry_price = np.asarray(entry_price, dtype=np.float64)
    rows = np.arange(len(entry_price) if rules.has_price_exits else 0)
    levels = _StopLevels.for_entries(entry_price, rules)
    return _scan_first_stop(candles, rows, np.asarray(start_bar)[rows], np.asarray(end_bar)[rows], levels, rules)


@dataclass(frozen=True, eq=False)
class _StopLevels:
    """Signed price levels per candidate (-inf / +inf where a level does not exist)."""

    entry: NDArray[Any]  # signed entry price: where the trailing stop's peak starts
    stop_loss: NDArray[Any]
    liquidation: NDArray[Any]
    adverse: NDArray[Any]  # max(stop_loss, liquidation): the fixed part of the adverse level
    take_profit: NDArray[Any]
    trail_factor: float | None  # signed trailing level = signed peak * trail_factor

    @classmethod
    def for_entries(cls, entry_price: NDArray[Any], rules: EngineRules) -> _StopLevels:
        d = rules.direction
        signed_entry = d * entry_price
        missing_low = np.full(len(entry_price), -np.inf)
        stop_loss = missing_low if rules.stop_loss is None else signed_entry * (1.0 - d * rules.stop_loss)
        liquidation = d * rules.liquidation_price(entry_price) if rules.can_liquidate else missing_low
        take_profit = (
            np.full(len(entry_price), np.inf)
            if rules.take_profit is None
            else signed_entry * (1.0 + d * rules.take_profit)
        )
        trail = None if rules.trailing_stop is None else 1.0 - d * rules.trailing_stop
        return cls(signed_entry, stop_loss, liquidation, np.maximum(stop_loss, liquidation), take_profit, trail)

    def take(self, rows: NDArray[Any]) -> _StopLevels:
        return _StopLevels(
            self.entry[rows],
            self.stop_loss[rows],
            self.liquidation[rows],
            self.adverse[rows],
            self.take_profit[rows],
            self.trail_factor,
        )


def _rows_that_may_stop(
    candles: Candles, fill_bar: NDArray[Any], window_end: NDArray[Any], levels: _StopLevels, d: int
) -> NDArray[Any]:
    """Candidates whose window [fill_bar, window_end) reaches a stop level at some bar (a superset
    for trailing stops, whose level is bounded by the window's best price)."""
    if d > 0:
        worst = _window_extremes(candles.low, np.minimum, fill_bar, window_end)
        best = _window_extremes(candles.high, np.maximum, fill_bar, window_end)
    else:
        worst = -_window_extremes(candles.high, np.maximum, fill_bar, window_end)
        best = -_window_extremes(candles.low, np.minimum, fill_bar, window_end)
    may_stop = (worst <= levels.adverse) | (best >= levels.take_profit)
    if levels.trail_factor is not None:
        may_stop |= worst <= np.maximum(levels.entry, best) * levels.trail_factor
    return np.flatnonzero(may_stop)


def _window_extremes(series: NDArray[Any], ufunc: np.ufunc, start: NDArray[Any], end: NDArray[Any]) -> NDArray[Any]:
    """ufunc (np.minimum / np.maximum) of series over each window [start_j, end_j), in O(n) plus
    O(m log m) for m windows, however long and however overlapping they are.

    Windows here are either disjoint or nested with a common end (candidates that share their
    signal exit). The window boundaries cut the series into segments; one `reduceat` gives each
    segment's extreme, and a suffix scan within each group of nested windows (doubling steps,
    never crossing the group's end) turns it into each window's extreme.
    """
    n = len(series)
    cuts = np.concatenate((start, end[end < n]))
    cuts.sort(kind="stable")  # two sorted runs: a linear merge
    distinct = np.empty(len(cuts), dtype=bool)
    distinct[0] = True
    np.not_equal(cuts[1:], cuts[:-1], out=distinct[1:])
    cuts = cuts[distinct]
    extreme = ufunc.reduceat(series, cuts)  # segment i = [cuts[i], cuts[i+1]), the last one to n
    first = np.searchsorted(cuts, start)
    stop = np.searchsorted(cuts, end)  # len(cuts) for windows ending at n
    reach = np.arange(1, len(cuts) + 1)  # exclusive end of each segment's group (itself alone
    reach[first] = stop  # unless it starts a window)
    positions = np.arange(len(cuts))
    span, widest = 1, int((stop - first).max())
    while span < widest:  # after this step, extreme[s] covers segments [s, s + 2*span) of its group
        ahead = positions + span
        inside = np.flatnonzero(ahead < reach)
        extreme[inside] = ufunc(extreme[inside], extreme[ahead[inside]])
        span *= 2
    return extreme[first]


@dataclass(frozen=True, eq=False)
class _StopHits:
    rows: NDArray[Any]
    bar: NDArray[Any]
    price: NDArray[Any]
    reason: NDArray[Any]
    ambiguous: NDArray[Any]


def _scan_first_stop(
    candles: Candles,
    rows: NDArray[Any],
    start: NDArray[Any],
    end: NDArray[Any],
    all_levels: _StopLevels,
    rules: EngineRules,
) -> _StopHits:
    """First bar in [start, end) at which each row's stop, take-profit, trailing stop or
    liquidation triggers, scanned in 2-D blocks whose width doubles while rows stay unresolved.

    The trailing level at bar b uses the best price up to bar b-1 (and the entry price), never bar
    b's own high: within one bar the order of high and low is unknown, so the bar's extreme only
    moves the stop from the next bar on.
    """
    n = len(candles)
    d = rules.direction
    levels = all_levels.take(rows)
    adverse_series, favourable_series = (candles.low, candles.high) if d > 0 else (candles.high, candles.low)

    def signed(series: NDArray[Any], bars: NDArray[Any]) -> NDArray[Any]:
        values = series[bars]
        return values if d > 0 else np.negative(values, out=values)

    peak = levels.entry.copy()
    position = start.copy()
    active = np.arange(len(rows))
    hit_parts: list[tuple[Any, ...]] = []  # per scan: rows, bars, hits, levels, trail levels (or None)
    width = _SCAN_FIRST_WIDTH
    while active.size:
        columns = np.arange(width)
        bars = position[active, None] + columns
        in_window = bars < end[active, None]
        np.minimum(bars, n - 1, out=bars)
        adverse = signed(adverse_series, bars)
        favourable = signed(favourable_series, bars)
        level = levels.adverse[active, None]
        trail = None
        if levels.trail_factor is not None:
            running = np.maximum.accumulate(favourable, axis=1)
            prior_peak = np.empty_like(running)
            prior_peak[:, 0] = peak[active]
            np.maximum(running[:, :-1], peak[active, None], out=prior_peak[:, 1:])
            trail = prior_peak * levels.trail_factor
            level = np.maximum(level, trail)
        hit_adverse = adverse <= level
        hit_favourable = favourable >= levels.take_profit[active, None]
        hit = (hit_adverse | hit_favourable) & in_window
        first = hit.argmax(axis=1)
        picked = np.arange(len(active))
        found = hit[picked, first]
        if found.any():
            cell = (picked[found], first[found])
            hit_parts.append(
                (
                    active[found],
                    bars[cell],
                    hit_adverse[cell],
                    hit_favourable[cell],
                    np.broadcast_to(level, hit.shape)[cell],
                    None if trail is None else trail[cell],
                )
            )
        unresolved = ~found & (position[active] + width < end[active])
        if levels.trail_factor is not None:
            peak[active] = np.maximum(peak[active], running[:, -1])
        position[active] += width
        active = active[unresolved]
        if active.size:
            width = max(_SCAN_FIRST_WIDTH, min(2 * width, _SCAN_CELLS // active.size))

    if not hit_parts:
        empty = np.empty(0, dtype=np.intp)
        return _StopHits(empty, empty, np.empty(0), np.empty(0, dtype=np.int8), np.empty(0, dtype=bool))
    merged: list[Any] = [np.concatenate(part) if part[0] is not None else None for part in zip(*hit_parts)]
    local, bar, hit_adverse, hit_favourable, level, trail = merged
    return _price_stop_hits(
        candles, rows[local], bar, hit_adverse, hit_favourable, level, trail, levels.take(local), rules
    )


def _price_stop_hits(
    candles: Candles,
    rows: NDArray[Any],
    bar: NDArray[Any],
    hit_adverse: NDArray[Any],
    hit_favourable: NDArray[Any],
    adverse_level: NDArray[Any],
    trail: NDArray[Any] | None,
    levels: _StopLevels,
    rules: EngineRules,
) -> _StopHits:
    """Fill price and reason at the triggering bar, all in signed prices.

    The open comes first: a gap through the take-profit fills it at the open; a gap through the
    adverse level fills at the open. Otherwise, when both sides are inside the bar's range (an
    ambiguous bar), the adverse side is assumed to come first (stop-loss wins) unless
    same_bar_priority is take_profit. Stop fills pay slippage; the take-profit is a limit order
    and does not. A fill at or beyond the liquidation price is a liquidation, reported at the
    liquidation price (the whole committed margin is lost).
    """
    d = rules.direction
    bar_open = d * candles.open[bar]
    take_profit_gap = hit_favourable & (bar_open >= levels.take_profit)
    ambiguous = hit_adverse & hit_favourable & ~take_profit_gap & (bar_open > adverse_level)
    adverse = hit_adverse & ~take_profit_gap
    if rules.take_profit_first:
        adverse &= ~ambiguous
    stop_fill = np.minimum(bar_open, adverse_level) * (1.0 - d * rules.slippage)
    liquidated = adverse & (stop_fill <= levels.liquidation)
    stop_reason: NDArray[np.int8]
    if trail is None:
        stop_reason = np.full(len(bar), STOP_LOSS, dtype=np.int8)
    else:
        stop_reason = np.where(levels.stop_loss >= trail, STOP_LOSS, TRAILING_STOP).astype(np.int8)
    reason = np.where(adverse, np.where(liquidated, LIQUIDATION, stop_reason), TAKE_PROFIT).astype(np.int8)
    signed_price = np.where(
        adverse,
        np.where(liquidated, levels.liquidation, stop_fill),
        np.maximum(bar_open, levels.take_profit),
    )
    return _StopHits(rows, bar, d * signed_price, reason, ambiguous)
