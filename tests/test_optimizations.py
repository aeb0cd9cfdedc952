"""Parameter sweeps (shared.optimizations.sweep): the grid and its cap, evaluation with shared indicators
(each result equal to its own single pass), the ranking; the service's request checks."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.accounts.model import User
from shared.engine import BacktestSettings, run_backtest
from shared.errors import ValidationFailed
from shared.optimizations.full_results import FULL_RESULTS, full_results
from shared.optimizations.service import OptimizationRequest, Optimizations
from shared.optimizations.sweep import (
    Combination,
    batch_count,
    batches,
    evaluate_batch,
    parameter_grid,
    parameter_values,
    rank,
    sweep_combinations,
)
from shared.strategies.model import Strategy
from shared.strategy import validate_strategy, with_parameters
from tests.fanout.stack import HOUR_MS, random_walk
from tests.fanout.strategies import sma_cross

SMA_CROSS = sma_cross("$fast", "$slow", stop_loss=2, parameters={"fast": 10, "slow": 50})


def fields_of(error: ValidationFailed) -> list[str]:
    return [detail.field for detail in error.errors]


# ---------------------------------------------------------------- values and grid
def test_values_come_from_a_list_or_an_inclusive_range():
    assert parameter_values("fast", [5, 10, 10, 20]) == [5, 10, 20]
    assert parameter_values("fast", {"start": 5, "stop": 20, "step": 5}) == [5, 10, 15, 20]
    assert parameter_values("stop", {"start": 0.5, "stop": 1.5, "step": 0.25}) == [0.5, 0.75, 1.0, 1.25, 1.5]
    assert parameter_values("stop", {"start": 0.1, "stop": 0.3, "step": 0.1}) == [0.1, 0.2, 0.3]  # no float drift


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ([], "parameters.fast"),
        (["5"], "parameters.fast[0]"),
        ([True], "parameters.fast[0]"),
        ({"start": 5, "stop": 1, "step": 1}, "parameters.fast.stop"),
        ({"start": 5, "stop": 10, "step": 0}, "parameters.fast.step"),
        ({"start": 5, "stop": 10}, "parameters.fast"),
        ("5..10", "parameters.fast"),
    ],
)
def test_bad_values_are_refused_naming_the_field(spec, field):
    with pytest.raises(ValidationFailed) as error:
        parameter_values("fast", spec)
    assert fields_of(error.value) == [field]


def test_the_grid_is_the_product_with_rule_parameters_varying_slowest():
    grid = parameter_grid(SMA_CROSS, {"config.stop_loss": [1, 2], "fast": [5, 10], "slow": [30]}, 100)
    assert [c.params for c in grid] == [
        {"fast": 5, "slow": 30, "config.stop_loss": 1},
        {"fast": 5, "slow": 30, "config.stop_loss": 2},
        {"fast": 10, "slow": 30, "config.stop_loss": 1},
        {"fast": 10, "slow": 30, "config.stop_loss": 2},
    ]
    assert [c.index for c in grid] == [0, 1, 2, 3]


def test_a_grid_above_the_cap_is_refused():
    with pytest.raises(ValidationFailed) as error:
        parameter_grid(SMA_CROSS, {"fast": {"start": 2, "stop": 21, "step": 1}, "slow": [30, 40, 50]}, 59)
    assert error.value.errors[0].message == "the grid has 60 combinations, more than max_combinations (59)"


def test_unknown_parameters_and_invalid_combinations_are_named():
    with pytest.raises(ValidationFailed) as error:
        parameter_grid(SMA_CROSS, {"fats": [5], "config.nope.x": [1]}, 10)
    assert fields_of(error.value) == ["parameters.fats", "parameters.config.nope.x"]
    with pytest.raises(ValidationFailed) as error:
        parameter_grid(SMA_CROSS, {"fast": [0, 5]}, 10)  # an SMA period of 0 is not a period
    assert error.value.errors[0].message.startswith("combination {'fast': 0} makes the strategy invalid:")


def test_the_prepare_step_lays_out_the_checked_requests_combinations_without_checking_them_again():
    # The API checked every combination; the state machine's Prepare lays out the same ones unchecked
    grid = {"fast": {"start": 2, "stop": 21, "step": 1}, "slow": [30, 40, 50]}
    for method in ("grid", "random"):
        checked = sweep_combinations(SMA_CROSS, method, grid, ["fast < slow"], 100, 25, 7)
        assert sweep_combinations(SMA_CROSS, method, grid, ["fast < slow"], 100, 25, 7, check=False) == checked
    # (unchecked, an invalid combination is laid out: the batch that builds its variant refuses it)
    unchecked = sweep_combinations(SMA_CROSS, "grid", {"fast": [0, 5]}, [], 10, None, None, check=False)
    assert [c.params for c in unchecked] == [{"fast": 0}, {"fast": 5}]


def test_dotted_paths_reach_any_field():
    grid = parameter_grid(SMA_CROSS, {"entry_rules.conditions[0].value.params.period": [40, 60]}, 10)
    assert [
        with_parameters(SMA_CROSS, c.params)["entry_rules"]["conditions"][0]["value"]["params"]["period"] for c in grid
    ] == [40, 60]


def test_batches_use_the_concurrency_with_enough_work_each():
    year_of_1m, two_years_of_1h = 525_600, 17_520
    assert batch_count(500, 16, year_of_1m) == 16
    assert batch_count(100, 16, year_of_1m) == 10  # at least 10 combinations per candle read
    assert batch_count(5, 16, year_of_1m) == 1
    assert batch_count(10_000, 16, year_of_1m) == 200  # at most 50 combinations per batch (one Lambda run)
    # Short ranges: at least 300 and at most 1,500 combinations per batch
    assert batch_count(10_000, 16, two_years_of_1h) == 16
    assert batch_count(1_000, 16, two_years_of_1h) == 4
    assert batch_count(100_000, 1000, two_years_of_1h) == 334
    assert batch_count(100_000, 16, two_years_of_1h) == 67
    combos = [Combination(i, {}) for i in range(10)]
    assert [[c.index for c in batch] for batch in batches(combos, 3)] == [[0, 1, 2], [3, 4, 5, 6], [7, 8, 9]]


# ---------------------------------------------------------------- evaluation
def test_a_batch_computes_each_shared_indicator_once_and_each_result_is_its_single_pass():
    candles = random_walk(11, 1500, HOUR_MS)
    settings = BacktestSettings(commission=0.1, timeframe="1h")
    # Given 6 combinations: 2 fast periods x 3 stop-losses, one slow period
    combos = parameter_grid(SMA_CROSS, {"fast": [5, 10], "config.stop_loss": [1, 2, 3]}, 10)
    evaluated = evaluate_batch(SMA_CROSS, combos, candles, settings)
    # Then the batch computed SMA(5), SMA(10) and SMA(50) once each, not 2 series per combination
    assert evaluated.indicator_computations == 3
    for combo, result in zip(combos, evaluated.results):
        single = run_backtest(validate_strategy(with_parameters(SMA_CROSS, combo.params)), candles, settings)
        assert result["params"] == combo.params
        assert result["performance_summary"] == single.performance_summary
        assert result["final_balance"] == single.final_balance


def test_the_best_k_run_in_full_keep_their_ranking_with_the_trades_and_equity_it_summarised():
    candles = random_walk(14, 1500, HOUR_MS)
    settings = BacktestSettings(initial_balance=10_000.0, commission=0.1, timeframe="1h")
    combos = parameter_grid(SMA_CROSS, {"fast": [5, 10], "config.stop_loss": [1, 2, 3]}, 10)
    ranked = rank(evaluate_batch(SMA_CROSS, combos, candles, settings).results, "total_pnl")
    # When the best 3 of the 6 ranked combinations run in full
    kept = list(full_results(SMA_CROSS, ranked, candles, settings, keep=3))
    # Then they are ranks 1-3, each with the params, objective, summary and balance the sweep ranked
    assert [full.rank for full in kept] == [1, 2, 3]
    for full, result in zip(kept, ranked):
        document = full.document
        assert document["params"] == result["params"]
        assert document["objective_value"] == result["objective_value"] == result["performance_summary"]["total_pnl"]
        assert document["performance_summary"] == result["performance_summary"]
        assert document["final_balance"] == result["final_balance"]
        # And trades that add up to that summary: closed trades' pnl summed is its total pnl
        trades = full.trades
        closed = [trade for trade in trades if trade["exit_time"] is not None]
        assert len(closed) == document["performance_summary"]["total_trades"] > 0
        assert sum(trade["pnl"] for trade in closed) == pytest.approx(document["objective_value"], rel=1e-9)
        # And an equity curve of one value per candle, ending at the final balance, beside buy-and-hold
        assert full.equity.timestamps.tolist() == candles.ts.tolist()
        assert full.equity.equity[-1] == pytest.approx(document["final_balance"], rel=1e-12)
        assert full.equity.benchmark.tolist() == pytest.approx((10_000.0 * candles.close / candles.open[0]).tolist())
    # A ranking shorter than keep: every result runs in full
    assert [full.rank for full in full_results(SMA_CROSS, ranked[:2], candles, settings, keep=10)] == [1, 2]


def test_the_dashboard_links_as_many_ranks_in_full_as_the_api_keeps():
    source = (Path(__file__).parents[1] / "web" / "src" / "logic" / "fullResults.ts").read_text()
    assert re.search(r"export const FULL_RESULTS = (\d+);", source).group(1) == str(FULL_RESULTS)


def test_a_sweep_over_a_talib_indicator_on_a_coarser_timeframe_ranks_by_a_new_metric():
    # Given KAMA(timeperiod) on 4h candles against the hourly close, swept over two periods
    strategy = {
        "entry_rules": {
            "conditions": [
                {
                    "indicator": "price",
                    "params": {},
                    "comparator": "crosses_above",
                    "value": {"indicator": "kama", "params": {"timeperiod": 10, "timeframe": "4h"}},
                }
            ]
        },
        "config": {"stop_loss": 2, "take_profit": 3},
    }
    candles = random_walk(12, 1500, HOUR_MS)
    settings = BacktestSettings(timeframe="1h")
    combos = parameter_grid(strategy, {"entry_rules.conditions[0].value.params.timeperiod": [5, 20]}, 10)
    results = evaluate_batch(strategy, combos, candles, settings).results
    # Then each result is its single pass, with the new metrics, and they rank by SQN
    for combo, result in zip(combos, results):
        single = run_backtest(validate_strategy(with_parameters(strategy, combo.params)), candles, settings)
        assert result["performance_summary"] == single.performance_summary
    ranked = rank(results, "sqn")
    assert [r["objective_value"] for r in ranked] == sorted(
        (r["performance_summary"]["sqn"] for r in results), reverse=True
    )


def test_a_grid_sweep_ranked_by_the_longs_pnl_is_the_ranking_of_each_combinations_own_backtest():
    # Given an SMA cross trading both sides (short on the cross below, covered on the cross above)
    strategy = {
        **SMA_CROSS,
        "short_entry_rules": SMA_CROSS["exit_rules"],
        "short_exit_rules": SMA_CROSS["entry_rules"],
        "config": {**SMA_CROSS["config"], "direction": "both"},
    }
    candles = random_walk(13, 1500, HOUR_MS)
    settings = BacktestSettings(commission=0.1, timeframe="1h")
    combos = parameter_grid(strategy, {"fast": [3, 5, 8, 13], "slow": [21, 34, 55]}, 20)
    # When the sweep ranks them by long.total_pnl
    ranked = rank(evaluate_batch(strategy, combos, candles, settings).results, "long.total_pnl")
    # Then the order is the one of the longs' pnl summed from each combination's own closed trades
    long_pnl = {}
    for combo in combos:
        trades = run_backtest(validate_strategy(with_parameters(strategy, combo.params)), candles, settings).trades
        closed_longs = (trades.exit_bar >= 0) & (trades.side == 1)
        assert closed_longs.any() and ((trades.exit_bar >= 0) & (trades.side == -1)).any()
        long_pnl[combo.index] = sum(float(pnl) for pnl in trades.pnl[closed_longs])
    expected = sorted(long_pnl, key=lambda index: (-long_pnl[index], index))
    assert [r["index"] for r in ranked] == expected
    assert [r["objective_value"] for r in ranked] == pytest.approx([long_pnl[i] for i in expected], rel=1e-12)
    assert len(set(long_pnl.values())) > 1  # a real ranking, not ties


def test_ranking_puts_the_best_first_undefined_last_ties_in_grid_order():
    def result(index, **summary):
        return {"index": index, "params": {}, "final_balance": 1.0, "performance_summary": summary}

    results = [
        result(0, sharpe_ratio=1.0, max_drawdown=5.0),
        result(1, sharpe_ratio=None, max_drawdown=1.0),
        result(2, sharpe_ratio=2.0, max_drawdown=5.0),
        result(3, sharpe_ratio=1.0, max_drawdown=9.0),
    ]
    by_sharpe = rank(results, "sharpe_ratio")
    assert [(r["index"], r["rank"], r["objective_value"]) for r in by_sharpe] == [
        (2, 1, 2.0),
        (0, 2, 1.0),
        (3, 3, 1.0),
        (1, 4, None),
    ]
    assert [r["index"] for r in rank(results, "max_drawdown")] == [1, 0, 2, 3]  # the smallest drawdown first


# ---------------------------------------------------------------- the service's request checks
class _Strategies:
    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy

    def get(self, strategy_id: str) -> Strategy | None:
        return self.strategy if strategy_id == self.strategy.id else None


class _Catalog:
    def timeframes(self, symbol: str) -> list[str]:
        return ["1h"] if symbol == "TESTUSDT" else []


def test_create_refuses_a_bad_request_naming_each_field():
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    user = User("u-1", "a@example.com", "A", moment)
    strategy = Strategy(
        id="s-1",
        owner_id="u-1",
        name="x",
        description="",
        strategy_type=None,
        is_active=True,
        is_public=False,
        created_at=moment,
        updated_at=moment,
        **{key: SMA_CROSS[key] for key in ("entry_rules", "exit_rules", "config")},
    )
    service = Optimizations(
        repository=None, strategies=_Strategies(strategy), catalog=_Catalog(), launcher=None, store=None
    )
    request = OptimizationRequest(
        strategy_id="s-1",
        symbol="nousdt",
        timeframe="1h",
        start_time=moment,
        end_time=moment,
        initial_balance=1000.0,
        parameters={"fast": [5]},
        objective="luck",
        leverage=500.0,
        max_combinations=0,
    )
    with pytest.raises(ValidationFailed) as error:
        service.create(user, request)
    assert fields_of(error.value) == ["end_time", "objective", "max_combinations", "metadata.leverage", "symbol"]
    # A sub-summary's metric by its dotted path is an objective; the sub-summary itself or an unknown one is not
    for objective, refused in [
        ("long.win_rate", False),
        ("short.profit_factor", False),
        ("long", True),
        ("long.luck", True),
        ("sharpe_ratio.x", True),
    ]:
        with pytest.raises(ValidationFailed) as error:
            service.create(user, replace(request, objective=objective))
        assert ("objective" in fields_of(error.value)) == refused, objective
