"""Replay: a trader's round trips as a backtest over candles, and the same entries under alternative rules.

The actual trades become the engine's columnar `Trades` (their real fill times and prices) over
the replay's candles, with an equity curve marked at every close (cash plus open positions,
entry fees paid at entry, exit fees at exit, as the engine does), so `shared.metrics` gives the
same performance summary as any backtest. Round trips may overlap (FIFO lots held together).

Bars: a fill at time t belongs to the candle with ts <= t < ts + timeframe. A position is held at
the closes of bars [entry bar, exit bar), as in the engine.

Alternatives, for each round trip, keep its side, quantity and fee rates (fee / notional of the
actual entry and exit fills):
- entry: the actual fill, or with a strategy the open after the first bar in [entry -
  window_before, actual exit) whose close meets its entry rules (plus its slippage); a trade the
  strategy never enters in that span is "not entered" (pnl 0);
- exit: the actual fill; or exit rules / a strategy's exit rules and stops, followed from the
  entry until `window_after` past the actual exit (until the end of the candles for a position
  still open; a `time:` rule may reach further). Stops are the engine's own
  (`shared.engine.exits.first_price_exits`): checked from the entry bar when the entry is at a
  bar's open, otherwise from the next bar (the entry bar's range may predate the fill); a gap
  through a level fills at the open, stop-loss before take-profit inside one bar. A `time:` exit
  and a strategy's signal exit fill at a bar's open, before that bar's stops. Nothing triggered
  by the end of the span: exit at its last close (`window_end`), or still `open` when the span
  is the end of the data.

Initial balance, unless given: the cash the actual trades needed (`pairing.capital_needed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from shared.backtest_settings import BacktestSettings
from shared.candles import Candles
from shared.engine import BacktestResult, Trades
from shared.engine.exits import EXIT_REASONS, LIQUIDATION, OPEN, SIGNAL, first_price_exits
from shared.engine.rules import EngineRules
from shared.errors import FieldError, ValidationFailed
from shared.metrics import calculate_drawdown, performance_summary
from shared.strategy.model import StrategyConfig
from shared.timeframes import timeframe_ms
from shared.times import iso_utc
from shared.transactions.pairing import RoundTrip, capital_needed
from shared.transactions.rules import ExitRules

if TYPE_CHECKING:
    from shared.strategy import Strategy

ACTUAL, STRATEGY, TIME, WINDOW_END = "actual", "strategy", "time", "window_end"


@dataclass(frozen=True)
class ReplaySettings:
    timeframe: str
    start_ms: int  # the replay's first candle (inclusive); candles before it are indicator history
    end_ms: int  # exclusive
    window_before_ms: int
    window_after_ms: int
    initial_balance: float | None = None

    def engine_rules(self, config: StrategyConfig) -> EngineRules:
        """An alternative's stops and slippage as the engine's rules (fractions), on the replay's
        account: no leverage, the default maintenance margin (it only places a short's liquidation
        price); the fees charged are the transactions' own."""
        account = BacktestSettings(
            initial_balance=self.initial_balance or BacktestSettings.initial_balance, timeframe=self.timeframe
        )
        return EngineRules.from_config(config, account)


@dataclass(frozen=True)
class AlternativeSetup:
    """The request's alternative with its strategies validated (`validate_strategy`)."""

    entry_strategy: Strategy | None = None
    exit_strategy: Strategy | None = None
    exit_rules: ExitRules | None = None

    @property
    def is_empty(self) -> bool:
        return self.entry_strategy is None and self.exit_strategy is None and self.exit_rules is None


@dataclass(frozen=True, eq=False)
class ReplayResult:
    actual: BacktestResult
    alternative: BacktestResult | None
    comparison: dict[str, Any]  # JSON-ready: per-trade rows and totals


@dataclass(frozen=True, eq=False)
class _Legs:
    """One row per round trip: where and at what price it enters and exits (bars index the replay candles)."""

    entered: NDArray[Any]  # bool
    entry_bar: NDArray[Any]
    entry_time: NDArray[Any]
    entry_price: NDArray[Any]
    exit_bar: NDArray[Any]  # n while still open at the end
    exit_time: NDArray[Any]  # -1 while open
    exit_price: NDArray[Any]  # the last close while open
    exit_fee_rate: NDArray[Any]  # 0 while open (no exit fee until an exit happens)
    entry_reasons: list[str]
    exit_reasons: list[str]


@dataclass(frozen=True, eq=False)
class _Trips:
    """The round trips as columns."""

    direction: NDArray[Any]
    quantity: NDArray[Any]
    entry_time: NDArray[Any]
    entry_price: NDArray[Any]
    entry_fee_rate: NDArray[Any]
    exit_time: NDArray[Any]  # -1 while open
    exit_price: NDArray[Any]  # nan while open
    exit_fee_rate: NDArray[Any]

    @classmethod
    def of(cls, trips: Sequence[RoundTrip]) -> _Trips:
        direction = np.array([t.direction for t in trips], dtype=np.int8)
        quantity = np.array([t.quantity for t in trips])
        entry_price = np.array([t.entry_price for t in trips])
        exit_price = np.array([np.nan if t.is_open else t.exit_price for t in trips])
        entry_fee_rate = np.array([t.entry_fee for t in trips]) / (quantity * entry_price)
        with np.errstate(invalid="ignore"):
            exit_fee_rate = np.where(
                np.isnan(exit_price), entry_fee_rate, np.array([t.exit_fee for t in trips]) / (quantity * exit_price)
            )
        return cls(
            direction,
            quantity,
            np.array([t.entry_time_ms for t in trips], dtype=np.int64),
            entry_price,
            entry_fee_rate,
            np.array([-1 if t.is_open else t.exit_time_ms for t in trips], dtype=np.int64),
            exit_price,
            exit_fee_rate,
        )

    @property
    def is_open(self) -> NDArray[Any]:
        return self.exit_time < 0


def compute_replay(
    candles: Candles,
    trips: Sequence[RoundTrip],
    settings: ReplaySettings,
    alternative: AlternativeSetup = AlternativeSetup(),
) -> ReplayResult:
    """The actual trades as a backtest and, unless `alternative` is empty, the alternative beside them.

    `candles` cover [settings.start_ms, settings.end_ms) and may start earlier (history for the
    alternative strategies' indicators). ValidationFailed when the candles do not cover a fill.
    """
    if not trips:
        raise ValidationFailed("nothing to replay", [FieldError("transaction_ids", "no round trips")])
    first = int(np.searchsorted(candles.ts, settings.start_ms, side="left"))
    last = int(np.searchsorted(candles.ts, settings.end_ms, side="left"))
    window = candles.slice(first, last)
    if not len(window):
        span = f"from {iso_utc(settings.start_ms)} to {iso_utc(settings.end_ms)}"
        raise ValidationFailed(
            "no candles to replay against", [FieldError("timeframe", f"no {settings.timeframe} candles {span}")]
        )
    columns = _Trips.of(trips)
    step = timeframe_ms(settings.timeframe)
    initial = settings.initial_balance or capital_needed(trips)
    actual_legs = _actual_legs(window, columns, step)
    actual = _backtest(window, columns, actual_legs, initial, settings.timeframe)
    alternative_result, alternative_legs = None, None
    if not alternative.is_empty:
        alternative_legs = _alternative_legs(candles, first, last, window, columns, actual_legs, settings, alternative)
        alternative_result = _backtest(window, columns, alternative_legs, initial, settings.timeframe)
    comparison = _comparison(columns, actual_legs, actual, alternative_legs, alternative_result, trips)
    return ReplayResult(actual, alternative_result, comparison)


# ------------------------------------------------------------------ legs
def _bars(window: Candles, times: NDArray[Any], step: int) -> NDArray[Any]:
    """The candle each time falls in; ValidationFailed naming the first time no candle covers."""
    bars = np.searchsorted(window.ts, times, side="right") - 1
    uncovered = (bars < 0) | (times >= window.ts[np.maximum(bars, 0)] + step)
    if uncovered.any():
        moment = iso_utc(int(times[uncovered][0]))
        raise ValidationFailed(
            f"no candle covers {moment}", [FieldError("timeframe", f"the stored candles have no candle at {moment}")]
        )
    return bars


def _actual_legs(window: Candles, trips: _Trips, step: int) -> _Legs:
    n = len(window)
    is_open = trips.is_open
    entry_bar = _bars(window, trips.entry_time, step)
    exit_bar = np.full(len(is_open), n, dtype=np.int64)
    if (~is_open).any():
        exit_bar[~is_open] = _bars(window, trips.exit_time[~is_open], step)
    return _Legs(
        entered=np.ones(len(is_open), dtype=bool),
        entry_bar=entry_bar,
        entry_time=trips.entry_time,
        entry_price=trips.entry_price,
        exit_bar=exit_bar,
        exit_time=trips.exit_time,
        exit_price=np.where(is_open, window.close[-1], trips.exit_price),
        exit_fee_rate=np.where(is_open, 0.0, trips.exit_fee_rate),
        entry_reasons=[ACTUAL] * len(is_open),
        exit_reasons=[EXIT_REASONS[OPEN] if o else ACTUAL for o in is_open],
    )


def _alternative_legs(
    candles: Candles,
    first: int,
    last: int,
    window: Candles,
    trips: _Trips,
    actual: _Legs,
    settings: ReplaySettings,
    alternative: AlternativeSetup,
) -> _Legs:
    n = len(window)
    count = len(trips.direction)
    entered: NDArray[Any] = np.ones(count, dtype=bool)
    entry_bar, entry_time, entry_price = actual.entry_bar, actual.entry_time, actual.entry_price
    # Stops see the entry bar only when the fill was at its open (the rest of its range came after).
    scan_start = np.where(entry_time == window.ts[entry_bar], entry_bar, entry_bar + 1)
    entry_reasons = [ACTUAL] * count
    if alternative.entry_strategy is not None:
        strategy = alternative.entry_strategy
        signal = strategy.signals(candles, timeframe=settings.timeframe).entry[first:last]
        entered, fill_bar = _strategy_entries(window, signal, trips, settings.window_before_ms)
        entry_bar = np.where(entered, fill_bar, actual.entry_bar)
        entry_time = np.where(entered, window.ts[entry_bar], actual.entry_time)
        slip = trips.direction * settings.engine_rules(strategy.config).slippage
        entry_price = np.where(entered, window.open[entry_bar] * (1.0 + slip), actual.entry_price)
        scan_start = entry_bar
        entry_reasons = [STRATEGY] * count
    if alternative.exit_rules is None and alternative.exit_strategy is None:
        return _Legs(
            entered,
            entry_bar,
            entry_time,
            entry_price,
            actual.exit_bar,
            actual.exit_time,
            actual.exit_price,
            actual.exit_fee_rate,
            entry_reasons,
            actual.exit_reasons,
        )

    # Exits are followed until window_after past the actual exit (the end of the data for a
    # position still open); a time limit replaces that span.
    span_end = np.where(
        trips.is_open, n, np.searchsorted(window.ts, trips.exit_time + settings.window_after_ms, side="right")
    )
    scheduled, scheduled_price, scheduled_reason, stops = _scheduled_exits(
        candles, first, last, window, trips, entry_bar, entry_time, span_end, alternative, settings
    )
    at_open = scheduled < n
    end = np.where(
        at_open, scheduled, n if alternative.exit_strategy is None and _has_time_limit(alternative) else span_end
    )
    stays_open = ~at_open & (end >= n) & trips.is_open
    last_bar = end - 1
    exit_bar = np.where(at_open, scheduled, np.where(stays_open, n, last_bar))
    exit_price = np.where(at_open, scheduled_price, window.close[last_bar])
    step = timeframe_ms(settings.timeframe)
    exit_time = np.where(
        at_open, window.ts[np.minimum(scheduled, n - 1)], np.where(stays_open, -1, window.ts[last_bar] + step)
    )
    exit_fee_rate = np.where(stays_open, 0.0, trips.exit_fee_rate)
    exit_reasons = [
        scheduled_reason if timed else EXIT_REASONS[OPEN] if still else WINDOW_END
        for timed, still in zip(at_open.tolist(), stays_open.tolist())
    ]
    _apply_stops(
        window,
        trips,
        entry_price,
        scan_start,
        end,
        stops,
        entered,
        exit_bar,
        exit_time,
        exit_price,
        exit_fee_rate,
        exit_reasons,
    )
    return _Legs(
        entered,
        entry_bar,
        entry_time,
        entry_price,
        exit_bar,
        exit_time,
        exit_price,
        exit_fee_rate,
        entry_reasons,
        exit_reasons,
    )


def _has_time_limit(alternative: AlternativeSetup) -> bool:
    return alternative.exit_rules is not None and alternative.exit_rules.time_limit_ms is not None


def _strategy_entries(
    window: Candles, signal: NDArray[Any], trips: _Trips, window_before_ms: int
) -> tuple[NDArray[Any], NDArray[Any]]:
    """(entered, fill bar): the open after the first signal bar from the one holding entry -
    window_before, if that open comes before the actual exit."""
    n = len(window)
    signal_bars = np.flatnonzero(signal[:-1])  # the last bar's signal has no next open to fill at
    search_from = np.maximum(np.searchsorted(window.ts, trips.entry_time - window_before_ms, side="right") - 1, 0)
    position = np.searchsorted(signal_bars, search_from, side="left")
    found = position < len(signal_bars)
    fill_bar = np.full(len(found), n - 1, dtype=np.int64)
    fill_bar[found] = signal_bars[position[found]] + 1
    entered = found & (trips.is_open | (window.ts[fill_bar] < trips.exit_time))
    return entered, fill_bar


def _scheduled_exits(
    candles: Candles,
    first: int,
    last: int,
    window: Candles,
    trips: _Trips,
    entry_bar: NDArray[Any],
    entry_time: NDArray[Any],
    span_end: NDArray[Any],
    alternative: AlternativeSetup,
    settings: ReplaySettings,
) -> tuple[NDArray[Any], NDArray[Any], str, EngineRules]:
    """Exits at a bar's open (n: none) — a time limit, or a strategy's exit signal inside the span —
    their fill prices, their reason, and the engine's rules of the stops that may come first."""
    n = len(window)
    scheduled: NDArray[np.int64] = np.full(len(trips.direction), n, dtype=np.int64)
    if alternative.exit_strategy is not None:
        strategy = alternative.exit_strategy
        # An exit signal at or after the entry bar's close fills at the next open (the engine's rule).
        signal_bars = np.flatnonzero(strategy.signals(candles, timeframe=settings.timeframe).exit[first:last][:-1])
        position = np.searchsorted(signal_bars, entry_bar, side="left")
        found = position < len(signal_bars)
        scheduled[found] = signal_bars[position[found]] + 1
        scheduled[scheduled >= span_end] = n
        stops = settings.engine_rules(strategy.config)
        slip = trips.direction * stops.slippage
        return scheduled, window.open[np.minimum(scheduled, n - 1)] * (1.0 - slip), EXIT_REASONS[SIGNAL], stops
    rules = alternative.exit_rules
    assert rules is not None  # an alternative has an exit strategy or exit rules
    if rules.time_limit_ms is not None:
        scheduled = np.searchsorted(window.ts, entry_time + rules.time_limit_ms, side="left").astype(np.int64)
    stops = settings.engine_rules(
        StrategyConfig(stop_loss=rules.stop_loss, take_profit=rules.take_profit, trailing_stop=rules.trailing_stop)
    )
    return scheduled, window.open[np.minimum(scheduled, n - 1)], TIME, stops


def _apply_stops(
    window: Candles,
    trips: _Trips,
    entry_price: NDArray[Any],
    start: NDArray[Any],
    end: NDArray[Any],
    stops: EngineRules,
    entered: NDArray[Any],
    exit_bar: NDArray[Any],
    exit_time: NDArray[Any],
    exit_price: NDArray[Any],
    exit_fee_rate: NDArray[Any],
    exit_reasons: list[str],
) -> None:
    """Overwrite the exits of rows whose stop-loss, take-profit, trailing stop or liquidation comes first."""
    for direction in (1, -1):
        rows = np.flatnonzero(entered & (trips.direction == direction))
        if not len(rows):
            continue
        # The fee only places the liquidation price; the largest of the rows' exit fee rates errs early.
        rules = replace(stops, direction=direction, fee=float(trips.exit_fee_rate[rows].max()))
        hits = first_price_exits(window, entry_price[rows], start[rows], end[rows], rules)
        hit_rows = rows[hits.rows]
        exit_bar[hit_rows] = hits.bar
        exit_time[hit_rows] = window.ts[hits.bar]
        exit_price[hit_rows] = hits.price
        # The engine charges a liquidation the maintenance margin on top of the exit fee.
        liquidated = hits.reason == LIQUIDATION
        exit_fee_rate[hit_rows] = trips.exit_fee_rate[hit_rows] + np.where(liquidated, stops.maintenance_margin, 0.0)
        for row, reason in zip(hit_rows.tolist(), hits.reason.tolist()):
            exit_reasons[row] = EXIT_REASONS[reason]


# ------------------------------------------------------------------ results
def _pnl(trips: _Trips, legs: _Legs) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """(pnl, entry fee, exit fee) per row, in the quote asset."""
    entry_fee = trips.entry_fee_rate * trips.quantity * legs.entry_price
    exit_fee = legs.exit_fee_rate * trips.quantity * legs.exit_price
    pnl = trips.direction * trips.quantity * (legs.exit_price - legs.entry_price) - entry_fee - exit_fee
    return pnl, entry_fee, exit_fee


def _backtest(window: Candles, trips: _Trips, legs: _Legs, initial_balance: float, timeframe: str) -> BacktestResult:
    n = len(window)
    rows = np.flatnonzero(legs.entered)
    pnl, entry_fee, exit_fee = (column[rows] for column in _pnl(trips, legs))
    held_until = legs.exit_bar[rows]
    is_open = held_until >= n
    direction, quantity = trips.direction[rows].astype(np.float64), trips.quantity[rows]
    entry_bar, entry_price = legs.entry_bar[rows], legs.entry_price[rows]
    equity = _equity(
        window.close, entry_bar, held_until, direction * quantity, entry_price, entry_fee, pnl, initial_balance
    )
    trades = Trades(
        entry_bar=entry_bar,
        exit_bar=np.where(is_open, -1, held_until),
        entry_time=legs.entry_time[rows],
        exit_time=np.where(is_open, -1, legs.exit_time[rows]),
        side=trips.direction[rows],
        entry_price=entry_price,
        exit_price=legs.exit_price[rows],
        quantity=quantity,
        pnl=pnl,
        pnl_percentage=100.0 * pnl / (quantity * entry_price),
        fees=entry_fee + exit_fee,
        exit_reason=np.where(is_open, OPEN, SIGNAL).astype(np.int8),
    ).with_excursions(window)
    drawdown = calculate_drawdown(equity)
    summary = performance_summary(
        trades, equity, window, initial_balance=initial_balance, timeframe=timeframe, drawdown=drawdown
    )
    return BacktestResult(
        trades=trades,
        equity_curve=equity,
        timestamps=window.ts,
        initial_balance=initial_balance,
        final_balance=float(equity[-1]),
        performance_summary=summary,
        drawdown_periods=drawdown.drawdown_periods,
    )


def _equity(
    close: NDArray[Any],
    entry_bar: NDArray[Any],
    held_until: NDArray[Any],
    signed_quantity: NDArray[Any],
    entry_price: NDArray[Any],
    entry_fee: NDArray[Any],
    pnl: NDArray[Any],
    initial_balance: float,
) -> NDArray[Any]:
    """Equity at every close: initial + realised pnl of positions closed by then + each position
    held at that close marked at it (minus its entry fee). Positions may overlap."""
    n = len(close)
    intercept = np.zeros(n + 1)
    slope = np.zeros(n + 1)
    realised = np.zeros(n + 1)
    np.add.at(intercept, entry_bar, -entry_fee - signed_quantity * entry_price)
    np.add.at(intercept, held_until, entry_fee + signed_quantity * entry_price)
    np.add.at(slope, entry_bar, signed_quantity)
    np.add.at(slope, held_until, -signed_quantity)
    closed = held_until < n
    np.add.at(realised, held_until[closed], pnl[closed])
    return (initial_balance + np.cumsum(intercept[:n]) + np.cumsum(realised[:n])) + np.cumsum(slope[:n]) * close


def _leg_record(trips: _Trips, legs: _Legs, pnl: NDArray[Any], row: int) -> dict[str, Any]:
    still_open = legs.exit_time[row] < 0
    return {
        "entry_time": iso_utc(int(legs.entry_time[row])),
        "entry_price": float(legs.entry_price[row]),
        "exit_time": None if still_open else iso_utc(int(legs.exit_time[row])),
        "exit_price": float(legs.exit_price[row]),
        "pnl": float(pnl[row]),
        "pnl_percentage": float(100.0 * pnl[row] / (trips.quantity[row] * legs.entry_price[row])),
        "entry_reason": legs.entry_reasons[row],
        "exit_reason": legs.exit_reasons[row],
    }


def _comparison(
    trips: _Trips,
    actual_legs: _Legs,
    actual: BacktestResult,
    alternative_legs: _Legs | None,
    alternative: BacktestResult | None,
    round_trips: Sequence[RoundTrip],
) -> dict[str, Any]:
    actual_pnl = _pnl(trips, actual_legs)[0]
    alternative_pnl = (
        None if alternative_legs is None else np.where(alternative_legs.entered, _pnl(trips, alternative_legs)[0], 0.0)
    )
    rows: list[dict[str, Any]] = []
    for row, trip in enumerate(round_trips):
        entry = {
            "trade_number": row + 1,
            "side": trip.side,
            "quantity": trip.quantity,
            "entry_transaction_id": trip.entry_transaction_id,
            "exit_transaction_id": trip.exit_transaction_id,
            "actual": _leg_record(trips, actual_legs, actual_pnl, row),
        }
        if alternative_legs is not None and alternative_pnl is not None:
            entered = bool(alternative_legs.entered[row])
            entry["alternative"] = _leg_record(trips, alternative_legs, alternative_pnl, row) if entered else None
            entry["pnl_difference"] = float(alternative_pnl[row] - actual_pnl[row])
        rows.append(entry)
    unconverted: dict[str, float] = {}
    for trip in round_trips:
        for asset, amount in trip.unconverted_fees.items():
            unconverted[asset] = unconverted.get(asset, 0.0) + amount
    totals: dict[str, Any] = {"trades": len(rows), "actual_pnl": float(actual_pnl.sum())}
    if alternative_legs is not None and alternative_pnl is not None:
        totals |= {
            "alternative_pnl": float(alternative_pnl.sum()),
            "pnl_difference": float(alternative_pnl.sum() - actual_pnl.sum()),
            "alternative_trades": int(alternative_legs.entered.sum()),
        }
    return {
        "initial_balance": actual.initial_balance,
        "totals": totals,
        "actual_summary": actual.performance_summary,
        "alternative_summary": None if alternative is None else alternative.performance_summary,
        "unconverted_fees": unconverted,
        "trades": rows,
    }
