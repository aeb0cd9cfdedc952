"""What a backtest produces: columnar trades, the equity curve, the summary, drawdown periods.

Trades stay as NumPy columns (building tens of thousands of dicts costs more than the whole
simulation); `to_records()` / `to_dict()` produce JSON-ready rows with ISO-8601 UTC times only
when a caller needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.candles import Candles
from shared.engine.exits import EXIT_REASONS
from shared.metrics import DrawdownPeriods
from shared.times import iso_utc_array

SIDES = {1: "long", -1: "short"}


@dataclass(frozen=True, eq=False)
class Trades:
    """One row per trade, in time order. A trade still open at the end has exit_bar = exit_time
    = -1, exit_reason "open" and exit_price = the last close (the price its pnl is marked at).

    A position closed in parts (take-profit levels) gives one row per part, `leg` 1, 2, ... in
    exit order; a pyramided position is one row at its average entry price. `funding`: funding
    paid (negative: received) while the row's quantity was open, already in its pnl.
    """

    entry_bar: NDArray[Any]  # int64
    exit_bar: NDArray[Any]  # int64, -1 while open
    entry_time: NDArray[Any]  # int64 epoch ms (the fill bar's open time)
    exit_time: NDArray[Any]  # int64 epoch ms, -1 while open
    side: NDArray[Any]  # int8, +1 long / -1 short
    entry_price: NDArray[Any]
    exit_price: NDArray[Any]
    quantity: NDArray[Any]
    pnl: NDArray[Any]  # after both sides' fees
    pnl_percentage: NDArray[Any]  # pnl / (entry notional / leverage) * 100: return on the margin
    fees: NDArray[Any]
    exit_reason: NDArray[Any]  # int8 index into EXIT_REASONS
    funding: NDArray[Any] | None = None  # float64; None: no funding (zeros)
    leg: NDArray[Any] | None = None  # int16; None: every position closed at once (ones)
    # Maximum adverse / favourable excursion in price (>= 0) and bars held: `with_excursions`.
    mae: NDArray[Any] | None = None
    mfe: NDArray[Any] | None = None
    bars: NDArray[Any] | None = None  # int64: exit_bar - entry_bar, or bars so far while open

    def __post_init__(self) -> None:
        count = len(self.entry_bar)
        if self.funding is None:
            object.__setattr__(self, "funding", np.zeros(count))
        if self.leg is None:
            object.__setattr__(self, "leg", np.ones(count, dtype=np.int16))

    def __len__(self) -> int:
        return len(self.entry_bar)

    @property
    def is_open(self) -> NDArray[Any]:
        return self.exit_bar < 0

    def with_excursions(self, candles: Candles) -> Trades:
        """These trades with mae, mfe and bars filled in from the candles they were traded on.

        A position is open from its fill bar's open to its exit: the excursions range over the
        highs and lows of the bars from the fill bar up to (not including) the exit bar, the
        entry price and the exit price (a stop's fill is the extreme its exit bar reached before
        the exit; the rest of that bar came after). A trade still open spans to the last bar.
        """
        n = len(candles)
        end = np.where(self.is_open, n, self.exit_bar)
        lowest = np.minimum(self.entry_price, self.exit_price)
        highest = np.maximum(self.entry_price, self.exit_price)
        closed_span = (end > self.entry_bar) & (end < n)
        if closed_span.any():
            # reduceat over [start, end) pairs: the even positions (end < n is a valid index).
            bounds = np.empty(2 * int(closed_span.sum()), dtype=np.intp)
            bounds[0::2], bounds[1::2] = self.entry_bar[closed_span], end[closed_span]
            lowest[closed_span] = np.minimum(lowest[closed_span], np.minimum.reduceat(candles.low, bounds)[0::2])
            highest[closed_span] = np.maximum(highest[closed_span], np.maximum.reduceat(candles.high, bounds)[0::2])
        for row in np.flatnonzero((end == n) & (end > self.entry_bar)):  # still open: few
            start = int(self.entry_bar[row])
            lowest[row] = min(lowest[row], float(candles.low[start:].min()))
            highest[row] = max(highest[row], float(candles.high[start:].max()))
        long = self.side > 0
        adverse = np.where(long, self.entry_price - lowest, highest - self.entry_price)
        favourable = np.where(long, highest - self.entry_price, self.entry_price - lowest)
        return replace(self, mae=adverse, mfe=favourable, bars=(end - self.entry_bar).astype(np.int64))

    def excursion_percentages(self) -> tuple[NDArray[Any], NDArray[Any]]:
        """(mae, mfe) in percent of the entry price."""
        if self.mae is None or self.mfe is None:
            raise ValueError("excursions not computed: call with_excursions first")
        return 100.0 * self.mae / self.entry_price, 100.0 * self.mfe / self.entry_price

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready dicts with the API's trade fields (plus entry_bar / exit_bar)."""
        is_open = self.is_open.tolist()
        known_exit_times = iso_utc_array(np.where(self.is_open, self.entry_time, self.exit_time))
        exit_times = [None if still_open else text for text, still_open in zip(known_exit_times, is_open)]
        exit_bars = [None if still_open else bar for bar, still_open in zip(self.exit_bar.tolist(), is_open)]
        columns = {
            "entry_time": iso_utc_array(self.entry_time),
            "entry_price": self.entry_price.tolist(),
            "exit_time": exit_times,
            "exit_price": self.exit_price.tolist(),
            "quantity": self.quantity.tolist(),
            "side": [SIDES[side] for side in self.side.tolist()],
            "pnl": self.pnl.tolist(),
            "pnl_percentage": self.pnl_percentage.tolist(),
            "fees": self.fees.tolist(),
            "funding": np.asarray(self.funding).tolist(),
            "leg": np.asarray(self.leg).tolist(),
            "entry_reason": ["signal"] * len(self),
            "exit_reason": [EXIT_REASONS[code] for code in self.exit_reason.tolist()],
            "entry_bar": self.entry_bar.tolist(),
            "exit_bar": exit_bars,
        }
        if self.mae is not None and self.mfe is not None and self.bars is not None:
            mae_percentage, mfe_percentage = self.excursion_percentages()
            columns |= {
                "mae": self.mae.tolist(),
                "mfe": self.mfe.tolist(),
                "mae_percentage": mae_percentage.tolist(),
                "mfe_percentage": mfe_percentage.tolist(),
                "bars": self.bars.tolist(),
            }
        keys = tuple(columns)
        return [dict(zip(keys, row)) for row in zip(*columns.values())]


def drawdown_records(periods: DrawdownPeriods, timestamps: NDArray[Any]) -> list[dict[str, Any]]:
    """Drawdown periods with ISO-8601 times of their start (peak), trough and recovery."""
    recovered = (periods.recovery >= 0).tolist()
    recovery_times = iso_utc_array(timestamps[np.maximum(periods.recovery, 0)]) if len(periods) else []
    return [
        {
            "start": start,
            "trough": trough,
            "recovery": recovery if ok else None,
            "depth": depth,
            "depth_percentage": depth_percentage,
        }
        for start, trough, recovery, ok, depth, depth_percentage in zip(
            iso_utc_array(timestamps[periods.start]),
            iso_utc_array(timestamps[periods.trough]),
            recovery_times,
            recovered,
            periods.depth.tolist(),
            periods.depth_percentage.tolist(),
        )
    ]


@dataclass(frozen=True, eq=False)
class BacktestResult:
    trades: Trades
    equity_curve: NDArray[Any]  # float64, mark-to-market at each close, aligned with timestamps
    timestamps: NDArray[Any]  # the candles' ts (epoch ms)
    initial_balance: float
    final_balance: float
    performance_summary: dict[str, Any]
    drawdown_periods: DrawdownPeriods

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the CLI prints and the API stores."""
        return {
            "initial_balance": self.initial_balance,
            "final_balance": self.final_balance,
            "performance_summary": self.performance_summary,
            "trades": self.trades.to_records(),
            "drawdown_periods": drawdown_records(self.drawdown_periods, self.timestamps),
        }
