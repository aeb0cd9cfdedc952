"""Performance metrics: pure functions of the trades, the equity curve and the candles.

Definitions (percentages in percent; "None" where the quantity is undefined, never a made-up 0):

- Closed trades are those with an exit (`exit_bar >= 0`); a trade still open at the end counts
  in the equity (and so in total_pnl, drawdown, Sharpe, ...) but not in the trade statistics.
  winning: pnl > 0, losing: pnl < 0 (a pnl of exactly 0 is neither).
- win_rate = 100 * winning / total closed (None without closed trades).
- profit_factor = sum(pnl of winners) / -sum(pnl of losers); None when there is no losing trade.
- expectancy = mean pnl per closed trade; average_win / average_loss = mean pnl of winners /
  losers (average_loss is negative); None when the set is empty.
- max_consecutive_losses: longest run of consecutive losing closed trades (0 if none).
- Per-bar returns r_t = equity_t / equity_{t-1} - 1 for t = 1..n-1 (0 once equity is 0), N = n-1.
  sharpe_ratio = mean(r) / std(r, ddof=1) * sqrt(B), B = bars_per_year(timeframe), risk-free 0;
  sortino_ratio = mean(r) / sqrt(sum(min(r_t, 0)^2) / N) * sqrt(B) (downside deviation against a
  target of 0, over all N returns). Both None when N < 2 or the deviation is 0.
- Drawdown: peak_t = max(equity_0..t); max_drawdown = max(peak_t - equity_t) (currency);
  max_drawdown_percentage = max(100 * (peak_t - equity_t) / peak_t). The two maxima may come from
  different periods.
- total_pnl = final - initial equity; total_pnl_percentage = 100 * total_pnl / initial.
- cagr = 100 * ((final / initial) ** (1 / years) - 1), years = (last ts - first ts + one bar) /
  365 days; -100 when final is 0; None when it overflows a float (a big gain over hours).
  calmar_ratio = cagr / max_drawdown_percentage (None if 0).
- exposure = 100 * (closes at which a position is open) / n.
- buy_and_hold_return = 100 * (last close / first open - 1), no fees;
  buy_and_hold_outperformance = total_pnl_percentage - buy_and_hold_return.
- gross_profit = sum of winning pnl (0 without winners); gross_loss = sum of losing pnl (<= 0);
  largest_win / largest_loss = pnl of the best / worst closed trade; break_even_trades: pnl == 0;
  max_consecutive_wins: longest run of winning closed trades; average_trade = expectancy;
  win_loss_ratio = average_win / |average_loss|; commission_paid = sum of the fees of every
  trade, open ones included.
- average_bars_in_trade (_winning_ / _losing_): mean of exit_bar - entry_bar over the closed
  trades of the set; average_trade_duration: mean of exit_time - entry_time in seconds.
- sqn = sqrt(N) * mean(pnl) / std(pnl, ddof=1) over the N closed trades (None below 2 or when
  the deviation is 0); kelly = win_rate/100 - (1 - win_rate/100) / win_loss_ratio.
- recovery_factor = total_pnl / max_drawdown; ulcer_index = sqrt(mean over every bar of
  drawdown_percentage_t^2), drawdown_percentage_t = 100 * (peak_t - equity_t) / peak_t;
  max_run_up = max(equity_t - min(equity_0..t)), max_run_up_percentage = max of that rise in
  percent of the trough it started from; drawdown durations in bars from the peak to the
  recovery (to the last bar for a period still open): average_drawdown_duration (None without
  drawdown) and max_drawdown_duration (0 without).
- trades_per_day = closed trades / days of data (the span of the candles plus one bar).
- long / short: {trades, win_rate, total_pnl, profit_factor} of the closed trades of that side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray

from shared.candles import Candles
from shared.timeframes import YEAR_MS, bars_per_year, timeframe_ms

DAY_MS = 86_400_000
# Bars per block of the running-peak and running-trough computations (see _underwater, _run_up).
_PEAK_BLOCK = 1024
# Below this many drawdown periods, troughs are found by one argmin per period (see _first_at_lowest).
_TROUGH_LOOP_MAX_PERIODS = 500


class TradeColumns(Protocol):
    """What the metrics read from a trade list (the engine's `Trades` provides it)."""

    @property
    def entry_bar(self) -> NDArray[Any]: ...

    @property
    def exit_bar(self) -> NDArray[Any]:
        """-1 while open."""

    @property
    def pnl(self) -> NDArray[Any]: ...

    @property
    def entry_time(self) -> NDArray[Any]:
        """Epoch ms."""

    @property
    def exit_time(self) -> NDArray[Any]:
        """Epoch ms, -1 while open."""

    @property
    def side(self) -> NDArray[Any]:
        """+1 long / -1 short."""

    @property
    def fees(self) -> NDArray[Any]: ...


@dataclass(frozen=True, eq=False)
class DrawdownPeriods:
    """Column arrays, one row per underwater period in time order (bar indices into the curve).

    start: the bar of the peak the equity fell from; trough: the bar of the lowest equity in the
    period; recovery: the first bar back at or above the peak, -1 if the data ended first.
    The troughs are found on first read (a sweep's summaries need only depths and durations).
    """

    start: NDArray[Any]
    recovery: NDArray[Any]
    depth: NDArray[Any]
    depth_percentage: NDArray[Any]
    equity: NDArray[Any] = field(repr=False)  # the curve the periods are of
    lowest: NDArray[Any] = field(repr=False)  # each period's lowest equity

    def __len__(self) -> int:
        return len(self.start)

    @property
    def end(self) -> NDArray[Any]:
        """One past each period's last underwater bar (the recovery, or the curve's length)."""
        return np.where(self.recovery >= 0, self.recovery, len(self.equity))

    @cached_property
    def trough(self) -> NDArray[Any]:
        return _first_at_lowest(self.equity, self.start + 1, self.end, self.lowest)


class Drawdown(NamedTuple):
    max_drawdown: float
    max_drawdown_percentage: float
    drawdown_periods: DrawdownPeriods


def calculate_drawdown(equity_curve: NDArray[Any]) -> Drawdown:
    """Maximum drawdown (currency and percent of the peak) and every underwater period.

    Within one underwater period the peak is constant, so both maxima are maxima over the
    periods' depths.
    """
    periods = _underwater_periods(np.asarray(equity_curve, dtype=np.float64))
    if not len(periods):
        return Drawdown(0.0, 0.0, periods)
    return Drawdown(float(periods.depth.max()), float(periods.depth_percentage.max()), periods)


def _underwater(equity: NDArray[Any]) -> NDArray[Any]:
    """equity_t < max(equity_0..t), per bar (never true at bar 0).

    A running maximum is a slow sequential pass; it is only needed inside blocks that reach a
    new high. Blocks of _PEAK_BLOCK bars whose maximum stays below the peak entering them (most
    blocks of a curve that is mostly underwater or flat) compare with that one number instead.
    """
    n = len(equity)
    full = n - n % _PEAK_BLOCK
    rows = equity[:full].reshape(-1, _PEAK_BLOCK)
    row_max = rows.max(axis=1)
    entering = np.empty(len(rows))
    entering[:1] = -np.inf
    np.maximum.accumulate(row_max[:-1], out=entering[1:])
    underwater = np.empty(n, dtype=bool)
    block_underwater = underwater[:full].reshape(-1, _PEAK_BLOCK)
    np.less(rows, entering[:, None], out=block_underwater)
    rising = np.flatnonzero(row_max > entering)
    if len(rising):
        peaks = np.maximum.accumulate(rows[rising], axis=1)
        np.maximum(peaks, entering[rising, None], out=peaks)
        block_underwater[rising] = rows[rising] < peaks
    if full < n:
        tail_peak = np.maximum.accumulate(equity[full:])
        if len(rows):
            np.maximum(tail_peak, max(entering[-1], row_max[-1]), out=tail_peak)
        underwater[full:] = equity[full:] < tail_peak
    return underwater


def _underwater_periods(equity: NDArray[Any]) -> DrawdownPeriods:
    first_under, ends = _segments(_underwater(equity))
    if not len(first_under):
        empty = np.empty(0, dtype=np.int64)
        return DrawdownPeriods(empty, empty, np.empty(0), np.empty(0), equity, np.empty(0))
    lowest = _segment_extremes(np.minimum, equity, first_under, ends)
    top = equity[first_under - 1]  # the bar before a period is at the peak
    depth = top - lowest
    with np.errstate(divide="ignore", invalid="ignore"):
        depth_percentage = np.where(top > 0.0, 100.0 * depth / top, 0.0)
    return DrawdownPeriods(
        start=first_under - 1,
        recovery=np.where(ends == len(equity), -1, ends),
        depth=depth,
        depth_percentage=depth_percentage,
        equity=equity,
        lowest=lowest,
    )


def _segments(flags: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """(first, end) bars of each run of True in `flags` (which is False at bar 0), end exclusive."""
    changes = np.flatnonzero(flags[1:] != flags[:-1]) + 1  # bool: the fast nonzero path
    entering = flags[changes]
    first = changes[entering]
    ends = changes[~entering]
    return first, (np.append(ends, len(flags)) if len(ends) < len(first) else ends)


def _segment_extremes(extreme: np.ufunc, values: NDArray[Any], first: NDArray[Any], ends: NDArray[Any]) -> NDArray[Any]:
    """`extreme` (np.minimum / np.maximum) of values[first:end] per segment, by one reduceat over
    the curve."""
    starts = _boundaries(first, ends)
    # reduceat indices must be < n: the last start equals n exactly when the curve ends inside one.
    reduced: NDArray[Any] = extreme.reduceat(values, starts[:-1] if ends[-1] == len(values) else starts)[1::2]
    return reduced


def _boundaries(first: NDArray[Any], ends: NDArray[Any]) -> NDArray[Any]:
    """The starts of the segments that alternate outside / inside the (first, end) runs and cover
    the curve: [0, f0) [f0, e0) [e0, f1) ... (the last start is the length when a run is open)."""
    starts = np.empty(2 * len(first) + 1, dtype=np.intp)
    starts[0] = 0
    starts[1::2] = first
    starts[2::2] = ends
    return starts


def _first_at_lowest(
    equity: NDArray[Any], first_under: NDArray[Any], ends: NDArray[Any], lowest: NDArray[Any]
) -> NDArray[Any]:
    """First bar of each underwater segment (first_under .. ends) whose equity equals the
    segment's minimum. Few periods: one argmin per period; many: one vectorised pass over the
    curve (a per-bar copy of each segment's minimum), which costs more until periods number in
    the hundreds."""
    if len(first_under) <= _TROUGH_LOOP_MAX_PERIODS:
        return np.array(
            [start + int(np.argmin(equity[start:end])) for start, end in zip(first_under.tolist(), ends.tolist())],
            dtype=np.intp,
        )
    starts = _boundaries(first_under, ends)
    segment_lowest = np.full(len(starts), np.nan)
    segment_lowest[1::2] = lowest
    at_lowest = np.flatnonzero(equity == np.repeat(segment_lowest, np.diff(starts, append=len(equity))))
    return at_lowest[np.searchsorted(at_lowest, first_under)]


def return_ratios(equity_curve: NDArray[Any], periods_per_year: float) -> tuple[float | None, float | None]:
    """(sharpe_ratio, sortino_ratio) of the per-bar returns r_t = equity_t / equity_{t-1} - 1
    (0 where the previous equity is 0), annualised by sqrt(periods_per_year):
    sharpe = mean(r) / std(r, ddof=1), sortino = mean(r) / sqrt(sum(min(r, 0)^2) / N).
    Each is None below 2 returns or when its deviation is 0. One returns buffer is reused for the
    downside and the deviations: on a million bars every pass and every fresh array counts."""
    equity = np.asarray(equity_curve, dtype=np.float64)
    count = len(equity) - 1
    if count < 2:
        return None, None
    previous = equity[:-1]
    if previous.min() > 0.0:
        returns = np.divide(equity[1:], previous)
        returns -= 1.0
    else:
        alive = previous > 0.0
        returns = np.zeros(count)
        np.divide(equity[1:], previous, out=returns, where=alive)
        np.subtract(returns, 1.0, out=returns, where=alive)
    mean = float(returns.sum()) / count
    scratch = np.minimum(returns, 0.0)
    downside = math.sqrt(float(np.einsum("i,i->", scratch, scratch)) / count)
    np.subtract(returns, mean, out=scratch)
    deviation = math.sqrt(float(np.einsum("i,i->", scratch, scratch)) / (count - 1))
    annual = math.sqrt(periods_per_year)
    return (
        None if deviation == 0.0 else mean / deviation * annual,
        None if downside == 0.0 else mean / downside * annual,
    )


def performance_summary(
    trades: TradeColumns,
    equity_curve: NDArray[Any],
    candles: Candles,
    *,
    initial_balance: float,
    timeframe: str,
    drawdown: Drawdown | None = None,
) -> dict[str, Any]:
    """The seed's performance_summary plus the engine's full metrics set (definitions in the
    module docstring).
    `drawdown` may be passed when the caller already computed it for the same curve."""
    equity = np.asarray(equity_curve, dtype=np.float64)
    n = len(equity)
    drawdown = drawdown or calculate_drawdown(equity)
    closed = trades.exit_bar >= 0
    pnl = trades.pnl[closed]
    won, lost = pnl > 0.0, pnl < 0.0
    wins, losses = pnl[won], pnl[lost]
    gross_loss = -float(losses.sum())
    final = float(equity[-1]) if n else float(initial_balance)
    total_pnl = final - initial_balance
    sharpe, sortino = return_ratios(equity, bars_per_year(timeframe))
    cagr = _cagr(initial_balance, final, candles, timeframe)
    exposure_bars = _bars_held(trades.entry_bar, np.where(closed, trades.exit_bar, n))

    summary: dict[str, Any] = {
        "total_trades": len(pnl),
        "winning_trades": len(wins),
        "losing_trades": len(losses),
        "win_rate": 100.0 * len(wins) / len(pnl) if len(pnl) else None,
        "profit_factor": float(wins.sum()) / gross_loss if gross_loss > 0.0 else None,
        "max_drawdown": drawdown.max_drawdown,
        "max_drawdown_percentage": drawdown.max_drawdown_percentage,
        "sharpe_ratio": sharpe,
        "sortino_ratio": sortino,
        "total_pnl": total_pnl,
        "total_pnl_percentage": 100.0 * total_pnl / initial_balance,
        "cagr": cagr,
        "calmar_ratio": cagr / drawdown.max_drawdown_percentage
        if cagr is not None and drawdown.max_drawdown_percentage > 0.0
        else None,
        "exposure": 100.0 * exposure_bars / n if n else 0.0,
        "expectancy": _mean(pnl),
        "average_win": _mean(wins),
        "average_loss": _mean(losses),
        "max_consecutive_losses": _longest_run(lost),
        "buy_and_hold_return": 100.0 * (float(candles.close[-1]) / float(candles.open[0]) - 1.0)
        if len(candles)
        else None,
    }
    summary.update(_trade_statistics(trades, closed, pnl, won, lost))
    summary.update(_equity_statistics(equity, drawdown, total_pnl))
    summary["trades_per_day"] = len(pnl) / _days(candles, timeframe) if len(candles) else None
    side = trades.side[closed]
    summary["long"] = _side_summary(pnl[side == 1])
    summary["short"] = _side_summary(pnl[side == -1])
    buy_and_hold = summary["buy_and_hold_return"]
    summary["buy_and_hold_outperformance"] = (
        summary["total_pnl_percentage"] - buy_and_hold if buy_and_hold is not None else None
    )
    return summary


def _days(candles: Candles, timeframe: str) -> float:
    return (int(candles.ts[-1]) - int(candles.ts[0]) + timeframe_ms(timeframe)) / DAY_MS


def _cagr(initial: float, final: float, candles: Candles, timeframe: str) -> float | None:
    if not len(candles):
        return None
    years = (int(candles.ts[-1]) - int(candles.ts[0]) + timeframe_ms(timeframe)) / YEAR_MS
    if final <= 0.0:
        return -100.0
    try:
        return 100.0 * ((final / initial) ** (1.0 / years) - 1.0)
    except OverflowError:  # a large gain over a short span: the annual rate is not a number
        return None


def _longest_run(flags: NDArray[Any]) -> int:
    """The longest run of True: the longest piece of the flags' bytes (0 / 1) between zeros."""
    return max(map(len, np.ascontiguousarray(flags, dtype=np.bool_).tobytes().split(b"\x00")))


def _bars_held(entry: NDArray[Any], end: NDArray[Any]) -> int:
    """Bars in the union of the spans [entry, end) (the legs of a position closed in parts share
    their entry): taken by start, each span adds what lies beyond the furthest end before it."""
    if not len(entry):
        return 0
    order = np.argsort(entry, kind="stable")
    start, end = entry[order], end[order]
    begin = start.copy()
    np.maximum(start[1:], np.maximum.accumulate(end[:-1]), out=begin[1:])
    return int(np.maximum(end - begin, 0).sum())


def _mean(values: NDArray[Any]) -> float | None:
    """NumPy's mean (its pairwise sum over the count), without its overhead on short arrays."""
    return float(values.sum()) / len(values) if len(values) else None


def _trade_statistics(
    trades: TradeColumns, closed: NDArray[Any], pnl: NDArray[Any], won: NDArray[Any], lost: NDArray[Any]
) -> dict[str, float | int | None]:
    """The per-trade figures of closed trades (`won` / `lost`: pnl > 0 / < 0; fees: of every
    trade, open ones included)."""
    wins, losses = pnl[won], pnl[lost]
    average_win, average_loss = _mean(wins), _mean(losses)
    win_loss_ratio = average_win / -average_loss if average_win is not None and average_loss is not None else None
    win_rate = len(wins) / len(pnl) if len(pnl) else None
    held = (trades.exit_bar - trades.entry_bar)[closed]
    durations = (trades.exit_time - trades.entry_time)[closed] / 1000.0
    average = _mean(pnl)
    deviation = 0.0
    if average is not None and len(pnl) > 1:  # NumPy's std(ddof=1): the same operations
        squares = pnl - average
        squares *= squares
        deviation = math.sqrt(float(squares.sum()) / (len(pnl) - 1))
    return {
        "gross_profit": float(wins.sum()),
        "gross_loss": float(losses.sum()),
        "largest_win": float(pnl.max()) if len(pnl) else None,
        "largest_loss": float(pnl.min()) if len(pnl) else None,
        "break_even_trades": int(np.count_nonzero(pnl == 0.0)),
        "max_consecutive_wins": _longest_run(won),
        "average_trade": average,
        "win_loss_ratio": win_loss_ratio,
        "commission_paid": float(trades.fees.sum()),
        "average_bars_in_trade": _mean(held),
        "average_bars_in_winning_trade": _mean(held[won]),
        "average_bars_in_losing_trade": _mean(held[lost]),
        "average_trade_duration": _mean(durations),
        "sqn": math.sqrt(len(pnl)) * average / deviation if average is not None and deviation > 0.0 else None,
        "kelly": win_rate - (1.0 - win_rate) / win_loss_ratio if win_rate is not None and win_loss_ratio else None,
    }


def _equity_statistics(equity: NDArray[Any], drawdown: Drawdown, total_pnl: float) -> dict[str, float | None]:
    """Figures of the equity curve: recovery, ulcer index, run-up, drawdown durations."""
    n = len(equity)
    if not n:
        return dict.fromkeys(
            (
                "recovery_factor",
                "ulcer_index",
                "max_run_up",
                "max_run_up_percentage",
                "average_drawdown_duration",
                "max_drawdown_duration",
            )
        )
    # This runs on every backtest (and every combination of a sweep): no running extreme is taken
    # over the whole curve where the periods already tell it.
    periods = drawdown.drawdown_periods
    ratio = _drawdown_fractions(equity, periods)
    ulcer = 100.0 * math.sqrt(float(np.einsum("i,i->", ratio, ratio)) / n)
    max_run_up, max_run_up_ratio = _run_up(equity)
    durations = np.where(periods.recovery >= 0, periods.recovery, n - 1) - periods.start
    return {
        "recovery_factor": total_pnl / drawdown.max_drawdown if drawdown.max_drawdown > 0.0 else None,
        "ulcer_index": ulcer,
        "max_run_up": max_run_up,
        "max_run_up_percentage": 100.0 * (max_run_up_ratio - 1.0),
        "average_drawdown_duration": _mean(durations),
        "max_drawdown_duration": int(durations.max()) if len(durations) else 0,
    }


def _drawdown_fractions(equity: NDArray[Any], periods: DrawdownPeriods) -> NDArray[Any]:
    """equity_t / peak_t - 1 at every bar (0 where the peak is not positive, a blown account):
    off the underwater periods the equity is its peak (a fraction of 0), inside one the peak is
    the period's start. A per-bar copy of each period's peak (NaN elsewhere) divides the curve;
    fmin(NaN, 1) is 1, and inside a period the equity is below the peak (a fraction of 1 at most)."""
    top = equity[periods.start]
    segment_peak = np.full(2 * len(periods) + 1, np.nan)
    segment_peak[1::2] = np.where(top > 0.0, top, np.nan)
    starts = _boundaries(periods.start + 1, periods.end)
    ratio = np.divide(equity, np.repeat(segment_peak, np.diff(starts, append=len(equity))))
    np.fmin(ratio, 1.0, out=ratio)
    ratio -= 1.0
    return ratio


def _run_up(equity: NDArray[Any]) -> tuple[float, float]:
    """(max of equity_t - trough_t, max of equity_t / trough_t), trough_t = min(equity_0..t), the
    ratio 1 where the trough is not positive (a blown account).

    A running minimum is a slow sequential pass, and these are just two maxima. Per block of
    _PEAK_BLOCK bars, a bar's rise is the larger of its rise over the lowest equity before its
    block (whose maximum over the block is the block's high against that) and its rise over the
    lowest bar so far inside its block (at most the block's high against its low). Only a block
    whose high against its low beats the best rise across blocks needs its running minimum: the
    maxima are those of the per-bar values, bit for bit.
    """
    n = len(equity)
    full = n - n % _PEAK_BLOCK
    if not full or float(equity.min()) <= 0.0:
        trough = np.minimum.accumulate(equity)
        return float((equity - trough).max()), float(_ratio_to(equity, trough).max())
    rows = equity[:full].reshape(-1, _PEAK_BLOCK)
    low, high = rows.min(axis=1), rows.max(axis=1)
    entering = np.empty(len(rows))
    entering[:1] = np.inf
    np.minimum.accumulate(low[:-1], out=entering[1:])
    rise, ratio = max(0.0, float((high - entering).max())), max(1.0, float((high / entering).max()))
    if full < n:  # the tail is a block of its own, always scanned
        tail = equity[full:]
        trough = np.minimum.accumulate(tail)
        np.minimum(trough, low.min(), out=trough)
        rise, ratio = max(rise, float((tail - trough).max())), max(ratio, float((tail / trough).max()))
    inside = np.flatnonzero((high - low > rise) | (high / low > ratio))
    if len(inside):
        scanned = rows[inside]
        trough = np.minimum.accumulate(scanned, axis=1)
        np.minimum(trough, entering[inside, None], out=trough)
        rise, ratio = max(rise, float((scanned - trough).max())), max(ratio, float((scanned / trough).max()))
    return rise, ratio


def _ratio_to(values: NDArray[Any], reference: NDArray[Any]) -> NDArray[Any]:
    """values / reference, 1 where the reference is not positive (a blown account)."""
    if reference.min() > 0.0:
        return values / reference
    out = np.ones(len(values))
    np.divide(values, reference, out=out, where=reference > 0.0)
    return out


def _side_summary(pnl: NDArray[Any]) -> dict[str, float | int | None]:
    """{trades, win_rate, total_pnl, profit_factor} of these closed trades' pnl."""
    wins, losses = pnl[pnl > 0.0], pnl[pnl < 0.0]
    gross_loss = -float(losses.sum())
    return {
        "trades": len(pnl),
        "win_rate": 100.0 * len(wins) / len(pnl) if len(pnl) else None,
        "total_pnl": float(pnl.sum()),
        "profit_factor": float(wins.sum()) / gross_loss if gross_loss > 0.0 else None,
    }
