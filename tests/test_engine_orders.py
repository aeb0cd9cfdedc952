"""Orders and costs, each convention pinned by a small hand-computed case (README "Execution
conventions"): entry orders, take-profit levels, break-even, maker/taker fees, funding, exchange
rules, intrabar paths, both sides. Expected numbers come from the documented formulas by hand.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from shared.candles import Candles
from shared.engine import BacktestSettings, simulate
from shared.engine.positions import MarketData
from shared.errors import ValidationFailed
from shared.market_data.funding import FundingRates
from shared.market_data.symbol_rules import SymbolRules
from shared.strategy import validate_strategy
from shared.strategy.model import EntryOrder, Pyramiding, Signals, StrategyConfig, TakeProfitLevel

HOUR = 3_600_000
QUARTER = 900_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MAKER, TAKER = 0.02, 0.05  # percent


def make_candles(*rows, step=HOUR, start=T0) -> Candles:
    opens, highs, lows, closes = (np.array(column, dtype=float) for column in zip(*rows))
    return Candles.from_arrays(start + step * np.arange(len(rows)), opens, highs, lows, closes, np.ones(len(rows)))


def flat(price: float) -> tuple[float, float, float, float]:
    return (price, price + 0.5, price - 0.5, price)


def signals(n: int, entries=(), exits=(), short_entries=None, short_exits=()) -> Signals:
    def column(bars) -> np.ndarray:
        values = np.zeros(n, dtype=bool)
        values[list(bars)] = True
        return values

    if short_entries is None:
        return Signals(column(entries), column(exits))
    return Signals(column(entries), column(exits), short_entry=column(short_entries), short_exit=column(short_exits))


def run(candles, marks: Signals, market: MarketData | None = None, settings: dict | None = None, **config):
    backtest = BacktestSettings(
        **{"initial_balance": 10_000.0, "maker_fee": MAKER, "taker_fee": TAKER, **(settings or {})}
    )
    return simulate(candles, marks, StrategyConfig(**config), backtest, market)


def limit(offset: float, expire_bars: int = 1) -> EntryOrder:
    return EntryOrder("limit", offset, expire_bars)


class TestEntryOrders:
    def test_a_limit_fills_at_its_level_when_the_bar_trades_through_it(self):
        # Signal at bar 0's close 100: a long limit 1 % below, at 99; bar 1 opens 100 and trades to 98.5
        candles = make_candles(flat(100), (100, 100.5, 98.5, 99.5), flat(99.5))
        result = run(candles, signals(3, entries=[0]), entry_order=limit(1.0))
        trade = result.trades.to_records()[0]
        assert (trade["entry_bar"], trade["entry_price"]) == (1, 99.0)
        # a limit fill pays the maker fee, no slippage: units = equity / (99 * (1 + 0.0002))
        assert trade["quantity"] == pytest.approx(10_000 / (99 * 1.0002), rel=1e-12)

    def test_a_gap_through_a_limit_fills_at_the_open(self):
        # Bar 1 opens at 97, below the 99 limit: the order fills at the open, better than its level
        candles = make_candles(flat(100), (97, 98, 96.5, 97.5), flat(97.5))
        result = run(candles, signals(3, entries=[0]), entry_order=limit(1.0), slippage=0.5)
        trade = result.trades.to_records()[0]
        assert (trade["entry_bar"], trade["entry_price"]) == (1, 97.0)
        assert trade["fees"] == pytest.approx(trade["quantity"] * 97 * 0.0002, rel=1e-12)  # open at the end: entry fee

    def test_a_limit_lapses_after_expire_bars_and_signals_count_again_from_its_last_bar(self):
        # Live on bars 1..2 at 99; neither reaches it. The signal at bar 2 (the order's last bar) counts:
        # a new limit at 101 * 0.99 = 99.99, reached on bar 3.
        candles = make_candles(flat(100), flat(100), (101, 101.5, 100.5, 101), (101, 101.2, 99.5, 100), flat(100))
        result = run(candles, signals(5, entries=[0, 1, 2]), entry_order=limit(1.0, expire_bars=2))
        records = result.trades.to_records()
        assert [(r["entry_bar"], r["entry_price"]) for r in records] == [(3, pytest.approx(99.99))]

    def test_a_stop_entry_buys_the_breakout_at_its_level_paying_taker_fee_and_slippage(self):
        candles = make_candles(flat(100), (100, 102, 99.8, 101.5), flat(101.5))
        result = run(candles, signals(3, entries=[0]), entry_order=EntryOrder("stop", 1.0, 1), slippage=0.1)
        trade = result.trades.to_records()[0]
        assert trade["entry_price"] == pytest.approx(101 * 1.001, rel=1e-12)
        assert trade["quantity"] == pytest.approx(10_000 / (101 * 1.001 * 1.0005), rel=1e-12)

    def test_a_limit_and_its_stop_loss_in_one_bar_fill_in_that_order(self):
        # The limit at 99 fills on the way down; the stop 2 % below the fill (97.02) is further down
        # the same move, so the bar's low of 96 reaches it after the fill: decided, not ambiguous.
        candles = make_candles(flat(100), (100, 100.2, 96, 97), flat(97))
        result = run(candles, signals(3, entries=[0]), entry_order=limit(1.0), stop_loss=2.0)
        trade = result.trades.to_records()[0]
        assert (trade["entry_bar"], trade["exit_bar"], trade["exit_reason"]) == (1, 1, "stop_loss")
        assert trade["exit_price"] == pytest.approx(97.02, rel=1e-12)
        units = 10_000 / (99 * 1.0002)
        fees = units * (99 * 0.0002 + 97.02 * 0.0005)
        assert trade["pnl"] == pytest.approx(units * (97.02 - 99) - fees, rel=1e-12)
        assert result.performance_summary["ambiguous_bars"] == 0

    def test_a_target_on_a_limits_fill_bar_is_ambiguous_and_same_bar_priority_decides(self):
        # The limit at 99 fills on the way down; the take-profit 1 % above (99.99) is inside the bar's
        # range, but the high of 100.5 may have come before the fill.
        candles = make_candles(flat(100), (100, 100.5, 98.8, 100.2), flat(100.2))
        marks = signals(3, entries=[0])
        cautious = run(candles, marks, entry_order=limit(1.0), take_profit=1.0)
        trade = cautious.trades.to_records()[0]  # not on bar 1; bar 2 opens above the target: at that open
        assert (trade["exit_bar"], trade["exit_reason"], trade["exit_price"]) == (2, "take_profit", 100.2)
        assert cautious.performance_summary["ambiguous_bars"] == 1
        hopeful = run(
            candles, marks, entry_order=limit(1.0), take_profit=1.0, settings={"same_bar_priority": "take_profit"}
        )
        trade = hopeful.trades.to_records()[0]
        assert (trade["exit_bar"], trade["exit_reason"], trade["exit_price"]) == (
            1,
            "take_profit",
            pytest.approx(99.99),
        )
        assert hopeful.performance_summary["ambiguous_bars"] == 1


class TestTakeProfitLevels:
    LEVELS = (TakeProfitLevel(2.0, 50.0),)

    def test_a_partial_take_profit_then_the_stop_are_two_legs(self):
        # Market entry at bar 1's open 100; half exits at 102 (maker), the rest at the 3 % stop 97 (taker)
        candles = make_candles(flat(100), (100, 102.5, 99.5, 102), (101, 101.5, 96, 96.5), flat(96.5))
        result = run(candles, signals(4, entries=[0]), take_profit_levels=self.LEVELS, stop_loss=3.0)
        legs = result.trades.to_records()
        units = 10_000 / (100 * 1.0005)
        assert [(r["leg"], r["exit_bar"], r["exit_reason"], r["exit_price"]) for r in legs] == [
            (1, 1, "take_profit", 102.0),
            (2, 2, "stop_loss", 97.0),
        ]
        assert [r["quantity"] for r in legs] == [pytest.approx(units / 2, rel=1e-12)] * 2
        first = units / 2 * (102 - 100) - units / 2 * (100 * 0.0005 + 102 * 0.0002)
        second = units / 2 * (97 - 100) - units / 2 * (100 * 0.0005 + 97 * 0.0005)
        assert [r["pnl"] for r in legs] == [pytest.approx(first, rel=1e-12), pytest.approx(second, rel=1e-12)]
        assert result.final_balance == pytest.approx(10_000 + first + second, rel=1e-12)

    def test_break_even_moves_the_stop_to_the_entry_from_the_bar_after_the_level(self):
        candles = make_candles(flat(100), (100, 102.5, 99.5, 102), (101, 101.5, 96, 96.5), flat(96.5))
        result = run(
            candles, signals(4, entries=[0]), take_profit_levels=self.LEVELS, stop_loss=3.0, break_even_after=1
        )
        legs = result.trades.to_records()
        assert [(r["exit_reason"], r["exit_price"]) for r in legs] == [("take_profit", 102.0), ("stop_loss", 100.0)]

    def test_exposure_counts_a_position_closed_in_legs_once(self):
        # In the position at the closes of bars 1 and 2 (half sold at bar 2, the rest stopped at bar 3)
        candles = make_candles(
            flat(100), (100, 101, 99.5, 100.5), (100.5, 102.5, 100, 102), (101, 101.5, 96, 96.5), flat(96.5)
        )
        result = run(candles, signals(5, entries=[0]), take_profit_levels=self.LEVELS, stop_loss=3.0)
        assert [r["exit_bar"] for r in result.trades.to_records()] == [2, 3]
        assert result.performance_summary["exposure"] == pytest.approx(100 * 2 / 5)

    def test_levels_summing_to_100_close_the_position_at_the_last_one(self):
        candles = make_candles(flat(100), (100, 101.2, 99.8, 101), (101, 103.5, 100.5, 103), flat(103))
        levels = (TakeProfitLevel(1.0, 40.0), TakeProfitLevel(3.0, 60.0))
        result = run(candles, signals(4, entries=[0]), take_profit_levels=levels)
        assert [(r["leg"], r["exit_bar"], r["exit_price"]) for r in result.trades.to_records()] == [
            (1, 1, 101.0),
            (2, 2, 103.0),
        ]


class TestTrailingActivation:
    def test_the_trailing_stop_starts_only_once_price_moved_that_far(self):
        # Trail 2 %, activation 3 % (103): bar 1's high 102 does not activate it, so bar 2's dip to 99.5
        # (below 102 * 0.98 = 99.96) does not stop; bar 2's high 104 activates it from bar 3: 104 * 0.98
        candles = make_candles(
            flat(100), (100, 102, 100, 101), (101, 104, 99.5, 103), (103, 103.5, 101, 101.5), flat(101.5)
        )
        result = run(candles, signals(5, entries=[0]), trailing_stop=2.0, trailing_activation=3.0)
        trade = result.trades.to_records()[0]
        assert (trade["exit_bar"], trade["exit_reason"]) == (3, "trailing_stop")
        assert trade["exit_price"] == pytest.approx(104 * 0.98, rel=1e-12)


class TestPyramiding:
    def test_entries_add_at_the_next_open_and_stops_follow_the_average(self):
        # Entries at 100 and 104 with sizes 50 % and 50 % of an all-in entry, fee 0 for clarity
        candles = make_candles(flat(100), flat(100), flat(104), (104, 104.5, 99, 100), flat(100))
        result = run(
            candles,
            signals(5, entries=[0, 1]),
            pyramiding=Pyramiding(2, (50.0, 50.0)),
            stop_loss=2.0,
            settings={"maker_fee": 0.0, "taker_fee": 0.0},
        )
        trade = result.trades.to_records()[0]
        first, second = 0.5 * 10_000 / 100, 0.5 * 10_000 / 104
        average = (first * 100 + second * 104) / (first + second)
        assert trade["quantity"] == pytest.approx(first + second, rel=1e-12)
        assert trade["entry_price"] == pytest.approx(average, rel=1e-12)
        assert (trade["exit_bar"], trade["exit_reason"]) == (3, "stop_loss")
        assert trade["exit_price"] == pytest.approx(average * 0.98, rel=1e-12)


class TestLongAndShort:
    def test_a_reversal_closes_the_long_and_opens_the_short_at_the_same_open(self):
        candles = make_candles(flat(100), flat(101), flat(102), flat(103), flat(104))
        result = run(
            candles,
            signals(5, entries=[0], short_entries=[2]),
            direction="both",
            settings={"maker_fee": 0.0, "taker_fee": 0.0},
        )
        records = result.trades.to_records()
        assert [(r["side"], r["entry_bar"], r["exit_bar"], r["exit_reason"]) for r in records] == [
            ("long", 1, 3, "reversal"),
            ("short", 3, None, "open"),
        ]
        assert records[0]["pnl"] == pytest.approx(10_000 / 101 * 2, rel=1e-12)


class TestFunding:
    def test_funding_is_charged_at_each_funding_time_while_open(self):
        # Long from bar 1's open (01:00) to bar 3's open (03:00). Funding times 01:00 (held: entered at
        # that open), 02:00 (held) and 03:00 (closed at that open: not charged), rate 0.01 %.
        candles = make_candles(flat(100), flat(101), flat(102), flat(103), flat(104))
        rates = FundingRates(T0 + HOUR * np.array([1, 2, 3]), np.full(3, 0.0001))
        market = MarketData(funding=rates)
        result = run(candles, signals(5, entries=[0], exits=[2]), market=market, settings={"funding": True})
        trade = result.trades.to_records()[0]
        units = 10_000 / (101 * 1.0005)
        funding = units * 101 * 0.0001 + units * 102 * 0.0001
        assert trade["funding"] == pytest.approx(funding, rel=1e-12)
        fees = units * (101 + 103) * 0.0005
        assert trade["pnl"] == pytest.approx(units * 2 - fees - funding, rel=1e-12)
        assert result.performance_summary["funding_paid"] == pytest.approx(funding, rel=1e-12)
        # the equity pays it at the close of the bar holding the funding time
        units_marked = 10_000 - units * 101 * 0.0005
        assert result.equity_curve[1] == pytest.approx(units_marked - units * 101 * 0.0001, rel=1e-12)

    def test_a_short_receives_a_positive_rate(self):
        candles = make_candles(flat(100), flat(101), flat(102), flat(103))
        rates = FundingRates(T0 + HOUR * np.array([2]), np.array([0.0003]))
        result = run(
            candles,
            signals(4, entries=[0], exits=[2]),
            market=MarketData(funding=rates),
            settings={"funding": True},
            direction="short",
        )
        trade = result.trades.to_records()[0]
        units = 10_000 / (101 * 1.0005)
        assert trade["funding"] == pytest.approx(-units * 102 * 0.0003, rel=1e-12)


class TestExchangeRules:
    def test_quantities_round_down_to_lots_and_an_order_below_min_notional_is_skipped(self):
        candles = make_candles(flat(100), flat(100), flat(100), flat(100), flat(100))
        rules = MarketData(rules=SymbolRules(tick_size=0.01, lot_size=0.1, min_notional=50.0))
        # 0.45 units round down to 0.4: 40 < 50, skipped; the account stays flat, so the signal at
        # the would-be fill bar (1) fills at bar 2 — again skipped.
        skipped = run(candles, signals(5, entries=[1]), market=rules, position_sizing="fixed_quantity", quantity=0.45)
        assert len(skipped.trades) == 0 and skipped.performance_summary["skipped_orders"] == 1
        # 0.57 units round down to 0.5: 50 >= 50, taken
        taken = run(candles, signals(5, entries=[1]), market=rules, position_sizing="fixed_quantity", quantity=0.57)
        assert taken.trades.quantity.tolist() == [pytest.approx(0.5)]
        assert taken.performance_summary["skipped_orders"] == 0

    def test_prices_round_to_the_tick_and_tick_slippage_moves_market_fills(self):
        candles = make_candles(flat(100), flat(100), flat(100), flat(100))
        market = MarketData(rules=SymbolRules(tick_size=0.5))
        result = run(
            candles, signals(4, entries=[0], exits=[1]), market=market, settings={"slippage_ticks": 2.0}, stop_loss=1.3
        )
        trade = result.trades.to_records()[0]
        # 100 + 2 ticks; the stop 101 * 0.987 = 99.687 rounds to the 99.5 tick, reached on bar 1, and
        # sells 2 ticks lower
        assert (trade["entry_price"], trade["exit_reason"], trade["exit_price"]) == (101.0, "stop_loss", 98.5)


class TestIntrabar:
    BAR = (100, 103, 97, 100)  # a 2 % stop (98) and a 2 % target (102) both inside the hour

    def fine(self, first: tuple[float, float, float, float]) -> Candles:
        rest = [(first[3], 100.5, 99.5, 100.0)] * 3
        candles = make_candles(flat(100), *[flat(100)] * 4, step=QUARTER)  # bar 0's quarters
        hour = make_candles(first, *rest, step=QUARTER, start=T0 + HOUR)
        tail = make_candles(*[flat(100)] * 4, step=QUARTER, start=T0 + 2 * HOUR)
        return Candles.from_arrays(
            np.concatenate((candles.ts[:4], hour.ts, tail.ts)),
            *(
                np.concatenate((getattr(candles, name)[:4], getattr(hour, name), getattr(tail, name)))
                for name in ("open", "high", "low", "close")
            ),
            np.ones(12),
        )

    def run_path(self, first):
        candles = make_candles(flat(100), self.BAR, flat(100))
        return run(
            candles,
            signals(3, entries=[0]),
            market=MarketData(fine=self.fine(first)),
            settings={"intrabar_timeframe": "15m"},
            stop_loss=2.0,
            take_profit=2.0,
        )

    def test_the_path_reaches_the_target_first(self):
        # First quarter 100 -> 99.5 (nearer the open) -> 103 -> 102.5: the target fills first
        result = self.run_path((100, 103, 99.5, 102.5))
        trade = result.trades.to_records()[0]
        assert (trade["exit_reason"], trade["exit_price"]) == ("take_profit", 102.0)
        assert result.performance_summary["ambiguous_bars"] == 1  # the hour alone could not tell

    def test_the_path_reaches_the_stop_first(self):
        # First quarter 100 -> 100.5 (nearer the open) -> 97 -> 97.5: the stop fills first
        result = self.run_path((100, 100.5, 97, 97.5))
        trade = result.trades.to_records()[0]
        assert (trade["exit_reason"], trade["exit_price"]) == ("stop_loss", 98.0)

    def test_without_finer_candles_the_stop_wins_by_default(self):
        candles = make_candles(flat(100), self.BAR, flat(100))
        result = run(candles, signals(3, entries=[0]), stop_loss=2.0, take_profit=2.0)
        assert result.trades.to_records()[0]["exit_reason"] == "stop_loss"
        assert result.performance_summary["ambiguous_bars"] == 1


class TestValidation:
    ENTRY: ClassVar[dict] = {
        "operator": "and",
        "conditions": [{"indicator": "price", "params": {}, "comparator": ">", "value": 1}],
    }

    def errors(self, config: dict, **extra) -> dict[str, str]:
        with pytest.raises(ValidationFailed) as failure:
            validate_strategy({"entry_rules": self.ENTRY, "config": config, **extra})
        return {error.field: error.message for error in failure.value.errors}

    def test_every_new_config_field_is_checked_by_name(self):
        assert "config.entry_order.type" in self.errors({"entry_order": {"type": "iceberg"}})
        assert "config.entry_order.expire_bars" in self.errors({"entry_order": {"type": "limit", "expire_bars": 0}})
        assert "config.entry_order.offset" in self.errors({"entry_order": {"type": "limit", "offset": 100}})
        assert "config.take_profit_levels" in self.errors(
            {"take_profit_levels": [{"percent": 1, "size": 60}, {"percent": 2, "size": 60}]}
        )
        assert "config.take_profit_levels[1].percent" in self.errors(
            {"take_profit_levels": [{"percent": 2, "size": 10}, {"percent": 1, "size": 10}]}
        )
        assert "config.break_even_after" in self.errors({"break_even_after": 1})
        assert "config.trailing_activation" in self.errors({"trailing_activation": 1})
        assert "config.pyramiding.size" in self.errors({"pyramiding": {"max_entries": 2, "size": [80, 80]}})
        assert "config.take_profit_levels" in self.errors(
            {"pyramiding": {"max_entries": 2}, "take_profit_levels": [{"percent": 1, "size": 50}]}
        )
        assert "short_entry_rules" in self.errors({"direction": "both"})
        assert "short_entry_rules" in self.errors({}, short_entry_rules=self.ENTRY)

    def test_every_new_metadata_field_is_checked_by_name(self):
        def fields(**settings) -> set[str]:
            with pytest.raises(ValidationFailed) as failure:
                BacktestSettings(**settings)
            return {error.field for error in failure.value.errors}

        assert fields(maker_fee=11.0) == {"metadata.maker_fee"}
        assert fields(taker_fee=float("nan")) == {"metadata.taker_fee"}
        assert fields(slippage_ticks=-1.0) == {"metadata.slippage_ticks"}
        assert fields(same_bar_priority="random") == {"metadata.same_bar_priority"}
        assert fields(timeframe="1h", intrabar_timeframe="4h") == {"metadata.intrabar_timeframe"}
        assert fields(funding="yes") == {"metadata.funding"}
