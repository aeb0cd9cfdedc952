"""The backtest state machine from template.yaml, run by moto's interpreter on the local stack,
its Lambda tasks reaching the real handlers in-process: a backtest created over REST completes
with the single pass's trades and summary; a transient chunk failure is retried; a failing chunk
fails the backtest cleanly; a cancel stops it and removes its partial results.

Chunk failures are injected through the compute module's documented test hook
(`functions/compute/app.py`: `compute_chunk_step`, monkeypatched on the module the stack loaded).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from datetime import datetime

import pytest
import websockets

from adapters.workflow import TransientError
from shared.engine import BacktestSettings, run_backtest
from shared.strategy import validate_strategy
from tests.fanout.stack import HOUR_MS, Stack, random_walk
from tests.fanout.strategies import sma_cross

pytestmark = pytest.mark.stack

SYMBOL = "TESTUSDT"
BARS = 3000
SMA_CROSS = sma_cross(stop_loss=2, take_profit=4, trailing_stop=3)
RANGE = {"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-04-15T00:00:00Z"}


@pytest.fixture(scope="module")
def in_process_functions() -> frozenset[str]:
    return frozenset({"ComputeFunction"})  # these tests patch its module


@pytest.fixture(scope="module")
def stack_candles() -> dict:
    return {(SYMBOL, "1h"): random_walk(7, BARS, HOUR_MS)}


@pytest.fixture
def compute_module(stack):
    """The compute function's module as the stack loaded it (its handler's module)."""
    return sys.modules[stack.local.functions["ComputeFunction"].handler().__module__]


def single_pass(stack: Stack, definition: dict, metadata: dict, balance: float = 10_000.0):
    start, end = (int(datetime.fromisoformat(RANGE[key]).timestamp() * 1000) for key in ("start_time", "end_time"))
    settings = BacktestSettings(
        initial_balance=balance,
        commission=metadata.get("commission", 0.1),
        leverage=metadata.get("leverage", 1.0),
        timeframe="1h",
    )
    return run_backtest(validate_strategy(definition), stack.candles(SYMBOL, "1h", start, end), settings)


def run_backtest_over_rest(stack: Stack, definition: dict = SMA_CROSS, **metadata) -> tuple:
    user = stack.sign_up()
    strategy = stack.create_strategy(user, definition)
    created = stack.create_backtest(
        user, strategy["id"], symbol=SYMBOL, timeframe="1h", initial_balance=10_000, metadata=metadata, **RANGE
    )
    return user, created


# ---------------------------------------------------------------- end to end
def test_a_backtest_created_over_rest_completes_exactly_as_a_single_pass(stack):
    # Given a user following their own channel over the WebSocket API
    user = stack.sign_up()
    strategy = stack.create_strategy(user, SMA_CROSS)
    metadata = {"chunks": 4, "commission": 0.1, "leverage": 2}
    events: list[dict] = []

    async def follow() -> dict:
        async with websockets.connect(stack.local.ws_url) as socket:
            await socket.send(json.dumps({"action": "join", "channel": f"user:{user.id}", "token": user.token}))
            assert json.loads(await socket.recv())["event"] == "joined"
            # When they create a backtest split into 4 chunks
            created = await asyncio.to_thread(
                stack.create_backtest,
                user,
                strategy["id"],
                symbol=SYMBOL,
                timeframe="1h",
                initial_balance=10_000,
                metadata=metadata,
                **RANGE,
            )
            while not events or events[-1]["data"]["status"] != "completed":
                events.append(json.loads(await asyncio.wait_for(socket.recv(), 60)))
            return created

    created = asyncio.run(follow())
    backtest = stack.wait_for_backtest(user, created["id"])
    execution = stack.wait_for_execution(created["id"])

    # Then it completed through the state machine, in 4 chunks...
    assert backtest["status"] == "completed" and backtest["progress"] == 100
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["plan"]["chunks"] == [0, 1, 2, 3]
    # ...with exactly the trades, balance and summary of one pass over the same candles
    expected = single_pass(stack, SMA_CROSS, metadata)
    assert len(expected.trades) > 10
    stored, total = stack.trade_store().page(created["id"], None, None, 0, 10_000)
    assert total == len(expected.trades)
    assert [int(t.entry_time.timestamp() * 1000) for t in stored] == expected.trades.entry_time.tolist()
    assert [t.entry_price for t in stored] == expected.trades.entry_price.tolist()
    assert [t.exit_price for t in stored] == expected.trades.exit_price.tolist()
    assert [t.quantity for t in stored] == expected.trades.quantity.tolist()
    assert [t.pnl for t in stored] == expected.trades.pnl.tolist()
    record = stack.backtests().get(created["id"])
    assert record.final_balance == expected.final_balance
    assert record.performance_summary == expected.performance_summary
    assert backtest["performance_summary"]["total_trades"] == expected.performance_summary["total_trades"]
    # The owner saw the progress rise to completion on their channel
    progress = [event["data"]["progress"] for event in events]
    assert {event["event"] for event in events} == {"backtest:status_update"}
    # (planned 5; each chunk 10 + 80 * chunks done / 4 when that raised it: chunks finishing
    # together skip values; stitched 95; completed 100)
    assert progress[0] == 5 and progress[-2:] == [95, 100] and 90 in progress
    assert len(set(progress)) == len(progress) and set(progress) <= {5, 30, 50, 70, 90, 95, 100}
    assert all(event["data"]["backtest_id"] == created["id"] for event in events)
    # And nothing of the run is left behind but its trades
    assert stack.keys("ResultsBucket", f"partials/{created['id']}/") == []


def test_the_chunk_count_follows_bars_per_chunk_when_not_forced(stack):
    user, created = run_backtest_over_rest(stack)
    assert stack.wait_for_backtest(user, created["id"])["status"] == "completed"
    # 2520 bars, BarsPerChunk 500000 by default: one chunk
    assert json.loads(stack.wait_for_execution(created["id"])["output"])["plan"]["chunks"] == [0]


# ---------------------------------------------------------------- failures
def test_a_transient_chunk_failure_is_retried_and_the_backtest_completes(stack, compute_module, monkeypatch):
    # Given chunk 1's first attempt hits a throttled AWS call
    real = compute_module.compute_chunk_step
    attempts: list[int] = []

    def throttled_once(backtest_id: str, chunk: int) -> dict:
        attempts.append(chunk)
        if chunk == 1 and attempts.count(1) == 1:
            raise TransientError("temporary AWS error: SlowDown")
        return real(backtest_id, chunk)

    monkeypatch.setattr(compute_module, "compute_chunk_step", throttled_once)
    # When a 3-chunk backtest runs
    user, created = run_backtest_over_rest(stack, chunks=3)
    backtest = stack.wait_for_backtest(user, created["id"])
    # Then the state machine retried the chunk and the result is still the single pass's
    assert backtest["status"] == "completed"
    assert sorted(attempts) == [0, 1, 1, 2]
    assert (
        stack.backtests().get(created["id"]).performance_summary
        == single_pass(stack, SMA_CROSS, {}).performance_summary
    )


def test_a_failing_chunk_fails_the_backtest_cleanly(stack, compute_module, monkeypatch):
    # Given chunk 2 fails on a bug (not a transient error: no retry)
    real = compute_module.compute_chunk_step
    attempts: list[int] = []

    def broken(backtest_id: str, chunk: int) -> dict:
        attempts.append(chunk)
        if chunk == 2:
            raise ZeroDivisionError("float division by zero")
        return real(backtest_id, chunk)

    monkeypatch.setattr(compute_module, "compute_chunk_step", broken)
    user, created = run_backtest_over_rest(stack, chunks=4)
    backtest = stack.wait_for_backtest(user, created["id"])
    # Then the backtest failed with a readable message, and the execution failed
    assert backtest["status"] == "failed"
    assert backtest["error"] == (
        "the backtest failed on an internal error (ZeroDivisionError); the execution's logs have the details"
    )
    assert attempts.count(2) == 1
    assert stack.wait_for_execution(created["id"])["status"] == "FAILED"
    # No trades were persisted, and no partial result is left
    assert stack.trade_store().page(created["id"], None, None, 0, 10) == ([], 0)
    assert stack.keys("ResultsBucket", f"backtests/{created['id']}/") == []
    assert stack.keys("ResultsBucket", f"partials/{created['id']}/") == []


def test_a_backtest_over_a_range_without_candles_fails_with_the_reason(stack):
    user = stack.sign_up()
    strategy = stack.create_strategy(user, SMA_CROSS)
    created = stack.create_backtest(
        user,
        strategy["id"],
        symbol=SYMBOL,
        timeframe="1h",
        initial_balance=10_000,
        start_time="2023-01-01T00:00:00Z",
        end_time="2023-02-01T00:00:00Z",
    )
    backtest = stack.wait_for_backtest(user, created["id"])
    assert backtest["status"] == "failed"
    assert backtest["error"] == (
        "no candles in the requested range (start_time: no TESTUSDT 1h candles between the start and end times)"
    )


# ---------------------------------------------------------------- cancel
def test_cancel_stops_the_execution_sets_cancelled_and_removes_partial_results(stack, compute_module, monkeypatch):
    # Given a 4-chunk backtest whose chunk 3 is computed but held back from writing its result
    # until the owner cancelled (the compute function's store, wrapped in-process)
    runs = compute_module.backtests().runs
    real_put = runs.put_chunk
    cancelled, finished = threading.Event(), threading.Event()

    def held_put(backtest_id, chunk, seconds):
        if chunk.span.index == 3:
            assert cancelled.wait(30)
            real_put(backtest_id, chunk, seconds)
            finished.set()
        else:
            real_put(backtest_id, chunk, seconds)

    monkeypatch.setattr(runs, "put_chunk", held_put)
    user, created = run_backtest_over_rest(stack, chunks=4)
    backtest_id = created["id"]
    deadline = time.monotonic() + 30
    while len(stack.keys("ResultsBucket", f"partials/{backtest_id}/chunks/")) < 3:  # chunks 0-2 are written
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # When the owner cancels over REST
    status, answer = stack.request("POST", f"/backtests/{backtest_id}/cancel", user.token)
    cancelled.set()
    assert finished.wait(30)
    # Then the backtest is cancelled and its execution stopped (AWS reports it ABORTED; moto 5.2,
    # stopping inside a Map, aborts the in-flight iterations and then ends the execution FAILED on
    # an internal error of its own, after no further state ran)...
    assert status == 200 and answer["status"] == "cancelled"
    execution = stack.wait_for_execution(backtest_id)
    history = stack.client("stepfunctions").get_execution_history(executionArn=execution["executionArn"])["events"]
    assert execution["status"] == "ABORTED" or "MapIterationAborted" in [event["type"] for event in history]
    entered = {event["stateEnteredEventDetails"]["name"] for event in history if "stateEnteredEventDetails" in event}
    assert not entered & {"Stitch", "Persist", "MarkFailed"}
    # ...and no partial result remains, not even the one chunk 3 wrote after the cancel
    assert stack.keys("ResultsBucket", f"partials/{backtest_id}/") == []
    backtest = stack.wait_for_backtest(user, backtest_id)
    assert backtest["status"] == "cancelled" and backtest["performance_summary"] is None
    assert stack.trade_store().page(backtest_id, None, None, 0, 10) == ([], 0)
