"""The strategy vocabulary end to end on the local stack: a long-and-short strategy reading TA-Lib
indicators (mfi, sar, cdlengulfing, aroon's aroonup / aroondown, mavp with an indicator as its
period series), ichimoku and an RSI on 4h candles under hourly ones is created over REST, run
through the backtest state machine in chunks, and serves the new metrics and each trade's
mae / mfe / bars exactly as one pass computes them; the CLI on the same strategy and candles
prints the same trades; an optimization over it ranks by a sub-summary's metric."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pyarrow.parquet as pq
import pytest

from adapters.cli import main
from shared.engine import BacktestSettings, run_backtest
from shared.strategy import validate_strategy, with_parameters
from tests.fanout.stack import HOUR_MS, Stack, StackUser, random_walk
from tests.test_optimizations_stack import wait_for

pytestmark = pytest.mark.stack

SYMBOL = "VOCABUSDT"
RANGE = {"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-04-15T00:00:00Z"}
START_MS, END_MS = (int(datetime.fromisoformat(RANGE[key]).timestamp() * 1000) for key in ("start_time", "end_time"))
SETTINGS = BacktestSettings(initial_balance=10_000.0, commission=0.1, timeframe="1h")


def condition(indicator: str, params: dict, comparator: str, value) -> dict:
    return {"indicator": indicator, "params": params, "comparator": comparator, "value": value}


SAR = {"indicator": "sar", "params": {"acceleration": 0.02}}
KIJUN = {"indicator": "ichimoku", "params": {"output": "kijun"}}
AROON_UP = {"indicator": "aroon", "params": {"timeperiod": "$aroon", "output": "aroonup"}}
AROON_DOWN = {"indicator": "aroon", "params": {"timeperiod": "$aroon", "output": "aroondown"}}
MAVP = {"indicator": "mavp", "params": {"periods": AROON_UP, "minperiod": 5, "maxperiod": 40}}


def side(above: str, below: str, rsi: float, mfi: float, engulfing: str, cross: tuple[dict, dict]) -> dict:
    """Entry rules of one side: price on the SAR's side, the 4h RSI and MFI agreeing, then an
    engulfing candle, an aroon cross or a kijun cross."""
    return {
        "operator": "and",
        "conditions": [
            condition("price", {}, above, SAR),
            condition("rsi", {"timeperiod": 14, "timeframe": "4h"}, above, rsi),
            condition("mfi", {}, below, mfi),
            {
                "operator": "or",
                "conditions": [
                    condition("cdlengulfing", {}, engulfing, 0),
                    condition(cross[0]["indicator"], cross[0]["params"], "crosses_above", cross[1]),
                    condition("price", {}, "crosses_above" if above == ">" else "crosses_below", KIJUN),
                ],
            },
        ],
    }


def exits(sar: str, mfi: str, level: float, mavp: str) -> dict:
    return {
        "operator": "or",
        "conditions": [
            condition("price", {}, sar, SAR),
            condition("mfi", {}, mfi, level),
            condition("price", {}, mavp, MAVP),
        ],
    }


VOCABULARY = {
    "entry_rules": side(">", "<", 45, 75, ">", (AROON_UP, AROON_DOWN)),
    "exit_rules": exits("<", ">", 85, "crosses_below"),
    "short_entry_rules": side("<", ">", 55, 25, "<", (AROON_DOWN, AROON_UP)),
    "short_exit_rules": exits(">", "<", 15, "crosses_above"),
    "config": {"direction": "both", "stop_loss": 3, "take_profit": 6, "parameters": {"aroon": 14}},
}
NEW_METRICS = (
    "gross_profit",
    "gross_loss",
    "largest_win",
    "largest_loss",
    "sqn",
    "ulcer_index",
    "kelly",
    "recovery_factor",
    "max_run_up",
    "average_bars_in_trade",
    "commission_paid",
    "trades_per_day",
    "buy_and_hold_outperformance",
    "max_drawdown_duration",
)
TRADE_FIELDS = (
    "entry_time",
    "exit_time",
    "side",
    "entry_price",
    "exit_price",
    "quantity",
    "pnl",
    "fees",
    "exit_reason",
    "mae",
    "mfe",
    "mae_percentage",
    "mfe_percentage",
    "bars",
)


@pytest.fixture(scope="module")
def stack_candles() -> dict:
    return {(SYMBOL, "1h"): random_walk(7, 3000, HOUR_MS)}


@pytest.fixture(scope="module")
def single_pass(stack):
    return run_backtest(validate_strategy(VOCABULARY), stack.candles(SYMBOL, "1h", START_MS, END_MS), SETTINGS)


def all_trades(stack: Stack, user: StackUser, backtest_id: str) -> list[dict]:
    trades, page = [], 1
    while True:
        status, answer = stack.request("GET", f"/backtests/{backtest_id}/trades?per_page=100&page={page}", user.token)
        assert status == 200, answer
        trades += answer["data"]
        if page >= answer["meta"]["total_pages"]:
            return trades
        page += 1


def same_trades(served: list[dict], expected: list[dict]) -> None:
    assert len(served) == len(expected)
    for got, want in zip(served, expected):
        for field in TRADE_FIELDS:
            if isinstance(want[field], float):
                assert got[field] == pytest.approx(want[field], rel=1e-9, abs=1e-9), field
            elif field.endswith("_time") and want[field] is not None:  # the API writes milliseconds
                assert datetime.fromisoformat(got[field]) == datetime.fromisoformat(want[field]), field
            else:
                assert got[field] == want[field], field


def test_a_backtest_with_the_new_vocabulary_runs_through_the_state_machine_as_one_pass(stack, single_pass):
    # Given the strategy created over REST (the API validates every new indicator and mavp's periods)
    user = stack.sign_up()
    strategy = stack.create_strategy(user, VOCABULARY)
    # When it is backtested in 3 chunks through the state machine
    created = stack.create_backtest(
        user,
        strategy["id"],
        symbol=SYMBOL,
        timeframe="1h",
        initial_balance=10_000,
        metadata={"chunks": 3, "commission": 0.1},
        **RANGE,
    )
    backtest = stack.wait_for_backtest(user, created["id"], timeout=180)
    assert backtest["status"] == "completed", backtest
    assert json.loads(stack.wait_for_execution(created["id"])["output"])["plan"]["chunks"] == [0, 1, 2]
    # (its chunks ran in the compute function's own processes, as separate Lambda environments)
    assert stack.local.functions["ComputeFunction"].pids - {os.getpid()}
    # Then both sides traded, and the summary it serves has the new metrics of the single pass
    summary, expected = backtest["performance_summary"], single_pass.performance_summary
    assert expected["long"]["trades"] > 20 and expected["short"]["trades"] > 20
    for metric in NEW_METRICS:
        assert expected[metric] is not None, metric
        assert summary[metric] == pytest.approx(expected[metric], rel=1e-9), metric
    for name in ("long", "short"):
        assert summary[name] == pytest.approx(expected[name], rel=1e-9)
    assert stack.backtests().get(created["id"]).performance_summary == expected
    # And every trade, with its excursions and bars held, is the single pass's
    records = single_pass.trades.to_records()
    same_trades(all_trades(stack, user, created["id"]), records)
    assert all(t["mae"] >= 0 and t["mfe"] >= 0 and t["bars"] >= 0 for t in records)


def test_the_cli_on_the_same_strategy_and_candles_prints_the_same_trades(stack, single_pass, tmp_path, capsys):
    strategy, candles = tmp_path / "vocabulary.json", tmp_path / "candles.parquet"
    strategy.write_text(json.dumps(VOCABULARY))
    pq.write_table(stack.candles(SYMBOL, "1h", START_MS, END_MS).to_arrow(), candles)
    assert (
        main(
            [
                "run",
                "--strategy",
                str(strategy),
                "--candles",
                str(candles),
                "--timeframe",
                "1h",
                "--commission",
                "0.1",
                "--json",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    # exactly: the same engine on the same candles, through JSON (floats round-trip)
    assert printed["trades"] == single_pass.trades.to_records()
    assert printed["performance_summary"] == single_pass.performance_summary


def test_an_optimization_of_the_vocabulary_ranks_by_the_shorts_profit_factor(stack):
    # Given the owner sweeps aroon's period (inside mavp's periods too) and the stop loss
    user = stack.sign_up()
    strategy = stack.create_strategy(user, VOCABULARY)
    grid = {"aroon": [10, 14, 25], "config.stop_loss": [2, 3]}
    body = {
        "strategy_id": strategy["id"],
        "symbol": SYMBOL,
        "timeframe": "1h",
        "initial_balance": 10_000,
        "parameters": grid,
        "objective": "short.profit_factor",
        "max_combinations": 10,
        **RANGE,
    }
    status, created = stack.request("POST", "/optimizations", user.token, body)
    assert status == 202, created
    optimization = wait_for(stack, user, created["id"], timeout=240)
    assert optimization["status"] == "completed", optimization
    assert stack.local.functions["OptimizationBatchFunction"].pids - {os.getpid()}  # batches in their own processes
    # Then its ranking is the order of each combination's own backtest by the shorts' profit factor
    status, page = stack.request("GET", f"/optimizations/{created['id']}/results?per_page=10", user.token)
    assert status == 200 and page["meta"]["total_count"] == 6
    candles = stack.candles(SYMBOL, "1h", START_MS, END_MS)
    factors = {}
    for result in page["data"]:
        trades = run_backtest(
            validate_strategy(with_parameters(VOCABULARY, result["params"])), candles, SETTINGS
        ).trades
        closed = trades.pnl[(trades.exit_bar >= 0) & (trades.side == -1)]
        factor = float(closed[closed > 0].sum()) / -float(closed[closed < 0].sum())
        factors[json.dumps(result["params"], sort_keys=True)] = factor
        assert result["objective_value"] == pytest.approx(factor, rel=1e-9)
    assert len(set(factors.values())) > 1  # a real ranking, not ties
    assert [json.dumps(r["params"], sort_keys=True) for r in page["data"]] == sorted(factors, key=lambda k: -factors[k])
    # and a heatmap of another side's metric answers over the two parameters
    status, heatmap = stack.request(
        "GET", f"/optimizations/{created['id']}/heatmap?x=aroon&y=config.stop_loss&metric=long.win_rate", user.token
    )
    assert status == 200 and heatmap["metric"] == "long.win_rate" and heatmap["x_values"] == [10, 14, 25]
    status, refused = stack.request("POST", "/optimizations", user.token, body | {"objective": "short"})
    assert status == 422 and refused["error"]["details"][0]["field"] == "objective"
