"""The simulation: signals + candles -> trades, equity curve, summary.

Steps, each a separate function so that chunked execution can run the heavy ones per
chunk and redo only the cheap sequential ones when stitching:
1. `resolve_exits`: every candidate entry's exit (vectorised, independent of other trades);
2. `next_candidates` + `follow_chain`: which candidates are taken (pointer chasing, per trade);
3. `size_positions`: quantities and equity (cumulative product, or one step per trade);
4. `equity_curve`: mark-to-market at every close (vectorised);
5. metrics.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from shared.backtest_settings import BacktestSettings
from shared.candles import Candles
from shared.engine.chain import follow_chain, next_candidates
from shared.engine.exits import CandidateExits, resolve_exits
from shared.engine.positions import Book, MarketData, Sizer, Walked, needs_positions, settle_positions, walk
from shared.engine.result import BacktestResult, Trades
from shared.engine.rules import EngineRules
from shared.engine.sizing import Positions, size_positions
from shared.errors import FieldError, ValidationFailed
from shared.metrics import calculate_drawdown, performance_summary
from shared.strategy.model import Signals, StrategyConfig

if TYPE_CHECKING:
    from shared.strategy import Strategy


def run_backtest(
    strategy: Strategy, candles: Candles, settings: BacktestSettings, market: MarketData | None = None
) -> BacktestResult:
    """Evaluate the strategy's rules on the candles and simulate the resulting orders."""
    return simulate(candles, strategy.signals(candles, timeframe=settings.timeframe), strategy.config, settings, market)


def simulate(
    candles: Candles,
    signals: Signals,
    config: StrategyConfig,
    settings: BacktestSettings,
    market: MarketData | None = None,
    *,
    excursions: bool = True,
) -> BacktestResult:
    """Simulate one account trading `config` on `candles` from per-bar entry/exit signals.

    Single-entry market orders without exchange rules, funding or intrabar data take the
    vectorised pass (`exits`, `chain`, `sizing`); everything else resolves positions one at a
    time (`positions`), by the same conventions. `excursions=False` leaves the trades' mae, mfe
    and bars out (None), for a caller that keeps only the summary (a sweep): no metric reads them.
    """
    n = len(candles)
    if n == 0:
        raise ValidationFailed("no candles to backtest", [FieldError("candles", "no candles in the requested range")])
    market = market or MarketData()
    entry = _signal_column(signals.entry, n, "entry")
    exit_ = _signal_column(signals.exit, n, "exit")
    rules = EngineRules.from_config(config, settings)
    if needs_positions(config, settings, market):
        book = Book(candles, signals, config, settings, market, rules)
        sizer = Sizer(book, settings.initial_balance)
        return settle_walk(book, walk(book, sizer), sizer, excursions=excursions)

    candidates = resolve_exits(candles, entry, exit_, rules)
    chain = follow_chain(next_candidates(candidates.fill_bar, candidates.exit_bar))
    return settle_chain(candles, candidates, chain, config, rules, settings, excursions=excursions)


def settle_chain(
    candles: Candles,
    candidates: CandidateExits,
    chain: NDArray[Any],
    config: StrategyConfig,
    rules: EngineRules,
    settings: BacktestSettings,
    *,
    excursions: bool = True,
) -> BacktestResult:
    """Steps 3-5 for the candidates `chain` selects (in order): sizes, equity curve, trades, metrics.

    Chunked execution (`shared.engine.chunks`) stitches the chain from per-chunk candidates and
    finishes through this same function, which is what makes its result the single pass's.
    """
    n = len(candles)
    positions = size_positions(
        candidates.entry_price[chain],
        candidates.exit_price[chain],
        candidates.exit_reason[chain],
        config,
        rules,
        settings.initial_balance,
    )
    taken = chain[: len(positions)]
    fill_bar = candidates.fill_bar[taken]
    exit_bar = candidates.exit_bar[taken]
    entry_price = candidates.entry_price[taken]
    equity = equity_curve(
        candles.close, fill_bar, exit_bar, entry_price, positions, rules.direction, settings.initial_balance
    )
    if rules.can_liquidate:  # mathematically >= 0 (liquidation closes first); clear rounding residue
        np.maximum(equity, 0.0, out=equity)

    still_open = exit_bar == n
    trades = Trades(
        entry_bar=fill_bar,
        exit_bar=np.where(still_open, -1, exit_bar),
        entry_time=candles.ts[fill_bar],
        exit_time=np.where(still_open, -1, candles.ts[np.minimum(exit_bar, n - 1)]),
        side=np.full(len(taken), rules.direction, dtype=np.int8),
        entry_price=entry_price,
        exit_price=candidates.exit_price[taken],
        quantity=positions.quantity,
        pnl=positions.pnl,
        pnl_percentage=100.0 * rules.leverage * positions.pnl / (positions.quantity * entry_price),
        fees=positions.fees,
        exit_reason=candidates.exit_reason[taken],
    )
    extra = execution_summary(int(candidates.ambiguous[taken].sum()), 0.0, 0)
    return backtest_result(candles, trades, equity, settings, extra, excursions=excursions)


def settle_walk(book: Book, positions: Walked, sizer: Sizer, *, excursions: bool = True) -> BacktestResult:
    """The result of positions walked and sized by `sizer` (`positions.walk`); chunked execution
    finishes through it too."""
    trades, equity = settle_positions(book, positions, sizer, book.settings.initial_balance)
    extra = execution_summary(
        sum(position.ambiguous for position in positions.positions),
        math.fsum(np.asarray(trades.funding).tolist()),
        positions.skipped_orders,
    )
    return backtest_result(book.candles, trades, equity, book.settings, extra, excursions=excursions)


def backtest_result(
    candles: Candles,
    trades: Trades,
    equity: NDArray[Any],
    settings: BacktestSettings,
    extra: dict[str, Any],
    *,
    excursions: bool = True,
) -> BacktestResult:
    """Metrics and drawdowns of a simulated account, with the execution figures `extra` (and the
    trades' excursions unless `excursions` is False)."""
    if excursions:
        trades = trades.with_excursions(candles)
    drawdown = calculate_drawdown(equity)
    summary = performance_summary(
        trades,
        equity,
        candles,
        initial_balance=settings.initial_balance,
        timeframe=settings.timeframe,
        drawdown=drawdown,
    )
    summary |= extra
    return BacktestResult(
        trades=trades,
        equity_curve=equity,
        timestamps=candles.ts,
        initial_balance=float(settings.initial_balance),
        final_balance=float(equity[-1]),
        performance_summary=summary,
        drawdown_periods=drawdown.drawdown_periods,
    )


def execution_summary(ambiguous_bars: int, funding_paid: float, skipped_orders: int) -> dict[str, float | int]:
    """The execution figures every result reports beside the performance metrics."""
    return {"ambiguous_bars": ambiguous_bars, "funding_paid": funding_paid, "skipped_orders": skipped_orders}


def equity_curve(
    close: NDArray[Any],
    fill_bar: NDArray[Any],
    exit_bar: NDArray[Any],
    entry_price: NDArray[Any],
    positions: Positions,
    direction: int,
    initial_balance: float,
) -> NDArray[Any]:
    """Equity at every close: cash while flat; cash - entry fee + d*q*(close - entry) while a
    position is open, i.e. bars fill_bar <= t < exit_bar (no exit fee until the exit happens).

    Built from 2k+1 constant segments (flat, position, flat, ...) as intercept + slope * close.
    """
    n = len(close)
    count = len(positions)
    intercept = np.empty(2 * count + 1)
    slope = np.zeros(2 * count + 1)
    intercept[0] = initial_balance
    intercept[2::2] = positions.equity_after
    intercept[1::2] = positions.equity_before - positions.entry_fee - direction * positions.quantity * entry_price
    slope[1::2] = direction * positions.quantity
    bounds = np.empty(2 * count + 2, dtype=np.intp)
    bounds[0], bounds[-1] = 0, n
    bounds[1:-1:2] = fill_bar
    bounds[2:-1:2] = exit_bar
    lengths = np.diff(bounds)
    equity = np.repeat(intercept, lengths)
    if count:
        marked = np.repeat(slope, lengths)
        np.multiply(marked, close, out=marked)
        equity += marked
    return equity


def _signal_column(values: NDArray[Any], n: int, name: str) -> NDArray[Any]:
    column = np.asarray(values)
    if column.shape != (n,):
        raise ValueError(f"{name} signals have shape {column.shape}, expected ({n},) like the candles")
    return column if column.dtype == np.bool_ else column.astype(bool)
