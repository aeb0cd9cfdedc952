"""Performance metrics against formulas written out independently here (plain Python, statistics)."""

from __future__ import annotations

import math
import statistics
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest

from shared import metrics
from shared.candles import Candles
from shared.metrics import calculate_drawdown, performance_summary
from shared.timeframes import bars_per_year

HOUR = 3_600_000


def hourly_candles(closes: list[float]) -> Candles:
    n = len(closes)
    return Candles.from_arrays(np.arange(n) * HOUR, closes, closes, closes, closes, np.ones(n))


def trades(entry_bar, exit_bar, pnl, side=None, fees=None):
    """Trades on hourly bars (times at their bars' opens), long and fee-free unless given."""
    entry, exit_ = np.array(entry_bar, dtype=np.int64), np.array(exit_bar, dtype=np.int64)
    return SimpleNamespace(
        entry_bar=entry,
        exit_bar=exit_,
        entry_time=entry * HOUR,
        exit_time=np.where(exit_ >= 0, exit_ * HOUR, -1),
        side=np.array(side if side is not None else [1] * len(entry), dtype=np.int8),
        pnl=np.array(pnl, dtype=float),
        fees=np.array(fees if fees is not None else [0.0] * len(entry), dtype=float),
    )


class TestDrawdown:
    def test_periods_maxima_and_unrecovered_tail(self):
        # Given a curve that falls 120 -> 90, recovers at 130, then dips to 125 and ends at 126
        curve = [100, 120, 90, 110, 130, 125, 126]
        max_dd, max_dd_pct, periods = calculate_drawdown(np.array(curve, dtype=float))
        # Then the first period runs from the 120 peak (bar 1) to its trough (bar 2), recovered at bar 4
        assert (max_dd, max_dd_pct) == (30.0, 25.0)
        assert periods.start.tolist() == [1, 4]
        assert periods.trough.tolist() == [2, 5]
        assert periods.recovery.tolist() == [4, -1]
        assert periods.depth.tolist() == [30.0, 5.0]
        assert periods.depth_percentage.tolist() == pytest.approx([25.0, 100 * 5 / 130])

    def test_the_largest_absolute_and_relative_drawdowns_can_differ(self):
        # 100 -> 50 is -50 %, 1000 -> 800 is -200 in currency but only -20 %
        _, _, periods = calculate_drawdown(np.array([100, 50, 1000, 800], dtype=float))
        max_dd, max_dd_pct, _ = calculate_drawdown(np.array([100, 50, 1000, 800], dtype=float))
        assert (max_dd, max_dd_pct) == (200.0, 50.0)
        assert periods.recovery.tolist() == [2, -1]

    def test_recovery_at_exactly_the_peak_ends_the_period_and_first_lowest_bar_is_the_trough(self):
        _, _, periods = calculate_drawdown(np.array([10, 8, 7, 7, 10, 9], dtype=float))
        assert periods.start.tolist() == [0, 4]
        assert periods.trough.tolist() == [2, 5]
        assert periods.recovery.tolist() == [4, -1]

    def test_monotonic_curve_has_no_drawdown(self):
        max_dd, max_dd_pct, periods = calculate_drawdown(np.array([1.0, 2.0, 2.0, 3.0]))
        assert (max_dd, max_dd_pct, len(periods)) == (0.0, 0.0, 0)

    # Both trough searches (vectorised / per period) and several block sizes of the peak scan
    @pytest.mark.parametrize(("loop_max_periods", "peak_block"), [(0, 1024), (10_000, 1024), (0, 7), (10_000, 64)])
    @pytest.mark.parametrize("drift", [0.0, 0.002])  # mostly underwater / mostly making new highs
    def test_matches_a_brute_force_scan_on_a_random_walk(self, monkeypatch, loop_max_periods, peak_block, drift):
        monkeypatch.setattr(metrics, "_TROUGH_LOOP_MAX_PERIODS", loop_max_periods)
        monkeypatch.setattr(metrics, "_PEAK_BLOCK", peak_block)
        rng = np.random.default_rng(7)
        curve = 1000 * np.exp(np.cumsum(rng.normal(drift, 0.01, 2000)))
        max_dd, max_dd_pct, periods = calculate_drawdown(curve)
        peak, best_abs, best_pct = -math.inf, 0.0, 0.0
        for value in curve.tolist():
            peak = max(peak, value)
            best_abs = max(best_abs, peak - value)
            best_pct = max(best_pct, (peak - value) / peak * 100)
        assert max_dd == pytest.approx(best_abs, rel=1e-12)
        assert max_dd_pct == pytest.approx(best_pct, rel=1e-12)
        for start, trough, recovery in zip(periods.start, periods.trough, periods.recovery):
            end = len(curve) if recovery < 0 else recovery
            assert curve[start] == curve[: start + 1].max()
            assert (curve[start + 1 : end] < curve[start]).all()
            assert trough == start + 1 + int(np.argmin(curve[start + 1 : end]))


class TestSummary:
    # Equity over 6 hourly bars; two closed trades (+300, -100) and one still open
    CURVE: ClassVar[list[float]] = [1000.0, 1100.0, 1300.0, 1250.0, 1200.0, 1230.0]

    def summary(self, curve=None, trade_list=None, timeframe="1h"):
        curve = self.CURVE if curve is None else curve
        trade_list = trade_list or trades([1, 3, 5], [2, 4, -1], [300.0, -100.0, 30.0])
        candles = hourly_candles([50.0, 55, 60, 58, 57, 60])
        return performance_summary(trade_list, np.array(curve), candles, initial_balance=1000.0, timeframe=timeframe)

    def test_sharpe_and_sortino_follow_the_documented_formulas(self):
        returns = [b / a - 1 for a, b in zip(self.CURVE, self.CURVE[1:])]
        annual = math.sqrt(bars_per_year("1h"))
        sharpe = statistics.mean(returns) / statistics.stdev(returns) * annual
        downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
        sortino = statistics.mean(returns) / downside * annual
        summary = self.summary()
        assert summary["sharpe_ratio"] == pytest.approx(sharpe, rel=1e-12)
        assert summary["sortino_ratio"] == pytest.approx(sortino, rel=1e-12)

    def test_trade_statistics_count_closed_trades_only(self):
        summary = self.summary()
        assert summary["total_trades"] == 2
        assert (summary["winning_trades"], summary["losing_trades"]) == (1, 1)
        assert summary["win_rate"] == 50.0
        assert summary["profit_factor"] == 3.0
        assert summary["expectancy"] == 100.0
        assert (summary["average_win"], summary["average_loss"]) == (300.0, -100.0)
        assert summary["max_consecutive_losses"] == 1

    def test_totals_drawdown_cagr_calmar_exposure_and_buy_and_hold(self):
        summary = self.summary()
        assert summary["total_pnl"] == 230.0
        assert summary["total_pnl_percentage"] == pytest.approx(23.0)
        assert summary["max_drawdown"] == 100.0
        assert summary["max_drawdown_percentage"] == pytest.approx(100 / 1300 * 100)
        years = 6 * HOUR / (365 * 24 * HOUR)
        assert summary["cagr"] == pytest.approx((1.23 ** (1 / years) - 1) * 100, rel=1e-12)
        # Positions open at closes 1, 3 and 5 (bars [1, 2), [3, 4), [5, 6)): 3 of 6
        assert summary["exposure"] == 50.0
        assert summary["buy_and_hold_return"] == pytest.approx((60 / 50 - 1) * 100)

    def test_cagr_and_calmar_over_a_year_of_daily_bars(self):
        closes = [100.0] * 365
        curve = np.linspace(1000.0, 1210.0, 365)
        curve[100] = curve[99] * 0.9  # one 10 % dip
        candles = Candles.from_arrays(np.arange(365) * 86_400_000, closes, closes, closes, closes, np.ones(365))
        summary = performance_summary(trades([], [], []), curve, candles, initial_balance=1000.0, timeframe="1d")
        assert summary["cagr"] == pytest.approx(21.0)  # exactly one year: CAGR is the total return
        assert summary["calmar_ratio"] == pytest.approx(21.0 / summary["max_drawdown_percentage"])

    def test_undefined_ratios_are_none(self):
        summary = self.summary(curve=[1000.0] * 6, trade_list=trades([], [], []))
        assert summary["total_trades"] == 0
        for key in (
            "win_rate",
            "profit_factor",
            "sharpe_ratio",
            "sortino_ratio",
            "expectancy",
            "average_win",
            "average_loss",
            "calmar_ratio",
        ):
            assert summary[key] is None, key
        assert summary["max_consecutive_losses"] == 0
        assert summary["cagr"] == 0.0

    def test_profit_factor_without_losses_is_none_and_consecutive_losses_are_counted(self):
        only_wins = self.summary(trade_list=trades([1, 3], [2, 4], [10.0, 20.0]))
        assert only_wins["profit_factor"] is None
        streak = self.summary(trade_list=trades([0, 1, 2, 3, 4], [1, 2, 3, 4, 5], [-1.0, -2.0, 5.0, -1.0, -1.0]))
        assert streak["max_consecutive_losses"] == 2

    def test_returns_after_equity_reaches_zero_count_as_zero(self):
        curve = [1000.0, 500.0, 0.0, 0.0, 0.0, 0.0]
        returns = [-0.5, -1.0, 0.0, 0.0, 0.0]
        summary = self.summary(curve=curve, trade_list=trades([0], [2], [-1000.0]))
        expected = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(bars_per_year("1h"))
        assert summary["sharpe_ratio"] == pytest.approx(expected, rel=1e-12)
        assert summary["cagr"] == -100.0


class TestFullMetricsSet:
    """Every issue-14 metric, against formulas written here from their definitions."""

    def test_hand_made_trades_and_curve(self):
        # Given 6 hourly bars, a curve 1000 -> 1100 -> 990 -> 1045 -> 1200 -> 1150, and four trades:
        # a long win of 150 (bars 0-2), a short loss of -50 (2-3), a long break-even (3-4), and a
        # long still open (4-), fees 1, 2, 3, 4
        curve = np.array([1000.0, 1100.0, 990.0, 1045.0, 1200.0, 1150.0])
        listed = trades(
            [0, 2, 3, 4], [2, 3, 4, -1], [150.0, -50.0, 0.0, 7.0], side=[1, -1, 1, 1], fees=[1.0, 2.0, 3.0, 4.0]
        )
        summary = performance_summary(
            listed, curve, hourly_candles([100.0] * 6), initial_balance=1000.0, timeframe="1h"
        )
        assert (summary["gross_profit"], summary["gross_loss"]) == (150.0, -50.0)
        assert (summary["largest_win"], summary["largest_loss"]) == (150.0, -50.0)
        assert summary["break_even_trades"] == 1 and summary["max_consecutive_wins"] == 1
        assert summary["average_trade"] == summary["expectancy"] == pytest.approx(100 / 3)
        assert summary["win_loss_ratio"] == 3.0
        assert summary["commission_paid"] == 10.0  # the open trade's fee included
        assert summary["average_bars_in_trade"] == pytest.approx((2 + 1 + 1) / 3)
        assert (summary["average_bars_in_winning_trade"], summary["average_bars_in_losing_trade"]) == (2.0, 1.0)
        assert summary["average_trade_duration"] == pytest.approx((2 + 1 + 1) / 3 * 3600)
        # total pnl 150, max drawdown 1100 -> 990 = 110
        assert summary["recovery_factor"] == pytest.approx(150 / 110)
        drawdowns = [0, 0, 10.0, 100 * 55 / 1100, 0, 100 * 50 / 1200]
        assert summary["ulcer_index"] == pytest.approx(math.sqrt(sum(d * d for d in drawdowns) / 6))
        pnls = [150.0, -50.0, 0.0]
        assert summary["sqn"] == pytest.approx(math.sqrt(3) * statistics.mean(pnls) / statistics.stdev(pnls))
        assert summary["kelly"] == pytest.approx(1 / 3 - (2 / 3) / 3.0)
        # run-up: from the 990 trough to 1200
        assert summary["max_run_up"] == 210.0
        assert summary["max_run_up_percentage"] == pytest.approx(100 * 210 / 990)
        # drawdown periods: peak bar 1 -> recovered bar 4 (3 bars), peak bar 4 -> still open at bar 5 (1 bar)
        assert (summary["average_drawdown_duration"], summary["max_drawdown_duration"]) == (2.0, 3)
        assert summary["trades_per_day"] == pytest.approx(3 / (6 / 24))
        assert summary["long"] == {"trades": 2, "win_rate": 50.0, "total_pnl": 150.0, "profit_factor": None}
        assert summary["short"] == {"trades": 1, "win_rate": 0.0, "total_pnl": -50.0, "profit_factor": 0.0}
        assert summary["buy_and_hold_outperformance"] == pytest.approx(15.0 - 0.0)

    def test_undefined_metrics_are_null(self):
        summary = performance_summary(
            trades([], [], []), np.full(4, 1000.0), hourly_candles([100.0] * 4), initial_balance=1000.0, timeframe="1h"
        )
        for name in (
            "largest_win",
            "largest_loss",
            "average_trade",
            "win_loss_ratio",
            "average_bars_in_trade",
            "average_trade_duration",
            "recovery_factor",
            "sqn",
            "kelly",
            "average_drawdown_duration",
        ):
            assert summary[name] is None, name
        assert (summary["gross_profit"], summary["ulcer_index"], summary["max_drawdown_duration"]) == (0.0, 0.0, 0)

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_random_trades_and_curves(self, seed):
        rng = np.random.default_rng(seed)
        n, count = 300, 40
        curve = 1000.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        entry = np.sort(rng.choice(n - 10, count, replace=False))
        held = rng.integers(0, 10, count)
        pnl = np.round(rng.normal(0, 10, count), 0)  # whole numbers: some exactly 0
        side = rng.choice([1, -1], count)
        fees = rng.uniform(0, 1, count)
        listed = trades(entry, entry + held, pnl, side=side, fees=fees)
        summary = performance_summary(
            listed, curve, hourly_candles(list(np.full(n, 100.0))), initial_balance=1000.0, timeframe="1h"
        )
        values = pnl.tolist()
        wins, losses = [p for p in values if p > 0], [p for p in values if p < 0]
        assert summary["gross_profit"] == pytest.approx(sum(wins))
        assert summary["gross_loss"] == pytest.approx(sum(losses))
        assert summary["break_even_trades"] == values.count(0.0)
        longest = current = 0
        for p in values:
            current = current + 1 if p > 0 else 0
            longest = max(longest, current)
        assert summary["max_consecutive_wins"] == longest
        ratio = statistics.mean(wins) / abs(statistics.mean(losses))
        assert summary["win_loss_ratio"] == pytest.approx(ratio)
        rate = len(wins) / count
        assert summary["kelly"] == pytest.approx(rate - (1 - rate) / ratio)
        assert summary["commission_paid"] == pytest.approx(sum(fees))
        assert summary["average_bars_in_winning_trade"] == pytest.approx(
            statistics.mean(h for h, p in zip(held.tolist(), values) if p > 0)
        )
        assert summary["sqn"] == pytest.approx(math.sqrt(count) * statistics.mean(values) / statistics.stdev(values))
        peak, squares, trough, run_up, run_up_pct = -math.inf, 0.0, math.inf, 0.0, 0.0
        for value in curve.tolist():
            peak, trough = max(peak, value), min(trough, value)
            squares += (100 * (peak - value) / peak) ** 2
            run_up, run_up_pct = max(run_up, value - trough), max(run_up_pct, 100 * (value - trough) / trough)
        assert summary["ulcer_index"] == pytest.approx(math.sqrt(squares / n))
        assert (summary["max_run_up"], summary["max_run_up_percentage"]) == (
            pytest.approx(run_up),
            pytest.approx(run_up_pct),
        )
        for name, wanted in (("long", 1), ("short", -1)):
            mine = [p for p, s in zip(values, side.tolist()) if s == wanted]
            assert summary[name]["trades"] == len(mine)
            assert summary[name]["total_pnl"] == pytest.approx(sum(mine))

    # The curve figures skip running extremes where blocks or drawdown periods bound them (see
    # metrics._run_up): several block sizes, curves falling, flat and rising, one wiped out, and
    # one whose best run-up is a rally inside one block from a new low (found only by scanning it).
    @pytest.mark.parametrize("peak_block", [7, 64, 1024])
    @pytest.mark.parametrize("shape", ["falling", "flat", "rising", "wiped_out", "rally"])
    def test_curve_figures_match_a_brute_force_scan(self, monkeypatch, peak_block, shape):
        monkeypatch.setattr(metrics, "_PEAK_BLOCK", peak_block)
        rng = np.random.default_rng(11)
        drift = {"falling": -0.002, "flat": 0.0, "rising": 0.002, "wiped_out": -0.002, "rally": 0.0}[shape]
        curve = 1000.0 * np.exp(np.cumsum(rng.normal(drift, 0.01, 3000)))
        if shape == "wiped_out":  # all in, liquidated at bar 2000: 0 from then on
            curve[2000:] = 0.0
        if shape == "rally":  # a steady fall, but +100 over bars 1000..1019 (block 15 of 64 bars)
            curve = np.linspace(2000.0, 500.0, 3000)
            curve[1000:1020] += np.linspace(0.0, 100.0, 20)
        n = len(curve)
        summary = performance_summary(
            trades([], [], []), curve, hourly_candles([100.0] * n), initial_balance=1000.0, timeframe="1h"
        )
        peak, squares, trough, run_up, run_up_pct = -math.inf, 0.0, math.inf, 0.0, 0.0
        for value in curve.tolist():
            peak, trough = max(peak, value), min(trough, value)
            squares += (100 * (peak - value) / peak) ** 2
            run_up = max(run_up, value - trough)
            run_up_pct = max(run_up_pct, 100 * (value - trough) / trough if trough > 0 else 0.0)
        assert summary["ulcer_index"] == pytest.approx(math.sqrt(squares / n), rel=1e-12)
        assert summary["max_run_up"] == pytest.approx(run_up, rel=1e-12)
        assert summary["max_run_up_percentage"] == pytest.approx(run_up_pct, rel=1e-9)

    def test_exposure_counts_the_union_of_overlapping_spans_in_any_order(self):
        # Given spans [5, 9) and [2, 6) listed out of order, two legs sharing entry 12 ([12, 14) and
        # [12, 16)), and an open trade from bar 18 of 20: bars 2..8, 12..15 and 18..19 are held
        listed = trades([5, 2, 12, 12, 18], [9, 6, 14, 16, -1], [1.0, -1.0, 1.0, 1.0, 0.0])
        summary = performance_summary(
            listed, np.full(20, 1000.0), hourly_candles([100.0] * 20), initial_balance=1000.0, timeframe="1h"
        )
        held = {bar for start, end in ((5, 9), (2, 6), (12, 14), (12, 16), (18, 20)) for bar in range(start, end)}
        assert summary["exposure"] == 100.0 * len(held) / 20
