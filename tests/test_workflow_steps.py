"""The backtest workflow's steps one by one (shared.backtests.workflow) on moto with the
template's tables and buckets: idempotent steps, the cancel race, progress that only rises,
best-effort events, readable failure messages, and the error names the state machine acts on."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from adapters.candle_store import S3CandleStore
from adapters.models.backtests import BacktestItem
from adapters.repositories.backtests import DynamoBacktestRepository
from adapters.repositories.binding import bind
from adapters.repositories.equity import S3EquityStore
from adapters.repositories.trades import S3TradeStore
from adapters.run_store import S3RunStore
from adapters.workflow import TransientError, step_errors
from local.resources import provision
from local.template import Template
from shared.backtests.model import Backtest
from shared.backtests.runs import RunPlan
from shared.backtests.workflow import BacktestNotRunning, BacktestWorkflow
from shared.engine import BacktestSettings, run_backtest
from shared.errors import FieldError, NotFound, ValidationFailed
from shared.ids import new_id
from shared.market_data.store import month_index, month_name
from shared.statuses import PENDING
from shared.step_failures import failure_message
from shared.strategy import validate_strategy
from shared.times import utc_now
from tests.fanout.stack import HOUR_MS, START_MS, random_walk

TEMPLATE = Template.load()
STRATEGY = {
    "entry_rules": {
        "operator": "and",
        "conditions": [
            {
                "indicator": "price",
                "params": {},
                "comparator": "crosses_above",
                "value": {"indicator": "sma", "params": {"period": 20}},
            }
        ],
    },
    "exit_rules": {
        "operator": "or",
        "conditions": [
            {
                "indicator": "price",
                "params": {},
                "comparator": "crosses_below",
                "value": {"indicator": "sma", "params": {"period": 20}},
            }
        ],
    },
    "config": {"stop_loss": 1.5},
}
BARS = 1200


class RecordingPublisher:
    def __init__(self, broken: bool = False) -> None:
        self.events: list[tuple[str, str, dict]] = []
        self.broken = broken

    def publish(self, channel: str, event: str, data: dict) -> None:
        if self.broken:
            raise RuntimeError("the management API is down")
        self.events.append((channel, event, data))


@pytest.fixture
def world(aws):
    """The template's tables and buckets on moto, candles for TESTUSDT 1h, and a workflow."""
    provision(TEMPLATE, aws)
    s3 = boto3.client("s3", endpoint_url=aws)
    candles = S3CandleStore(s3, TEMPLATE.physical_name("CandlesBucket"))
    series = random_walk(3, BARS, HOUR_MS)
    months = month_index(series.ts)
    candles.commit(
        "TESTUSDT",
        "1h",
        None,
        {
            month_name(m): series.slice(int(np.flatnonzero(months == m)[0]), int(np.flatnonzero(months == m)[-1]) + 1)
            for m in np.unique(months)
        },
    )
    results = TEMPLATE.physical_name("ResultsBucket")
    publisher = RecordingPublisher()
    workflow = BacktestWorkflow(
        backtests=DynamoBacktestRepository(bind(BacktestItem, TEMPLATE.physical_name("BacktestsTable"), aws)),
        trades=S3TradeStore(s3, results),
        equity=S3EquityStore(s3, results),
        runs=S3RunStore(s3, results),
        candles=candles,
        publisher=publisher,
        bars_per_chunk=500,
    )
    return workflow, publisher, series


def new_backtest(workflow: BacktestWorkflow, strategy: dict = STRATEGY, **metadata) -> Backtest:
    now = utc_now()
    backtest = Backtest(
        id=new_id(),
        owner_id="owner-1",
        strategy_id="s-1",
        strategy_name="under test",
        symbol="TESTUSDT",
        timeframe="1h",
        start_time=datetime.fromtimestamp(START_MS / 1000, UTC),
        end_time=datetime.fromtimestamp((START_MS + BARS * HOUR_MS) / 1000, UTC),
        initial_balance=10_000.0,
        final_balance=None,
        status=PENDING,
        progress=0,
        created_at=now,
        updated_at=now,
        strategy=strategy,
        metadata={"commission": 0.1, "leverage": 1.0, **metadata},
        performance_summary=None,
        error=None,
        execution_arn=None,
        started_at=None,
        completed_at=None,
    )
    workflow.backtests.add(backtest)
    return backtest


def run_to_stitched(workflow: BacktestWorkflow, backtest_id: str) -> None:
    for chunk in workflow.prepare(backtest_id)["chunks"]:
        workflow.compute(backtest_id, chunk)
    workflow.stitch(backtest_id)


# ---------------------------------------------------------------- the steps
def test_prepare_plans_chunks_from_bars_per_chunk_and_pins_the_series(world):
    workflow, publisher, _ = world
    backtest = new_backtest(workflow)
    assert workflow.prepare(backtest.id) == {"status": "running", "chunks": [0, 1, 2]}  # 1200 bars / 500
    plan = RunPlan.from_json(workflow.runs.plan(backtest.id))
    assert [(c.first_bar, c.end_bar) for c in plan.chunks] == [(0, 400), (400, 800), (800, 1200)]
    assert plan.source.partitions == workflow.candles.manifest("TESTUSDT", "1h").partitions
    assert workflow.backtests.get(backtest.id).status == "running"
    assert publisher.events[-1] == (
        "user:owner-1",
        "backtest:status_update",
        {
            "backtest_id": backtest.id,
            "status": "running",
            "progress": 5,
            "message": "planned 3 chunk(s) over 1200 bars",
        },
    )


def test_metadata_chunks_forces_the_count(world):
    workflow, _, _ = world
    assert workflow.prepare(new_backtest(workflow, chunks=7).id)["chunks"] == list(range(7))


def test_every_step_can_run_again_with_the_same_outcome(world):
    workflow, _, series = world
    backtest = new_backtest(workflow, chunks=3)
    run_to_stitched(workflow, backtest.id)
    first = workflow.runs.chunk(backtest.id, 1)[0].to_arrays()
    workflow.compute(backtest.id, 1)  # a retried chunk writes the same result
    again = workflow.runs.chunk(backtest.id, 1)[0].to_arrays()
    assert all(np.array_equal(first[name], again[name]) for name in first)
    workflow.persist(backtest.id)
    workflow.persist(backtest.id)  # a re-run Persist stores the trades once
    expected = run_backtest(validate_strategy(STRATEGY), series, BacktestSettings(commission=0.1, timeframe="1h"))
    assert workflow.trades.page(backtest.id, None, None, 0, 1000)[1] == len(expected.trades) > 0
    completed = workflow.backtests.get(backtest.id)
    assert completed.status == "completed" and completed.performance_summary == expected.performance_summary


def test_persist_stores_the_equity_series_beside_buy_and_hold(world):
    workflow, _, series = world
    backtest = new_backtest(workflow, chunks=3)
    run_to_stitched(workflow, backtest.id)
    workflow.persist(backtest.id)
    stored = workflow.equity.load(backtest.id)
    expected = run_backtest(validate_strategy(STRATEGY), series, BacktestSettings(commission=0.1, timeframe="1h"))
    assert np.array_equal(stored.timestamps, series.ts)
    assert np.array_equal(stored.equity, expected.equity_curve)
    assert stored.equity[-1] == workflow.backtests.get(backtest.id).final_balance
    # buy-and-hold of 10,000 bought at the first open, marked at each close
    assert stored.benchmark == pytest.approx(10_000.0 * series.close / series.open[0], rel=1e-12)


def test_a_cancel_between_stitch_and_persist_leaves_it_cancelled_without_trades(world):
    workflow, _, _ = world
    backtest = new_backtest(workflow, chunks=2)
    run_to_stitched(workflow, backtest.id)
    # When the owner cancels now (what the API's cancel does: status first, then the cleanup)
    workflow.backtests.cancel(backtest.id, utc_now())
    workflow.trades.delete(backtest.id)
    # Then Persist stops the run instead of completing it, and nothing is stored
    with pytest.raises(BacktestNotRunning):
        workflow.persist(backtest.id)
    assert workflow.backtests.get(backtest.id).status == "cancelled"
    assert workflow.trades.page(backtest.id, None, None, 0, 10) == ([], 0)


def test_a_chunk_finishing_after_the_cancel_removes_what_it_wrote(world):
    workflow, _, _ = world
    backtest = new_backtest(workflow, chunks=2)
    workflow.prepare(backtest.id)
    workflow.backtests.cancel(backtest.id, utc_now())  # the cancel's cleanup ran before this chunk's write
    assert workflow.compute(backtest.id, 0) == {"chunk": 0, "skipped": "the backtest is no longer running"}
    assert workflow.runs.chunks_done(backtest.id) == 0


def test_progress_only_rises(world):
    workflow, _, _ = world
    backtest = new_backtest(workflow)
    workflow.backtests.mark_running(backtest.id, utc_now())
    assert workflow.backtests.advance_progress(backtest.id, 50, utc_now())
    assert not workflow.backtests.advance_progress(backtest.id, 30, utc_now())  # a slower chunk reporting late
    assert not workflow.backtests.advance_progress(backtest.id, 50, utc_now())
    assert workflow.backtests.get(backtest.id).progress == 50


def test_a_failing_publisher_never_fails_a_step(world):
    workflow, _, _ = world
    broken = replace(workflow, publisher=RecordingPublisher(broken=True))
    backtest = new_backtest(broken, chunks=2)
    run_to_stitched(broken, backtest.id)
    broken.persist(backtest.id)
    assert broken.notify(backtest.id)["events"] > 3
    assert broken.backtests.get(backtest.id).status == "completed"


def test_notify_publishes_completion_metrics_and_trades_then_removes_the_partials(world):
    workflow, publisher, _ = world
    backtest = new_backtest(workflow, chunks=2)
    run_to_stitched(workflow, backtest.id)
    workflow.persist(backtest.id)
    publisher.events.clear()
    workflow.notify(backtest.id)
    channel = f"backtest:{backtest.id}"
    stored, total = workflow.trades.page(backtest.id, None, None, 0, 1000)
    assert publisher.events[0] == (
        channel,
        "status_update",
        {"status": "completed", "progress": 100, "message": f"completed with {total} trade(s)"},
    )
    metrics = next(data for _, event, data in publisher.events if event == "metrics_update")
    assert metrics["equity"] == workflow.backtests.get(backtest.id).final_balance
    assert set(metrics) == {"current_balance", "equity", "drawdown", "drawdown_percentage", "open_positions"}
    executed = [data["trade"] for _, event, data in publisher.events if event == "trade_executed"]
    # the trade events carry the REST API's ids and times
    assert [t["id"] for t in executed] == [t.id for t in stored]
    assert executed[0]["entry_time"] == stored[0].entry_time.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with pytest.raises(NotFound):
        workflow.runs.plan(backtest.id)


def test_fail_marks_the_backtest_failed_and_removes_everything_it_produced(world):
    workflow, publisher, _ = world
    backtest = new_backtest(workflow, chunks=2)
    run_to_stitched(workflow, backtest.id)
    cause = json.dumps({"errorMessage": "no candles in the requested range", "errorType": "ValidationFailed"})
    assert workflow.fail(backtest.id, "ValidationFailed", cause)["status"] == "failed"
    failed = workflow.backtests.get(backtest.id)
    assert failed.status == "failed" and failed.error == "no candles in the requested range"
    assert workflow.runs.chunks_done(backtest.id) == 0
    assert publisher.events[-1][2]["status"] == "failed"
    # a second attempt (a retried task) changes nothing
    assert workflow.fail(backtest.id, "ValidationFailed", cause)["status"] == "unchanged"


# ---------------------------------------------------------------- messages and error names
def test_failure_messages_show_domain_errors_and_hide_internals():
    readable = json.dumps(
        {"errorMessage": "invalid strategy (config.stop_loss: must be > 0)", "errorType": "ValidationFailed"}
    )
    assert failure_message("ValidationFailed", readable) == "invalid strategy (config.stop_loss: must be > 0)"
    assert failure_message("KeyError", json.dumps({"errorMessage": "'close'", "errorType": "KeyError"})) == (
        "the backtest failed on an internal error (KeyError); the execution's logs have the details"
    )
    assert failure_message("States.Timeout", "") == "a step of the backtest timed out"


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (_client_error("SlowDown", 503), TransientError),
        (_client_error("ProvisionedThroughputExceededException", 400), TransientError),
        (_client_error("InternalError", 500), TransientError),
        (_client_error("AccessDenied", 403), ClientError),
        (KeyError("close"), KeyError),
    ],
)
def test_step_errors_name_what_the_state_machine_retries(raised, expected):
    with pytest.raises(expected), step_errors():
        raise raised


def test_step_errors_carry_a_domain_errors_details_in_its_message():
    with pytest.raises(ValidationFailed) as caught, step_errors():
        raise ValidationFailed("invalid strategy", [FieldError("config.stop_loss", "must be greater than 0")])
    assert str(caught.value) == "invalid strategy (config.stop_loss: must be greater than 0)"
    with pytest.raises(BacktestNotRunning), step_errors():
        raise BacktestNotRunning("backtest b is cancelled")


# ---------------------------------------------------------------- orders and costs through the steps
ORDER_STRATEGY = {
    **STRATEGY,
    "config": {
        "stop_loss": 1.5,
        "entry_order": {"type": "limit", "offset": 0.2, "expire_bars": 3},
        "take_profit_levels": [{"percent": 1, "size": 50}],
        "break_even_after": 1,
    },
}


def test_funding_exchange_rules_and_finer_candles_reach_the_engine_through_the_steps(world, aws):
    from adapters.funding_store import S3FundingStore
    from adapters.symbol_rules_store import S3SymbolRulesStore
    from shared.backtests.execution import backtest_settings
    from shared.engine.positions import MarketData
    from shared.market_data.funding import FundingRates
    from shared.market_data.symbol_rules import SymbolRules
    from tests.test_engine_parity import fine_candles

    workflow, _, series = world
    s3, bucket = boto3.client("s3", endpoint_url=aws), TEMPLATE.physical_name("CandlesBucket")
    workflow.funding, workflow.symbol_rules = S3FundingStore(s3, bucket), S3SymbolRulesStore(s3, bucket)
    rates = FundingRates(START_MS + 8 * HOUR_MS * np.arange(BARS // 8 + 1), np.full(BARS // 8 + 1, 2e-4))
    workflow.funding.put_funding("TESTUSDT", rates)
    rules = SymbolRules(tick_size=0.01, lot_size=0.001, min_notional=10.0)
    workflow.symbol_rules.put_rules("TESTUSDT", "binance", rules, market="linear")
    fine = fine_candles(series, 7, parts=4)
    months = month_index(fine.ts)
    workflow.candles.commit(
        "TESTUSDT",
        "15m",
        None,
        {
            month_name(m): fine.slice(int(np.flatnonzero(months == m)[0]), int(np.flatnonzero(months == m)[-1]) + 1)
            for m in np.unique(months)
        },
    )
    metadata = {
        "funding": True,
        "exchange": "binance",
        "market": "linear",
        "slippage_ticks": 1,
        "intrabar_timeframe": "15m",
        "maker_fee": 0.02,
        "taker_fee": 0.05,
        "chunks": 3,
    }
    backtest = new_backtest(workflow, ORDER_STRATEGY, **metadata)
    run_to_stitched(workflow, backtest.id)
    workflow.persist(backtest.id)
    settings = backtest_settings(10_000.0, "1h", {"commission": 0.1, **metadata})
    expected = run_backtest(
        validate_strategy(ORDER_STRATEGY), series, settings, MarketData(rules=rules, funding=rates, fine=fine)
    )
    completed = workflow.backtests.get(backtest.id)
    assert completed.status == "completed" and completed.performance_summary == expected.performance_summary
    assert expected.performance_summary["funding_paid"] != 0.0 and len(expected.trades) > 0
    assert set(expected.trades.leg.tolist()) == {1, 2}


def test_funding_missing_for_the_range_fails_prepare_naming_the_field(world, aws):
    from adapters.funding_store import S3FundingStore

    workflow, _, _ = world
    workflow.funding = S3FundingStore(boto3.client("s3", endpoint_url=aws), TEMPLATE.physical_name("CandlesBucket"))
    backtest = new_backtest(workflow, funding=True)
    with pytest.raises(ValidationFailed) as failure:
        workflow.prepare(backtest.id)
    assert [error.field for error in failure.value.errors] == ["metadata.funding"]
