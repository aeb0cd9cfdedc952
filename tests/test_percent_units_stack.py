"""Percent in, fractions in the engine, by every way in: users give a commission, a slippage and a
stop in percent (0.25 = 0.25 %); the engine computes with 0.0025, 0.0005, 0.02 and the default
maintenance margin of 0.5 % as 0.005. `shared.engine.rules.EngineRules.from_config` is the one
place that converts; these tests watch what it hands the engine on the local stack's API (the
backtest state machine's workflow and compute handlers), a batch file, an optimization, a
replay, and the CLI."""

from __future__ import annotations

import json
import time

import pyarrow.parquet as pq
import pytest

from adapters.cli import main
from shared.engine.rules import EngineRules
from shared.times import epoch_ms, parse_iso_utc
from tests.fanout.stack import HOUR_MS, Stack, random_walk
from tests.fanout.strategies import sma_cross

pytestmark = pytest.mark.stack

SYMBOL = "UNITSUSDT"
CANDLES = random_walk(17, 1500, HOUR_MS)
COMMISSION, SLIPPAGE, STOP_LOSS = 0.25, 0.05, 2.0  # percent, as users write them
STRATEGY = sma_cross(10, 30, slippage=SLIPPAGE, stop_loss=STOP_LOSS)
BALANCE = 12_345.0
RANGE = {"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-02-20T00:00:00Z"}


@pytest.fixture(scope="module")
def in_process_functions() -> frozenset[str]:
    return frozenset({"ComputeFunction", "OptimizationBatchFunction"})  # the engine_rules spy patches this process


@pytest.fixture(scope="module")
def stack_candles() -> dict:
    return {(SYMBOL, "1h"): CANDLES}


@pytest.fixture
def engine_rules(monkeypatch) -> list[EngineRules]:
    """Every EngineRules the conversion makes while the test runs for an account of BALANCE (the
    stack runs its handlers, the Map workers too, in this process: `in_process_functions`). An
    optimization also runs its strategy once with the
    default settings on three flat candles, to list the metrics it may rank by
    (`shared.optimizations.sweep.summary_metrics`): that run is not the user's."""
    made: list[EngineRules] = []
    convert = EngineRules.from_config.__func__

    def recording(cls, config, settings):
        rules = convert(cls, config, settings)
        if settings.initial_balance == BALANCE:
            made.append(rules)
        return rules

    monkeypatch.setattr(EngineRules, "from_config", classmethod(recording))
    return made


def assert_fractions(made: list[EngineRules], fee: float | None = COMMISSION / 100) -> None:
    """What the engine computed with: 0.25 % -> 0.0025, 0.05 % -> 0.0005, 2 % -> 0.02, and the
    default maintenance margin 0.5 % -> 0.005 (written out, not derived from the code under test)."""
    assert made, "the engine was never given rules"
    for rules in made:
        assert (rules.slippage, rules.stop_loss, rules.maintenance_margin) == pytest.approx(
            (0.0005, 0.02, 0.005), rel=1e-9
        )  # prices shown to 12 digits
        if fee is not None:
            assert (rules.fee, rules.maker_fee) == pytest.approx((0.0025, 0.0025), rel=1e-12)


def test_an_api_backtest_reaches_the_engine_in_fractions(stack: Stack, engine_rules):
    user = stack.sign_up()
    strategy = stack.create_strategy(user, STRATEGY)
    queued = stack.create_backtest(
        user,
        strategy["id"],
        symbol=SYMBOL,
        timeframe="1h",
        initial_balance=BALANCE,
        metadata={"commission": COMMISSION, "chunks": 2},
        **RANGE,
    )
    backtest = stack.wait_for_backtest(user, queued["id"])
    assert backtest["status"] == "completed", backtest
    assert_fractions(engine_rules)
    # And the fills show them: each closed trade paid 0.25 % of its entry and exit notional, and
    # its market entry is the next open moved 0.05 % against it
    _, trades = stack.request("GET", f"/backtests/{queued['id']}/trades?per_page=100", user.token)
    closed = [t for t in trades["data"] if t["exit_time"] is not None]
    assert closed
    opens = dict(zip(CANDLES.ts.tolist(), CANDLES.open.tolist()))
    for trade in closed:
        notional = trade["quantity"] * (trade["entry_price"] + trade["exit_price"])
        assert trade["fees"] == pytest.approx(0.0025 * notional, rel=1e-9)
        assert trade["entry_price"] == pytest.approx(
            opens[epoch_ms(parse_iso_utc(trade["entry_time"]))] * 1.0005, rel=1e-9
        )  # prices shown to 12 digits


def test_a_batch_file_backtest_reaches_the_engine_in_fractions(stack: Stack, engine_rules):
    user = stack.sign_up()
    strategy = stack.create_strategy(user, STRATEGY)
    batch = {
        "owner": user.email,
        "backtests": [
            {
                "strategy_id": strategy["id"],
                "symbol": SYMBOL,
                "timeframe": "1h",
                "initial_balance": BALANCE,
                "metadata": {"commission": COMMISSION},
                **RANGE,
            }
        ],
    }
    s3 = stack.client("s3")
    s3.put_object(
        Bucket=stack.bucket("ImportsBucket"), Key="imports/batches/units.json", Body=json.dumps(batch).encode()
    )
    status = _wait(lambda: _json_object(stack, "imports/batch-status/units.json"))
    assert status["started"] == 1, status
    backtest = stack.wait_for_backtest(user, status["entries"][0]["backtest_id"])
    assert backtest["status"] == "completed", backtest
    assert_fractions(engine_rules)


def test_an_optimization_reaches_the_engine_in_fractions(stack: Stack, engine_rules):
    user = stack.sign_up()
    strategy = stack.create_strategy(user, STRATEGY)
    status, queued = stack.request(
        "POST",
        "/optimizations",
        user.token,
        {
            "strategy_id": strategy["id"],
            "symbol": SYMBOL,
            "timeframe": "1h",
            "initial_balance": BALANCE,
            "parameters": {"config.take_profit": [3, 6]},
            "objective": "total_pnl",
            "max_combinations": 10,
            "metadata": {"commission": COMMISSION},
            **RANGE,
        },
    )
    assert status == 202, queued
    optimization = _wait(lambda: _finished(stack, user.token, f"/optimizations/{queued['id']}"))
    assert optimization["status"] == "completed", optimization
    assert_fractions(engine_rules)
    # each combination twice: its batch, and Finish running the best in full (FULL_RESULTS)
    assert sorted(rules.take_profit for rules in engine_rules) == pytest.approx([0.03, 0.03, 0.06, 0.06])


def test_a_replay_reaches_the_engine_in_fractions(stack: Stack, engine_rules):
    user = stack.sign_up()
    strategy = stack.create_strategy(user, STRATEGY)
    csv = (
        "time,symbol,side,price,quantity,fee,fee_asset,id\n"
        f"2024-01-05T01:30:00Z,{SYMBOL},buy,{CANDLES.close[97]:.4f},1,0.01,USDT,u-1\n"
        f"2024-01-09T04:15:00Z,{SYMBOL},sell,{CANDLES.close[196]:.4f},1,0.01,USDT,u-2\n"
    )
    status, queued = stack.request(
        "POST", "/transactions/import", user.token, {"source": "file", "file_format": "csv", "file_content": csv}
    )
    assert status == 202, queued
    _wait(lambda: _finished(stack, user.token, f"/transactions/imports/{queued['import_id']}"))
    _, listed = stack.request("GET", "/transactions", user.token)
    status, replay = stack.request(
        "POST",
        "/transactions/replay",
        user.token,
        {
            "transaction_ids": [t["id"] for t in listed["data"]],
            "symbol": SYMBOL,
            "timeframe": "1h",
            "metadata": {"alternative_exit": strategy["id"], "initial_balance": BALANCE},
        },
    )
    assert status == 202, replay
    backtest = stack.wait_for_backtest(user, replay["backtest_id"])
    assert backtest["status"] == "completed", backtest
    assert_fractions(engine_rules, fee=None)  # a replay pays the transactions' own fees


def test_the_cli_reaches_the_engine_in_fractions(tmp_path, capsys, engine_rules):
    strategy, candles = tmp_path / "strategy.json", tmp_path / "candles.parquet"
    strategy.write_text(json.dumps(STRATEGY))
    pq.write_table(CANDLES.to_arrow(), candles)
    assert (
        main(
            [
                "run",
                "--strategy",
                str(strategy),
                "--candles",
                str(candles),
                "--commission",
                str(COMMISSION),
                "--initial-balance",
                str(BALANCE),
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["performance_summary"]["total_trades"] > 0
    assert_fractions(engine_rules)


# ---------------------------------------------------------------- helpers
def _wait(probe, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return found


def _json_object(stack: Stack, key: str) -> dict | None:
    s3 = stack.client("s3")
    try:
        return json.loads(s3.get_object(Bucket=stack.bucket("ImportsBucket"), Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def _finished(stack: Stack, token: str, path: str) -> dict | None:
    status, found = stack.request("GET", path, token)
    assert status == 200, found
    return found if found["status"] in ("completed", "failed") else None
