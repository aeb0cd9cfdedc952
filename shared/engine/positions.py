"""Positions resolved one at a time: the engine for orders and costs beyond a market fill at the
next open (limit/stop entries, take-profit levels, break-even, trailing activation, pyramiding,
long+short reversals, exchange rules, slippage in ticks, funding, intrabar resolution).

A position still depends only on the candidate that opens it (an entry signal at a bar's close
while flat) and on the data: its fill, its adds (the same side's later entry signals), its
partial exits and its final exit are functions of the bars and signals from that candidate on,
never of earlier trades. `Book.resolve` computes one such position, scanning its bars in growing
blocks with array operations; `walk` strings them together — the next candidate is the first one
whose signal comes at or after the position's `release` bar — and sizes each as it goes, because
an order below the symbol's min_notional is skipped, which leaves the account flat and the next
candidate is then the first signal at or after the would-be fill bar.

Chunked execution (`shared.engine.chunks`) keeps this exact: a chunk resolves the positions of its
own chain on its window; the stitcher walks the whole range with those positions as a cache
(every one of them is what `resolve` gives on the whole range, because it read nothing past the
window) and resolves on the whole range only where the walk enters a chunk elsewhere or a
position outlives its chunk (`reached_end`).

Conventions are in the README, "Execution conventions"; signed prices as in `exits` (d * price,
d = +1 long / -1 short), so a short is searched like a long.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.backtest_settings import BacktestSettings
from shared.candles import Candles
from shared.engine.exits import LIQUIDATION, OPEN, REVERSAL, SIGNAL, STOP_LOSS, TAKE_PROFIT, TRAILING_STOP
from shared.engine.result import Trades
from shared.engine.rules import EngineRules
from shared.market_data.funding import FundingRates
from shared.market_data.symbol_rules import SymbolRules
from shared.strategy.model import Signals, StrategyConfig
from shared.timeframes import TIMEFRAME_MS

_FIRST_WIDTH = 8
_MONEY_MODES = ("all_in", "percent_of_equity")


@dataclass(frozen=True)
class MarketData:
    """What a backtest may read beside its candles: the symbol's exchange rules, its funding
    rates (when `metadata.funding`) and finer candles (when `metadata.intrabar_timeframe`)."""

    rules: SymbolRules = SymbolRules()
    funding: FundingRates | None = None
    fine: Candles | None = None


@dataclass(frozen=True)
class Entry:
    bar: int
    price: float
    fee: float  # fraction of notional
    at_open: bool  # filled at the bar's open (else inside the bar)
    weight: float  # planned units relative to the position's other entries


@dataclass(frozen=True)
class Exit:
    bar: int  # n (the data's length) while still open at the end
    price: float
    fee: float
    reason: int  # index into EXIT_REASONS
    at_open: bool
    share: float | None  # share of the position's quantity; None: all that is left


@dataclass
class Position:
    signal_bar: int
    side: int
    release: int  # the next candidate is the first entry signal at or after this bar
    entries: list[Entry] = field(default_factory=list)  # empty: the entry order lapsed
    exits: list[Exit] = field(default_factory=list)
    ambiguous: int = 0  # bars where the order of two fills was not decided by the candle
    reached_end: bool = False  # the resolution ran into the end of the data it was given


def needs_positions(config: StrategyConfig, settings: BacktestSettings, market: MarketData) -> bool:
    """Whether a backtest needs this engine rather than the vectorised single-entry pass."""
    rules = market.rules
    return (
        config.entry_order.type != "market"
        or bool(config.take_profit_levels)
        or config.trailing_activation is not None
        or config.pyramiding is not None
        or config.direction == "both"
        or settings.slippage_ticks is not None
        or settings.funding
        or settings.intrabar_timeframe is not None
        or any(value is not None for value in (rules.tick_size, rules.lot_size, rules.min_notional))
    )


class Book:
    """The candles, signals and rules one walk reads, with per-side signed series."""

    def __init__(
        self,
        candles: Candles,
        signals: Signals,
        config: StrategyConfig,
        settings: BacktestSettings,
        market: MarketData,
        rules: EngineRules,
    ) -> None:
        self.candles, self.config, self.settings, self.market, self.rules = candles, config, settings, market, rules
        n = self.n = len(candles)
        self.open, self.high, self.low, self.close = candles.open, candles.high, candles.low, candles.close
        self.taker, self.maker = rules.fee, rules.maker_fee
        self.leverage, self.maintenance = rules.leverage, rules.maintenance_margin
        self.slippage = rules.slippage
        self.tick = market.rules.tick_size
        self.slip_ticks = (settings.slippage_ticks or 0.0) * (self.tick or 0.0)
        self.take_profit_first = rules.take_profit_first
        sides = {"long": (1,), "short": (-1,), "both": (1, -1)}[config.direction]
        entries = {1: np.asarray(signals.entry, dtype=bool), -1: np.asarray(signals.entry, dtype=bool)}
        exits = {1: np.asarray(signals.exit, dtype=bool), -1: np.asarray(signals.exit, dtype=bool)}
        if config.direction == "both":
            short_entry = np.asarray(signals.short_entry, dtype=bool)
            conflict = entries[1] & short_entry  # both sides at one close: no order at all
            entries = {1: entries[1] & ~conflict, -1: short_entry & ~conflict}
            exits[-1] = np.asarray(signals.short_exit, dtype=bool)
        usable = np.arange(n) < n - 1  # a signal on the last bar never fills
        bars = [np.flatnonzero(entries[d] & usable) for d in sides]
        self.candidate_bar = np.concatenate(bars)
        self.candidate_side = np.concatenate([np.full(len(b), d, dtype=np.int8) for b, d in zip(bars, sides)])
        order = np.argsort(self.candidate_bar, kind="stable")
        self.candidate_bar, self.candidate_side = self.candidate_bar[order], self.candidate_side[order]
        self.adds = {d: np.flatnonzero(entries[d] & usable) for d in sides}
        self.terminate, self.reverses = {}, {}
        for d in sides:
            opposite = entries[-d] & usable if config.direction == "both" else np.zeros(n, dtype=bool)
            self.terminate[d] = np.flatnonzero((exits[d] | opposite) & usable)
            self.reverses[d] = opposite
        self.worst = {1: self.low, -1: -self.high}  # signed adverse extreme per bar
        self.best = {1: self.high, -1: -self.low}
        self._fine = _FinePath(market.fine, candles, settings) if settings.intrabar_timeframe else None

    # ------------------------------------------------------------ prices
    def round_price(self, price: float) -> float:
        return price if self.tick is None else round(price / self.tick) * self.tick

    def slip(self, price: float, d: int, entering: bool) -> float:
        """A market fill moved adversely by the percent slippage and the tick slippage."""
        sign = d if entering else -d
        return self.round_price(price * (1.0 + sign * self.slippage) + sign * self.slip_ticks)

    def liquidation_price(self, average: float, d: int) -> float:
        return average * ((1.0 - d / self.leverage) / (1.0 - d * (self.taker + self.maintenance)))

    @property
    def can_liquidate(self) -> bool:
        return self.config.direction != "long" or self.leverage > 1.0

    # ------------------------------------------------------------ one position
    def resolve(self, candidate: int) -> Position:
        signal, d = int(self.candidate_bar[candidate]), int(self.candidate_side[candidate])
        position = Position(signal, d, release=signal + 1)
        fill = self._fill_entry(position)
        if fill is None:
            return position
        entry, fine_point = fill
        position.entries.append(entry)
        _Holding(self, position).run(entry, fine_point)
        return position

    def _fill_entry(self, position: Position) -> tuple[Entry, int | None] | None:
        """The first entry's fill, or None when the order lapses (position.release set)."""
        order, s, d = self.config.entry_order, position.signal_bar, position.side
        if order.type == "market":
            price = self.slip(float(self.open[s + 1]), d, entering=True)
            return Entry(s + 1, price, self.taker, True, self.weight(price, self.taker, 0)), None
        limit = order.type == "limit"
        offset = self.rules.entry_offset
        level = self.round_price(float(self.close[s]) * (1.0 - d * offset if limit else 1.0 + d * offset))
        last = s + order.expire_bars
        end = min(last, self.n - 1)
        signed_level = d * level
        window = self.worst[d][s + 1 : end + 1] if limit else self.best[d][s + 1 : end + 1]
        crossed = np.flatnonzero(window <= signed_level if limit else window >= signed_level)
        if not len(crossed):
            position.reached_end = last > self.n - 1
            position.release = min(last, self.n)
            return None
        bar = s + 1 + int(crossed[0])
        signed_open = d * float(self.open[bar])
        at_open = signed_open <= signed_level if limit else signed_open >= signed_level
        price, fine_point = (float(self.open[bar]) if at_open else level), None
        if not at_open and self._fine is not None and self._fine.covers(bar):
            fine_point, price = self._fine.first_cross(bar, d, signed_level, below=limit, from_point=0)
        if limit:
            fee = self.maker
        else:
            fee, price = self.taker, self.slip(price, d, entering=True)
        return Entry(bar, price, fee, at_open, self.weight(price, fee, 0)), fine_point

    def weight(self, price: float, fee: float, index: int) -> float:
        """Planned units of entry `index` relative to the others (see `Sizer` for the scale)."""
        share = self.rules.entry_share(index)
        mode = self.config.position_sizing
        if mode in _MONEY_MODES:
            return share / (price * (1.0 + self.leverage * fee))
        return share if mode == "fixed_quantity" else share / price


class _Holding:
    """The open position's levels and its bar-by-bar progress (one `Book.resolve` call)."""

    def __init__(self, book: Book, position: Position) -> None:
        self.book, self.position, self.d = book, position, position.side
        rules = book.rules
        self.levels = list(rules.take_profit_levels)
        self.hit_levels = 0  # take-profit levels filled so far
        self.left = 1.0  # share of the position still open
        self.break_even = False
        self.trail = None if rules.trailing_stop is None else 1.0 - self.d * rules.trailing_stop
        self.peak = -math.inf

    # ------------------------------------------------------------ levels (signed)
    def reset_levels(self) -> None:
        book, d, rules = self.book, self.d, self.book.rules
        entries = self.position.entries
        total = sum(entry.weight for entry in entries)
        self.average = sum(entry.weight * entry.price for entry in entries) / total
        signed_average = d * self.average
        stop = -math.inf
        if rules.stop_loss is not None:
            stop = d * book.round_price(self.average * (1.0 - d * rules.stop_loss))
        if self.break_even:
            stop = max(stop, signed_average)
        self.stop = stop
        self.liquidation = d * book.liquidation_price(self.average, d) if book.can_liquidate else -math.inf
        self.fixed_adverse = max(stop, self.liquidation)
        self.activation = -math.inf
        if rules.trailing_activation is not None:
            self.activation = d * self.average * (1.0 + d * rules.trailing_activation)
        self.targets = [d * book.round_price(self.average * (1.0 + d * percent)) for percent, _ in self.levels]
        self.final_target = (
            math.inf
            if rules.take_profit is None
            else (d * book.round_price(self.average * (1.0 + d * rules.take_profit)))
        )

    def next_target(self) -> float:
        return self.targets[self.hit_levels] if self.hit_levels < len(self.targets) else self.final_target

    def trail_levels(self, prior_peak: NDArray[Any]) -> NDArray[Any]:
        assert self.trail is not None
        level = prior_peak * self.trail
        if self.book.tick is not None:
            level = self.d * np.round(self.d * level / self.book.tick) * self.book.tick
        return np.where(prior_peak >= self.activation, level, -np.inf)

    # ------------------------------------------------------------ the walk through the bars
    def run(self, entry: Entry, fine_point: int | None) -> None:
        book, position, d = self.book, self.position, self.d
        self.peak = d * entry.price
        self.reset_levels()
        bar = entry.bar
        if not entry.at_open:  # the fill bar: only the rest of the bar after the fill counts
            if self.settle_bar(
                bar, self.fixed_adverse_with_trail(), fine_point=fine_point, entered_by=book.config.entry_order.type
            ):
                return
            self.after_bar(bar)
            bar += 1
        adds = book.adds[d] if book.config.pyramiding is not None else np.empty(0, dtype=np.intp)
        anchor = entry.bar  # add signals count from the close of the last entry's bar
        terminate = book.terminate[d]
        signal_index = int(np.searchsorted(terminate, entry.bar))
        signal_exit = int(terminate[signal_index]) if signal_index < len(terminate) else None
        while True:
            end = book.n if signal_exit is None else signal_exit + 1
            add = None
            if len(position.entries) < (book.config.pyramiding.max_entries if book.config.pyramiding else 1):
                index = int(np.searchsorted(adds, anchor))
                if index < len(adds) and (signal_exit is None or adds[index] < signal_exit):
                    add = int(adds[index])
                    end = add + 1
            hit = self.first_event(bar, end)
            if hit is not None:
                event_bar, adverse = hit
                if self.settle_bar(event_bar, adverse):
                    return
                self.after_bar(event_bar)
                bar = event_bar + 1
                continue
            bar = end
            if add is not None:
                price = book.slip(float(book.open[end]), d, entering=True)
                position.entries.append(
                    Entry(end, price, book.taker, True, book.weight(price, book.taker, len(position.entries)))
                )
                anchor = end
                self.reset_levels()
                continue
            if signal_exit is None:
                self.close(book.n, float(book.close[-1]), 0.0, OPEN, True)
                position.reached_end = True
                return
            reversal = bool(book.reverses[d][signal_exit])
            self.close(
                end,
                book.slip(float(book.open[end]), d, entering=False),
                book.taker,
                REVERSAL if reversal else SIGNAL,
                True,
            )
            position.release = signal_exit if reversal else end
            return

    def fixed_adverse_with_trail(self) -> float:
        if self.trail is None:
            return self.fixed_adverse
        return max(self.fixed_adverse, float(self.trail_levels(np.array([self.peak]))[0]))

    def first_event(self, start: int, end: int) -> tuple[int, float] | None:
        """First bar in [start, end) where a stop or the next target is reached, with that bar's
        adverse level; the trailing peak covers the bars before it afterwards."""
        book, d = self.book, self.d
        worst, best = book.worst[d], book.best[d]
        target = self.next_target()
        width, bar = _FIRST_WIDTH, start
        while bar < end:
            stop = min(end, bar + width)
            adverse: float | NDArray[Any] = self.fixed_adverse
            running = None
            if self.trail is not None:
                running = np.maximum.accumulate(best[bar:stop])
                prior = np.empty(stop - bar)
                prior[0] = self.peak
                np.maximum(running[:-1], self.peak, out=prior[1:])
                adverse = np.maximum(self.fixed_adverse, self.trail_levels(prior))
            hit = (worst[bar:stop] <= adverse) | (best[bar:stop] >= target)
            if hit.any():
                index = int(hit.argmax())
                if running is not None:
                    self.peak = max(self.peak, float(running[index - 1])) if index else self.peak
                level = float(adverse[index]) if isinstance(adverse, np.ndarray) else adverse
                return bar + index, level
            if running is not None:
                self.peak = max(self.peak, float(running[-1]))
            bar, width = stop, width * 2
        return None

    def after_bar(self, bar: int) -> None:
        """A bar the position survived: its extreme moves the trailing stop from the next bar on,
        and a reached break-even level moves the stop from the next bar on."""
        self.peak = max(self.peak, float(self.book.best[self.d][bar]))
        after = self.book.config.break_even_after
        if after is not None and not self.break_even and self.hit_levels >= after:
            self.break_even = True
            self.reset_levels()

    # ------------------------------------------------------------ one bar's fills
    def settle_bar(
        self, bar: int, adverse: float, fine_point: int | None = None, entered_by: str | None = None
    ) -> bool:
        """Fill what the bar reaches; True once the position is closed. `entered_by` (limit /
        stop) marks the fill bar of an order filled inside the bar: the bar's part before the
        fill may hold the extreme on one side (the favourable one for a limit, the adverse one
        for a stop), so reaching it there is only a possibility. A bar is ambiguous when its
        candle cannot tell the order of two fills (a stop and a target both inside its range, or
        an order's fill and a level on the side that may have come before it)."""
        book, d = self.book, self.d
        worst, best = float(book.worst[d][bar]), float(book.best[d][bar])
        signed_open = d * float(book.open[bar])
        gap = entered_by is None and (signed_open <= adverse or signed_open >= self.next_target())
        adverse_hit, favourable_hit = worst <= adverse, best >= self.next_target()
        maybe_adverse, maybe_favourable = entered_by == "stop", entered_by == "limit"
        if not gap and (
            (adverse_hit and favourable_hit) or (adverse_hit and maybe_adverse) or (favourable_hit and maybe_favourable)
        ):
            self.position.ambiguous += 1
        fine = book._fine
        if fine is not None and fine.covers(bar):
            return self.settle_on_path(bar, adverse, fine_point or 0)
        if entered_by is None:  # the position was open at the bar's open
            if signed_open <= adverse:
                return self.stop_out(bar, signed_open, adverse, at_open=True)
            while self.left > 0 and signed_open >= self.next_target():
                if self.take_profit(bar, signed_open, at_open=True):
                    return True
            favourable_hit = best >= self.next_target()
        if not book.take_profit_first:  # pessimistic: the adverse side first
            if adverse_hit:
                return self.stop_out(bar, adverse, adverse, at_open=False)
            if favourable_hit and not maybe_favourable:
                return self.take_profits_inside(bar, best)
            return False
        if favourable_hit and self.take_profits_inside(bar, best):
            return True
        if adverse_hit and not maybe_adverse:
            return self.stop_out(bar, adverse, adverse, at_open=False)
        return False

    def take_profits_inside(self, bar: int, best: float) -> bool:
        while self.left > 0 and best >= self.next_target():
            if self.take_profit(bar, self.next_target(), at_open=False):
                return True
        return False

    def settle_on_path(self, bar: int, adverse: float, first_point: int) -> bool:
        """The bar resolved on the finer candles' path (open, nearer extreme, other extreme,
        close): each level fills where the path first reaches it, at a finer candle's open when
        the path gaps through it there."""
        fine = self.book._fine
        assert fine is not None
        prices, opens = fine.path(bar, self.d)
        point = first_point
        while point < len(prices):
            reached = np.flatnonzero((prices[point:] <= adverse) | (prices[point:] >= self.next_target()))
            if not len(reached):
                return False
            point += int(reached[0])
            price, at_open = float(prices[point]), bool(opens[point])
            if price <= adverse:
                return self.stop_out(bar, price if at_open else adverse, adverse, at_open=at_open and point == 0)
            while self.left > 0 and price >= self.next_target():
                if self.take_profit(bar, price if at_open else self.next_target(), at_open=at_open and point == 0):
                    return True
            point += 1
        return False

    def stop_out(self, bar: int, touched: float, adverse: float, at_open: bool) -> bool:
        """Close what is left at a stop (a market order: slippage, taker fee) or a liquidation."""
        book, d = self.book, self.d
        fill = d * book.slip(d * touched, d, entering=False)
        if fill <= self.liquidation:
            self.close(bar, d * self.liquidation, book.taker + book.maintenance, LIQUIDATION, at_open)
            return True
        trailing = self.trail is not None and adverse > self.fixed_adverse
        self.close(bar, d * fill, book.taker, TRAILING_STOP if trailing else STOP_LOSS, at_open)
        return True

    def take_profit(self, bar: int, signed_price: float, at_open: bool) -> bool:
        """Fill the next target (a limit order: maker fee, no slippage); True once closed."""
        book = self.book
        if self.hit_levels < len(self.levels):
            share = self.levels[self.hit_levels][1]
            self.hit_levels += 1
            closes = share >= self.left - 1e-12
            self.position.exits.append(
                Exit(bar, self.d * signed_price, book.maker, TAKE_PROFIT, at_open, None if closes else share)
            )
            self.left = 0.0 if closes else self.left - share
            if closes:
                self.position.release = bar
            return closes
        self.close(bar, self.d * signed_price, book.maker, TAKE_PROFIT, at_open)
        return True

    def close(self, bar: int, price: float, fee: float, reason: int, at_open: bool) -> None:
        self.position.exits.append(Exit(bar, price, fee, reason, at_open, None))
        self.left = 0.0
        self.position.release = max(self.position.release, min(bar, self.book.n))


class _FinePath:
    """Finer candles of the backtest's range, as a price path per coarse bar."""

    def __init__(self, fine: Candles | None, candles: Candles, settings: BacktestSettings) -> None:
        if fine is None:
            raise ValueError("intrabar resolution needs the finer candles (MarketData.fine)")
        self.fine = fine
        step = TIMEFRAME_MS[settings.timeframe]
        self.first = np.searchsorted(fine.ts, candles.ts).tolist()
        self.last = np.searchsorted(fine.ts, candles.ts + step).tolist()

    def covers(self, bar: int) -> bool:
        return self.last[bar] > self.first[bar]

    def path(self, bar: int, d: int) -> tuple[NDArray[Any], NDArray[Any]]:
        """Signed prices of the path through the bar and whether each point is a finer open.
        Each finer candle goes open, the extreme nearer its open (the high on a tie), the other
        extreme, close."""
        rows = slice(self.first[bar], self.last[bar])
        o, h, l, c = self.fine.open[rows], self.fine.high[rows], self.fine.low[rows], self.fine.close[rows]
        high_first = (h - o) <= (o - l)
        points: NDArray[Any] = np.empty((len(o), 4))
        points[:, 0], points[:, 3] = o, c
        points[:, 1] = np.where(high_first, h, l)
        points[:, 2] = np.where(high_first, l, h)
        points = points.ravel()
        opens = np.zeros(points.shape, dtype=bool)
        opens[::4] = True
        return d * points, opens

    def first_cross(self, bar: int, d: int, signed_level: float, below: bool, from_point: int) -> tuple[int, float]:
        """(point index, price) where the path first reaches the level (an entry order's fill)."""
        prices, opens = self.path(bar, d)
        crossed = np.flatnonzero(prices[from_point:] <= signed_level if below else prices[from_point:] >= signed_level)
        if not len(crossed):  # the coarse bar reached it but its finer candles do not: at the level
            return len(prices), d * signed_level
        point = from_point + int(crossed[0])
        return point, d * float(prices[point]) if opens[point] else d * signed_level


def own_chain(book: Book) -> list[Position]:
    """Positions taken from the first candidate on, ignoring sizing (a chunk's own chain)."""
    taken, candidate = [], 0
    while candidate < len(book.candidate_bar):
        position = book.resolve(candidate)
        taken.append(position)
        candidate = int(np.searchsorted(book.candidate_bar, position.release))
    return taken


@dataclass
class Walked:
    positions: list[Position]
    units: list[list[float]]  # per position: units per entry (pyramiding) or per exit (legs)
    skipped_orders: int


def walk(book: Book, sizer: Sizer, cache: dict[int, Position] | None = None) -> Walked:
    """The positions taken, in order, sized; `cache` maps a signal bar to its resolved position."""
    cache = cache or {}
    positions, units, skipped = [], [], 0
    candidate = 0
    bars = book.candidate_bar
    while candidate < len(bars) and sizer.equity > 0.0:
        signal = int(bars[candidate])
        position = cache.get(signal)
        if position is None or position.side != book.candidate_side[candidate]:
            position = book.resolve(candidate)
        if not position.entries:
            candidate = int(np.searchsorted(bars, position.release))
            continue
        sized = sizer.size(position)
        if sized is None:
            skipped += 1
            candidate = int(np.searchsorted(bars, position.entries[0].bar))
            continue
        sized_units, skipped_adds = sized
        skipped += skipped_adds
        positions.append(position)
        units.append(sized_units)
        candidate = int(np.searchsorted(bars, position.release))
    return Walked(positions, units, skipped)


class Sizer:
    """Quantities for positions in order, from the equity each one starts with (see `sizing`
    for the modes): entry k gets weight_k * scale units, capped so its margin + fee fit its
    share of the equity, rounded down to the lot; below min_notional an order is skipped."""

    def __init__(self, book: Book, initial_balance: float) -> None:
        self.book, self.equity = book, float(initial_balance)
        self.funding = _Funding(book)
        self.rows: list[tuple[int, int, int, float]] = []  # (position no., entry, exit, units)
        self.corrections: list[float] = []  # per position: sized equity after - (equity before + pnl)

    def size(self, position: Position) -> tuple[list[float], int] | None:
        book, config = self.book, self.book.config
        equity, leverage = self.equity, book.leverage
        mode = config.position_sizing
        scale = {
            "all_in": equity * leverage,
            "percent_of_equity": min(1.0, book.rules.risk or 0.0) * equity * leverage,
            "risk_based": equity * (book.rules.risk or 0.0) / (book.rules.stop_loss or 0.01),
            "fixed_quantity": config.quantity or 0.0,
            "fixed_notional": config.notional or 0.0,
        }[mode]
        rules = book.market.rules
        entry_units, skipped_adds = [], 0
        committed_all = True
        for index, entry in enumerate(position.entries):
            share = book.rules.entry_share(index)
            cap = share * equity * leverage / (entry.price * (1.0 + leverage * entry.fee))
            units = min(entry.weight * scale, cap)
            committed_all &= units >= cap * (1 - 1e-12) and share == 1.0
            if rules.lot_size is not None:
                units = math.floor(units / rules.lot_size + 1e-9) * rules.lot_size
            if units <= 0.0 or (rules.min_notional is not None and units * entry.price < rules.min_notional):
                if index == 0:
                    return None
                skipped_adds += 1
                units = 0.0
            entry_units.append(units)
        total = sum(entry_units)
        if len(position.exits) > 1:  # legs of one entry
            legs, left = [], total
            for leg in position.exits:
                units = left if leg.share is None else min(left, self._lots(leg.share * total))
                legs.append(units)
                left -= units
            rows = [(0, j, units) for j, units in enumerate(legs)]
            result = legs
        else:
            rows = [(k, 0, units) for k, units in enumerate(entry_units)]
            result = entry_units
        number = len(self.funding.charges_by_position)
        pnl = 0.0
        charges: list[tuple[int, float]] = []
        d = position.side
        for k, j, units in rows:
            if units <= 0.0:
                continue
            entry, leg = position.entries[k], position.exits[j]
            pnl += d * units * (leg.price - entry.price) - units * (entry.price * entry.fee + leg.price * leg.fee)
            charges.extend(self.funding.charges(entry, leg, d, units))
            self.rows.append((number, k, j, units))
        self.funding.charges_by_position.append(charges)
        pnl -= math.fsum(amount for _, amount in charges)
        liquidated = position.exits[-1].reason == LIQUIDATION and len(position.exits) == 1
        self.equity = 0.0 if (liquidated and committed_all) else max(0.0, equity + pnl)
        # What the equity curve's cash must step by at the close (liquidation: exactly the equity).
        self.corrections.append(self.equity - (equity + pnl))
        return result, skipped_adds

    def _lots(self, units: float) -> float:
        lot = self.book.market.rules.lot_size
        return units if lot is None else math.floor(units / lot + 1e-9) * lot


class _Funding:
    """Funding charges: at each funding time T while units are open, d * units * price * rate,
    the price being the open of the bar holding T. Open from the fill (a fill at a bar's open
    holds at T = that open) to the exit (an exit at a bar's open is gone at T = that open)."""

    def __init__(self, book: Book) -> None:
        self.charges_by_position: list[list[tuple[int, float]]] = []
        rates = book.market.funding if book.settings.funding else None
        if rates is None:
            self.times = np.empty(0, dtype=np.int64)
            self.bar: NDArray[Any] = np.empty(0, dtype=np.intp)
            self.price_rate = np.empty(0)
            return
        ts = book.candles.ts
        step = TIMEFRAME_MS[book.settings.timeframe]
        inside = (rates.times >= ts[0]) & (rates.times < ts[-1] + step)
        self.times = rates.times[inside]
        self.bar = np.searchsorted(ts, self.times, side="right") - 1
        self.price_rate = book.open[self.bar] * rates.rates[inside]
        self.ts, self.step, self.n = ts, step, book.n

    def charges(self, entry: Entry, leg: Exit, d: int, units: float) -> list[tuple[int, float]]:
        if not len(self.times):
            return []
        start = self.ts[entry.bar]
        first = int(np.searchsorted(self.times, start, side="left" if entry.at_open else "right"))
        if leg.bar >= self.n:
            last = len(self.times)
        else:
            last = int(np.searchsorted(self.times, self.ts[leg.bar], side="left" if leg.at_open else "right"))
        return [(int(self.bar[i]), d * units * float(self.price_rate[i])) for i in range(first, last)]


def settle_positions(book: Book, walked: Walked, sizer: Sizer, initial_balance: float) -> tuple[Trades, NDArray[Any]]:
    """Trades (one per exit leg, or one per pyramided position) and the equity at every close:
    cash, minus the open rows' entry fees, plus d * units * (close - entry) while open, minus the
    funding paid so far."""
    n, close, ts = book.n, book.close, book.candles.ts
    intercept, slope = np.zeros(n + 1), np.zeros(n + 1)
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "entry_bar",
            "exit_bar",
            "side",
            "entry_price",
            "exit_price",
            "quantity",
            "pnl",
            "fees",
            "exit_reason",
            "funding",
            "leg",
        )
    }
    charges = sizer.funding.charges_by_position
    by_position: dict[int, list[tuple[int, int, float]]] = {}
    for number, k, j, units in sizer.rows:
        by_position.setdefault(number, []).append((k, j, units))
    for number, position in enumerate(walked.positions):
        d = position.side
        rows = by_position.get(number, [])
        for bar, amount in charges[number]:
            intercept[bar] -= amount
        intercept[position.exits[-1].bar] += sizer.corrections[number]
        row_funding = [
            math.fsum(amount for _, amount in sizer.funding.charges(position.entries[k], position.exits[j], d, units))
            for k, j, units in rows
        ]
        for (k, j, units), _funding in zip(rows, row_funding):
            entry, leg = position.entries[k], position.exits[j]
            entry_fee = units * entry.price * entry.fee
            realised = d * units * (leg.price - entry.price) - entry_fee - units * leg.price * leg.fee
            intercept[entry.bar] += -entry_fee - d * units * entry.price
            slope[entry.bar] += d * units
            intercept[leg.bar] += realised + entry_fee + d * units * entry.price
            slope[leg.bar] -= d * units
        groups = (
            [[row] for row in zip(rows, row_funding)] if len(position.exits) > 1 else [list(zip(rows, row_funding))]
        )
        for group in groups:
            quantity = sum(units for (_, _, units), _ in group)
            if quantity <= 0.0:
                continue
            leg = position.exits[group[0][0][1]]
            cost = sum(units * position.entries[k].price for (k, _, units), _ in group)
            fees = sum(
                units * (position.entries[k].price * position.entries[k].fee + leg.price * leg.fee)
                for (k, _, units), _ in group
            )
            funding = sum(amount for _, amount in group)
            columns["entry_bar"].append(position.entries[0].bar)
            columns["exit_bar"].append(-1 if leg.bar >= n else leg.bar)
            columns["side"].append(d)
            columns["entry_price"].append(cost / quantity)
            columns["exit_price"].append(leg.price)
            columns["quantity"].append(quantity)
            columns["pnl"].append(d * (quantity * leg.price - cost) - fees - funding)
            columns["fees"].append(fees)
            columns["exit_reason"].append(leg.reason)
            columns["funding"].append(funding)
            columns["leg"].append(group[0][0][1] + 1)
    equity = initial_balance + np.cumsum(intercept)[:n] + np.cumsum(slope)[:n] * close
    if book.can_liquidate:
        np.maximum(equity, 0.0, out=equity)
    entry_bar = np.array(columns["entry_bar"], dtype=np.int64)
    exit_bar = np.array(columns["exit_bar"], dtype=np.int64)
    entry_price, quantities = np.array(columns["entry_price"]), np.array(columns["quantity"])
    pnl = np.array(columns["pnl"])
    trades = Trades(
        entry_bar=entry_bar,
        exit_bar=exit_bar,
        entry_time=ts[entry_bar],
        exit_time=np.where(exit_bar < 0, -1, ts[np.maximum(exit_bar, 0)]) if len(exit_bar) else exit_bar.copy(),
        side=np.array(columns["side"], dtype=np.int8),
        entry_price=entry_price,
        exit_price=np.array(columns["exit_price"]),
        quantity=quantities,
        pnl=pnl,
        pnl_percentage=100.0 * book.leverage * pnl / (quantities * entry_price) if len(pnl) else pnl.copy(),
        fees=np.array(columns["fees"]),
        exit_reason=np.array(columns["exit_reason"], dtype=np.int8),
        funding=np.array(columns["funding"]),
        leg=np.array(columns["leg"], dtype=np.int16),
    )
    return trades, equity


SIGNAL_NAMES = ("entry", "exit", "short_entry", "short_exit")
_ENTRY_FIELDS = ("bar", "price", "fee", "at_open", "weight")
_EXIT_FIELDS = ("bar", "price", "fee", "reason", "at_open", "share")


def shifted(position: Position, offset: int) -> Position:
    """A position resolved on a window starting at global bar `offset`, in global bars (only for
    positions that did not reach the window's end)."""
    return Position(
        signal_bar=position.signal_bar + offset,
        side=position.side,
        release=position.release + offset,
        entries=[
            Entry(entry.bar + offset, entry.price, entry.fee, entry.at_open, entry.weight) for entry in position.entries
        ],
        exits=[
            Exit(leg.bar + offset, leg.price, leg.fee, leg.reason, leg.at_open, leg.share) for leg in position.exits
        ],
        ambiguous=position.ambiguous,
    )


def positions_to_arrays(positions: list[Position]) -> dict[str, NDArray[Any]]:
    """Flat arrays of resolved positions (a chunk's .npz); `positions_from_arrays` reads them."""
    entries = [entry for position in positions for entry in position.entries]
    exits = [leg for position in positions for leg in position.exits]
    arrays: dict[str, NDArray[Any]] = {
        "position_head": np.array(
            [[p.signal_bar, p.side, p.release, p.ambiguous, len(p.entries), len(p.exits)] for p in positions],
            dtype=np.int64,
        ).reshape(-1, 6),
    }
    for name in _ENTRY_FIELDS:
        arrays[f"position_entry_{name}"] = np.array([getattr(entry, name) for entry in entries], dtype=np.float64)
    for name in _EXIT_FIELDS:
        arrays[f"position_exit_{name}"] = np.array(
            [np.nan if getattr(leg, name) is None else getattr(leg, name) for leg in exits], dtype=np.float64
        )
    return arrays


def positions_from_arrays(arrays: dict[str, NDArray[Any]]) -> list[Position]:
    entries = [
        Entry(int(bar), float(price), float(fee), bool(at_open), float(weight))
        for bar, price, fee, at_open, weight in zip(*(arrays[f"position_entry_{name}"] for name in _ENTRY_FIELDS))
    ]
    exits = [
        Exit(int(bar), float(price), float(fee), int(reason), bool(at_open), None if math.isnan(share) else share)
        for bar, price, fee, reason, at_open, share in zip(*(arrays[f"position_exit_{name}"] for name in _EXIT_FIELDS))
    ]
    positions, first_entry, first_exit = [], 0, 0
    for signal_bar, side, release, ambiguous, entry_count, exit_count in arrays["position_head"].tolist():
        positions.append(
            Position(
                signal_bar,
                side,
                release,
                entries[first_entry : first_entry + entry_count],
                exits[first_exit : first_exit + exit_count],
                ambiguous,
            )
        )
        first_entry += entry_count
        first_exit += exit_count
    return positions
