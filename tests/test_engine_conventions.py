"""Execution conventions of the engine, each pinned by a small hand-computed case.

Candles are hourly; a row is (open, high, low, close). Signals are hand-made boolean arrays
(entry/exit rules holding at a bar's close); expected fills, quantities and pnl are computed by
hand from the documented formulas, never from the engine's output.
"""

from __future__ import annotations

import numpy as np
import pytest

from shared.candles import Candles
from shared.engine import BacktestSettings, simulate
from shared.strategy.model import Signals, StrategyConfig

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def make_candles(*rows: tuple[float, float, float, float]) -> Candles:
    opens, highs, lows, closes = (np.array(column, dtype=float) for column in zip(*rows))
    return Candles.from_arrays(T0 + HOUR * np.arange(len(rows)), opens, highs, lows, closes, np.ones(len(rows)))


def make_signals(n: int, entries=(), exits=()) -> Signals:
    entry, exit_ = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    entry[list(entries)] = True
    exit_[list(exits)] = True
    return Signals(entry, exit_)


def run(candles, entries=(), exits=(), commission=0.0, leverage=1.0, maintenance_margin=0.5, **config):
    settings = BacktestSettings(
        initial_balance=10_000.0, commission=commission, leverage=leverage, maintenance_margin=maintenance_margin
    )
    return simulate(candles, make_signals(len(candles), entries, exits), StrategyConfig(**config), settings)


def flat(price: float) -> tuple[float, float, float, float]:
    return (price, price + 1, price - 1, price)


RISING = make_candles(
    (100, 101, 99, 100),
    (102, 103, 101, 102),
    (104, 105, 103, 104),
    (106, 107, 105, 106),
    (108, 109, 107, 108),
)


class TestSignalFills:
    def test_entry_fills_at_next_open_and_exit_at_the_open_after_the_exit_signal(self):
        # Given an entry signal at bar 0's close and an exit signal at bar 2's close, fee 0.1 %
        result = run(RISING, entries=[0], exits=[2], commission=0.1)
        # Then one trade buys at bar 1's open (102) and sells at bar 3's open (106)
        trade = result.trades
        assert len(trade) == 1
        assert (trade.entry_bar[0], trade.exit_bar[0]) == (1, 3)
        assert (trade.entry_price[0], trade.exit_price[0]) == (102.0, 106.0)
        # all_in: units = equity / (open * (1 + fee))
        units = 10_000 / (102 * 1.001)
        assert trade.quantity[0] == pytest.approx(units, rel=1e-12)
        fees = units * 0.001 * (102 + 106)
        pnl = units * (106 - 102) - fees
        assert trade.fees[0] == pytest.approx(fees, rel=1e-12)
        assert trade.pnl[0] == pytest.approx(pnl, rel=1e-12)
        assert trade.pnl_percentage[0] == pytest.approx(100 * pnl / (units * 102), rel=1e-12)
        assert result.final_balance == pytest.approx(10_000 * 106 * 0.999 / (102 * 1.001), rel=1e-12)
        assert result.trades.to_records()[0]["exit_reason"] == "signal"
        assert result.trades.to_records()[0]["entry_time"] == "2024-01-01T01:00:00Z"
        assert result.trades.to_records()[0]["exit_time"] == "2024-01-01T03:00:00Z"

    def test_equity_is_marked_to_market_at_every_close_without_exit_fee(self):
        result = run(RISING, entries=[0], exits=[2], commission=0.1)
        units = 10_000 / (102 * 1.001)
        entry_fee = units * 102 * 0.001
        final = 10_000 * 106 * 0.999 / (102 * 1.001)
        expected = [10_000, 10_000 - entry_fee, 10_000 - entry_fee + units * 2, final, final]
        np.testing.assert_allclose(result.equity_curve, expected, rtol=1e-12)

    def test_a_signal_on_the_last_bar_never_fills(self):
        result = run(RISING, entries=[4])
        assert len(result.trades) == 0
        assert result.final_balance == 10_000.0

    def test_entries_only_when_flat_no_pyramiding(self):
        # Entry rules hold on bars 0..2; exit at bar 3: one position from bar 1 to bar 4
        result = run(RISING, entries=[0, 1, 2], exits=[3])
        assert result.trades.entry_bar.tolist() == [1]
        assert result.trades.exit_bar.tolist() == [4]

    def test_exit_signals_while_flat_are_ignored(self):
        result = run(RISING, entries=[1], exits=[0, 3])
        assert (result.trades.entry_bar.tolist(), result.trades.exit_bar.tolist()) == ([2], [4])

    def test_entry_signal_on_the_exit_signal_bar_does_not_fill_at_the_exit_open(self):
        # Exit signal at bar 2 fills at bar 3's open; the entry signal at bar 2 was evaluated while
        # still in the position, so it is ignored; the entry signal at bar 3 fills at bar 4.
        candles = make_candles(*(flat(100 + i) for i in range(6)))
        result = run(candles, entries=[0, 2, 3], exits=[2])
        assert result.trades.entry_bar.tolist() == [1, 4]
        assert result.trades.exit_bar.tolist() == [3, -1]

    def test_open_position_at_the_end_is_marked_at_the_last_close_without_exit_fee(self):
        result = run(RISING, entries=[1], commission=0.1)
        units = 10_000 / (104 * 1.001)
        record = result.trades.to_records()[0]
        assert record["exit_time"] is None and record["exit_bar"] is None
        assert record["exit_reason"] == "open"
        assert record["exit_price"] == 108.0
        assert record["pnl"] == pytest.approx(units * (108 - 104) - units * 104 * 0.001, rel=1e-12)
        assert result.final_balance == pytest.approx(10_000 + record["pnl"], rel=1e-12)
        # Open trades count in the equity, not in the closed-trade statistics
        assert result.performance_summary["total_trades"] == 0


class TestStops:
    def test_stop_loss_fills_at_its_level_and_the_flat_position_can_reenter_next_bar(self):
        # Entry fills at 100 (bar 1); SL 5 % = 95; bar 2 trades down to 94
        candles = make_candles(flat(100), flat(100), (99, 100, 94, 96), flat(97), flat(98))
        result = run(candles, entries=[0, 2], stop_loss=5)
        records = result.trades.to_records()
        assert (records[0]["exit_bar"], records[0]["exit_price"], records[0]["exit_reason"]) == (2, 95.0, "stop_loss")
        # The position is flat at bar 2's close, so bar 2's entry signal fills at bar 3's open
        assert records[1]["entry_bar"] == 3 and records[1]["entry_price"] == 97.0

    def test_stop_loss_gapped_through_fills_at_the_open(self):
        candles = make_candles(flat(100), flat(100), (90, 91, 88, 89), flat(90))
        result = run(candles, entries=[0], stop_loss=5)
        assert (result.trades.exit_price[0], result.trades.exit_bar[0]) == (90.0, 2)

    def test_stops_are_live_on_the_entry_bar(self):
        candles = make_candles(flat(100), (100, 101, 94, 97), flat(97))
        result = run(candles, entries=[0], stop_loss=5)
        assert (result.trades.entry_bar[0], result.trades.exit_bar[0], result.trades.exit_price[0]) == (1, 1, 95.0)

    def test_take_profit_fills_at_its_level_or_at_a_better_gap_open(self):
        at_level = make_candles(flat(100), flat(100), (105, 111, 104, 109), flat(109))
        gapped = make_candles(flat(100), flat(100), (112, 113, 111, 112), flat(112))
        assert run(at_level, entries=[0], take_profit=10).trades.exit_price[0] == pytest.approx(110.0, rel=1e-15)
        assert run(gapped, entries=[0], take_profit=10).trades.exit_price[0] == 112.0
        assert run(gapped, entries=[0], take_profit=10).trades.to_records()[0]["exit_reason"] == "take_profit"

    def test_stop_loss_wins_when_both_levels_are_inside_one_bar(self):
        candles = make_candles(flat(100), flat(100), (100, 111, 94, 100), flat(100))
        result = run(candles, entries=[0], stop_loss=5, take_profit=10)
        assert (result.trades.exit_price[0], result.trades.to_records()[0]["exit_reason"]) == (95.0, "stop_loss")

    def test_a_gap_through_the_take_profit_fills_it_at_the_open_even_if_the_bar_later_hits_the_stop(self):
        # The open is the first price of the bar: the limit order fills there before any low.
        candles = make_candles(flat(100), flat(100), (112, 113, 94, 100), flat(100))
        result = run(candles, entries=[0], stop_loss=5, take_profit=10)
        assert (result.trades.exit_price[0], result.trades.to_records()[0]["exit_reason"]) == (112.0, "take_profit")

    def test_a_signal_exit_at_the_open_comes_before_that_bars_stops(self):
        # Exit signal at bar 2's close fills at bar 3's open (96) although bar 3 falls through the SL
        candles = make_candles(flat(100), flat(100), flat(98), (96, 97, 90, 91), flat(91))
        result = run(candles, entries=[0], exits=[2], stop_loss=5)
        assert (result.trades.exit_bar[0], result.trades.exit_price[0]) == (3, 96.0)
        assert result.trades.to_records()[0]["exit_reason"] == "signal"

    def test_trailing_stop_follows_the_highest_high_of_previous_bars(self):
        # Entry at 100 (bar 1). On the entry bar the level is 100 * 0.9 = 90: its own high of 120
        # moves the level only from bar 2 on (120 * 0.9 = 108), where the low of 107 hits it.
        candles = make_candles(flat(100), (100, 120, 91, 115), (115, 116, 107, 110), flat(110))
        result = run(candles, entries=[0], trailing_stop=10)
        record = result.trades.to_records()[0]
        assert (record["exit_bar"], record["exit_price"], record["exit_reason"]) == (
            2,
            pytest.approx(108.0),
            "trailing_stop",
        )

    def test_the_tighter_of_stop_loss_and_trailing_stop_applies(self):
        # SL 5 % (95) is above the trailing level 100 * 0.9 = 90 on the entry bar
        candles = make_candles(flat(100), (100, 101, 94, 96), flat(96))
        result = run(candles, entries=[0], stop_loss=5, trailing_stop=10)
        assert (result.trades.exit_price[0], result.trades.to_records()[0]["exit_reason"]) == (95.0, "stop_loss")


class TestShort:
    def test_short_mirrors_long(self):
        # Short at 100, fee 0.1 %: SL 5 % above (105), TP 10 % below (90)
        candles = make_candles(flat(100), flat(100), (99, 100, 89, 92), flat(92))
        result = run(candles, entries=[0], direction="short", stop_loss=5, take_profit=10, commission=0.1)
        units = 10_000 / (100 * 1.001)
        record = result.trades.to_records()[0]
        assert (record["side"], record["exit_price"], record["exit_reason"]) == ("short", 90.0, "take_profit")
        assert record["quantity"] == pytest.approx(units, rel=1e-12)
        assert record["pnl"] == pytest.approx(units * (100 - 90) - units * 0.001 * (100 + 90), rel=1e-12)

    def test_short_stop_loss_is_above_the_entry(self):
        candles = make_candles(flat(100), flat(100), (101, 106, 100, 104), flat(104))
        result = run(candles, entries=[0], direction="short", stop_loss=5)
        assert (result.trades.exit_price[0], result.trades.to_records()[0]["exit_reason"]) == (105.0, "stop_loss")

    def test_short_equity_rises_when_price_falls(self):
        candles = make_candles(flat(100), flat(100), flat(90), flat(80))
        result = run(candles, entries=[0], direction="short")
        units = 10_000 / 100
        np.testing.assert_allclose(result.equity_curve, [10_000, 10_000, 10_000 + units * 10, 10_000 + units * 20])

    def test_short_trailing_stop_follows_the_lowest_low(self):
        # Short at 100, trailing 10 %: lows 80 (bar 1) move the level to 88 from bar 2 on
        candles = make_candles(flat(100), (100, 105, 80, 85), (85, 89, 84, 88), flat(88))
        result = run(candles, entries=[0], direction="short", trailing_stop=10)
        record = result.trades.to_records()[0]
        assert (record["exit_bar"], record["exit_price"], record["exit_reason"]) == (
            2,
            pytest.approx(88.0),
            "trailing_stop",
        )


class TestSlippage:
    def test_slippage_moves_market_fills_adversely_but_not_take_profit_limits(self):
        # Long, slippage 1 %: buy 100 * 1.01 = 101; TP 10 % of the fill = 111.1, fills at its level
        candles = make_candles(flat(100), flat(100), (105, 112, 104, 110), flat(110))
        result = run(candles, entries=[0], slippage=1, take_profit=10)
        assert result.trades.entry_price[0] == pytest.approx(101.0, rel=1e-15)
        assert result.trades.exit_price[0] == pytest.approx(111.1, rel=1e-12)

    def test_signal_and_stop_exits_pay_slippage(self):
        signal_exit = run(RISING, entries=[0], exits=[2], slippage=1)
        assert signal_exit.trades.exit_price[0] == pytest.approx(106 * 0.99, rel=1e-15)
        # SL 5 % of the fill 101 = 95.95, then sold 1 % lower
        candles = make_candles(flat(100), flat(100), (99, 100, 90, 92), flat(92))
        stopped = run(candles, entries=[0], slippage=1, stop_loss=5)
        assert stopped.trades.exit_price[0] == pytest.approx(101 * 0.95 * 0.99, rel=1e-12)


class TestLeverageAndLiquidation:
    @staticmethod
    def liquidation_price(entry, leverage, fee, maintenance, direction):
        # The documented formula: margin left after the exit fee equals the maintenance margin.
        return entry * (1 - direction / leverage) / (1 - direction * (fee + maintenance))

    def test_leveraged_all_in_buys_equity_times_leverage(self):
        # units = equity * L / (open * (1 + L * fee)): margin + entry fee = equity
        result = run(RISING, entries=[0], exits=[2], leverage=5, commission=0.1)
        units = 10_000 * 5 / (102 * (1 + 5 * 0.001))
        assert result.trades.quantity[0] == pytest.approx(units, rel=1e-12)
        assert units * 102 / 5 + units * 102 * 0.001 == pytest.approx(10_000, rel=1e-12)
        assert result.trades.pnl_percentage[0] == pytest.approx(
            100 * result.trades.pnl[0] / (units * 102 / 5), rel=1e-12
        )

    def test_long_liquidation_loses_the_whole_margin_and_stops_trading(self):
        liquidation = self.liquidation_price(100, 10, 0.0, 0.005, 1)  # 90.452...
        candles = make_candles(flat(100), flat(100), (99, 100, 90, 95), flat(95), flat(96), flat(97))
        result = run(candles, entries=[0, 3], leverage=10)
        record = result.trades.to_records()[0]
        assert (record["exit_bar"], record["exit_reason"]) == (2, "liquidation")
        assert record["exit_price"] == pytest.approx(liquidation, rel=1e-12)
        assert record["pnl"] == pytest.approx(-10_000, rel=1e-9)
        assert result.final_balance == 0.0
        assert len(result.trades) == 1  # the entry signal at bar 3 finds no equity
        assert result.equity_curve.min() >= 0.0

    def test_a_stop_above_the_liquidation_price_exits_first(self):
        candles = make_candles(flat(100), flat(100), (99, 100, 90, 95), flat(95))
        result = run(candles, entries=[0], leverage=10, stop_loss=5)
        assert (result.trades.exit_price[0], result.trades.to_records()[0]["exit_reason"]) == (95.0, "stop_loss")

    def test_a_gap_below_the_liquidation_price_liquidates_even_with_a_stop(self):
        candles = make_candles(flat(100), flat(100), (89, 90, 88, 89), flat(89))
        result = run(candles, entries=[0], leverage=10, stop_loss=5, commission=0.1)
        liquidation = self.liquidation_price(100, 10, 0.001, 0.005, 1)
        assert result.trades.to_records()[0]["exit_reason"] == "liquidation"
        assert result.trades.exit_price[0] == pytest.approx(liquidation, rel=1e-12)
        assert result.final_balance == 0.0

    def test_short_at_leverage_one_is_liquidated_when_the_price_about_doubles(self):
        liquidation = self.liquidation_price(100, 1, 0.0, 0.005, -1)  # 200 / 1.005
        candles = make_candles(flat(100), flat(100), (150, 200, 149, 190), flat(190))
        result = run(candles, entries=[0], direction="short")
        assert result.trades.to_records()[0]["exit_reason"] == "liquidation"
        assert result.trades.exit_price[0] == pytest.approx(liquidation, rel=1e-12)
        assert result.final_balance == 0.0

    def test_partial_position_liquidation_keeps_the_uncommitted_equity(self):
        # percent_of_equity 40 % at leverage 10: margin + fee = 4000, lost on liquidation
        candles = make_candles(flat(100), flat(100), (99, 100, 90, 95), flat(95))
        result = run(candles, entries=[0], leverage=10, position_sizing="percent_of_equity", risk_percentage=40)
        assert result.trades.quantity[0] == pytest.approx(4_000 * 10 / 100, rel=1e-12)
        assert result.final_balance == pytest.approx(6_000, rel=1e-12)

    def test_liquidation_price_includes_maintenance_margin_and_exit_fee(self):
        # Long L=20, fee 0.1 %, mm 0.5 %: 100 * 0.95 / 0.994 = 95.573...; a low of 95.6 survives.
        survive = make_candles(flat(100), flat(100), (99, 100, 95.6, 99), flat(99))
        result = run(survive, entries=[0], leverage=20, commission=0.1)
        assert result.trades.to_records()[0]["exit_reason"] == "open"
        die = make_candles(flat(100), flat(100), (99, 100, 95.5, 99), flat(99))
        record = run(die, entries=[0], leverage=20, commission=0.1).trades.to_records()[0]
        assert record["exit_reason"] == "liquidation"
        assert record["exit_price"] == pytest.approx(100 * 0.95 / 0.994, rel=1e-12)


class TestSizing:
    def test_percent_of_equity(self):
        result = run(
            RISING, entries=[0], exits=[2], commission=0.1, position_sizing="percent_of_equity", risk_percentage=50
        )
        assert result.trades.quantity[0] == pytest.approx(5_000 / (102 * 1.001), rel=1e-12)

    def test_fixed_quantity_and_its_cap(self):
        small = run(RISING, entries=[0], exits=[2], position_sizing="fixed_quantity", quantity=10)
        assert small.trades.quantity[0] == 10.0
        assert small.final_balance == pytest.approx(10_000 + 10 * (106 - 102), rel=1e-12)
        capped = run(RISING, entries=[0], exits=[2], commission=0.1, position_sizing="fixed_quantity", quantity=1_000)
        assert capped.trades.quantity[0] == pytest.approx(10_000 / (102 * 1.001), rel=1e-12)

    def test_fixed_notional(self):
        result = run(RISING, entries=[0], exits=[2], position_sizing="fixed_notional", notional=5_100)
        assert result.trades.quantity[0] == pytest.approx(50.0, rel=1e-12)

    def test_risk_based_loses_the_risk_percentage_at_the_stop(self):
        # risk 1 % of 10 000 = 100 at a 2 % stop below 100: units = 100 / 2 = 50
        candles = make_candles(flat(100), flat(100), (99, 100, 97, 98), flat(98))
        result = run(candles, entries=[0], position_sizing="risk_based", risk_percentage=1, stop_loss=2)
        assert result.trades.quantity[0] == pytest.approx(50.0, rel=1e-12)
        assert result.trades.pnl[0] == pytest.approx(-100.0, rel=1e-12)

    def test_equity_compounds_across_all_in_trades(self):
        candles = make_candles(*(flat(price) for price in (100, 100, 110, 110, 121, 121, 110)))
        result = run(candles, entries=[0, 2], exits=[1, 3], commission=0.1)
        first = 10_000 * 110 * 0.999 / (100 * 1.001)
        second = first * 121 * 0.999 / (110 * 1.001)
        assert result.trades.entry_bar.tolist() == [1, 3]
        assert result.final_balance == pytest.approx(second, rel=1e-12)
        assert result.trades.quantity[1] == pytest.approx(first / (110 * 1.001), rel=1e-12)
