"""Faults on the local stack: whatever AWS throws at a backtest, nothing is lost and the result is
the clean run's, or the backtest fails with the reason and leaves nothing half-written.

The faults are answered by the local AWS itself (local/faults.py: the AWS front for S3 and
DynamoDB, the WebSocket gateway for the management API), in each service's wire shape, so the
retries under test are the real ones: botocore's and PynamoDB's, pyarrow's C++ S3 client's, the
state machine's `Retry`. Every test also checks that its faults were answered (a fault that never
fired would prove nothing). An import function failing an S3 event every time hands it to the
dead-letter queue, from which the README's redrive imports it. A chunk raising a bug is tests/test_workflow_stack.py's
`test_a_failing_chunk_fails_the_backtest_cleanly`; the exchange's faults are tests/test_faults_exchange.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.parse
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import websockets

from adapters.connections import ConnectionStore
from adapters.publisher import publisher_from_env
from local.faults import Fault
from shared.realtime.protocol import ConnectionInfo, parse_channel
from tests.fakes.market_data import assert_same_candles, binance_csv, random_candles
from tests.fanout.stack import HOUR_MS, Stack, StackUser, random_walk
from tests.fanout.strategies import sma_cross

pytestmark = pytest.mark.stack

SYMBOL = "FAULTUSDT"
STRATEGY = sma_cross(stop_loss=2, take_profit=4, trailing_stop=3)
RANGE = {"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-03-01T00:00:00Z"}
CHUNKS = 3


@pytest.fixture(scope="module")
def in_process_functions() -> frozenset[str]:
    return frozenset({"ComputeFunction"})  # these tests patch its module


@pytest.fixture(scope="module")
def stack_candles() -> dict:
    return {(SYMBOL, "1h"): random_walk(11, 1500, HOUR_MS)}


@pytest.fixture(scope="module")
def owner(stack) -> tuple[StackUser, str]:
    user = stack.sign_up()
    return user, stack.create_strategy(user, STRATEGY)["id"]


@pytest.fixture(autouse=True)
def disarmed(stack):
    """No fault outlives its test."""
    yield
    stack.local.faults.clear()


def run(stack: Stack, owner: tuple[StackUser, str]) -> dict:
    user, strategy_id = owner
    created = stack.create_backtest(
        user, strategy_id, symbol=SYMBOL, timeframe="1h", initial_balance=10_000, metadata={"chunks": CHUNKS}, **RANGE
    )
    return stack.wait_for_backtest(user, created["id"], timeout=90)


def outcome(stack: Stack, backtest_id: str) -> tuple:
    """Everything a run leaves for its owner: every trade's fields, the final balance, the summary."""
    trades, total = stack.trade_store().page(backtest_id, None, None, 0, 10_000)
    record = stack.backtests().get(backtest_id)
    rows = [(t.side, t.entry_time, t.exit_time, t.entry_price, t.exit_price, t.quantity, t.pnl) for t in trades]
    return total, rows, record.final_balance, record.performance_summary


@pytest.fixture(scope="module")
def clean(stack, owner) -> tuple:
    """The outcome of the same backtest with no fault anywhere."""
    backtest = run(stack, owner)
    assert backtest["status"] == "completed", backtest
    result = outcome(stack, backtest["id"])
    assert result[0] > 5  # enough trades for a difference to show
    return result


def assert_answered(*faults: Fault) -> None:
    assert [(f.code, f.answered) for f in faults] == [(f.code, f.times) for f in faults]


def assert_clean_run(stack: Stack, backtest: dict, clean: tuple) -> None:
    assert backtest["status"] == "completed", backtest
    assert outcome(stack, backtest["id"]) == clean
    # Notify removes the partials once the owner has the events (after the status reads completed)
    assert stack.wait_for_execution(backtest["id"])["status"] == "SUCCEEDED"
    assert stack.keys("ResultsBucket", f"partials/{backtest['id']}/") == []


# ---------------------------------------------------------------- DynamoDB
def test_dynamodb_throttling_is_retried_and_the_result_is_the_clean_runs(stack, owner, clean):
    # Given the backtests table throttles writes and reads in the middle of the run (the first
    # write, the creation, goes through)
    table = stack.template.physical_name("BacktestsTable")
    faults = stack.local.faults.arm(
        Fault("dynamodb", "UpdateItem", 400, "ProvisionedThroughputExceededException", times=3, target=table, after=1),
        Fault("dynamodb", "GetItem", 400, "ThrottlingException", times=3, target=table, after=2),
    )
    # When the backtest runs
    backtest = run(stack, owner)
    # Then every throttled call was retried and nothing differs from a clean run
    assert_answered(*faults)
    assert_clean_run(stack, backtest, clean)


# ---------------------------------------------------------------- S3
def test_s3_server_errors_and_slowdowns_are_retried_and_the_result_is_the_clean_runs(stack, owner, clean):
    # Given S3 answers 503 SlowDown and 500 InternalError on the candles' and the results' reads
    # and writes (candles through pyarrow's S3 client, results through boto3)
    candles, results = stack.bucket("CandlesBucket"), stack.bucket("ResultsBucket")
    faults = stack.local.faults.arm(
        Fault("s3", "GetObject", 503, "SlowDown", times=2, target=f"{candles}/"),
        Fault("s3", "PutObject", 500, "InternalError", times=2, target=f"{results}/partials/"),
        Fault("s3", "GetObject", 503, "SlowDown", times=2, target=f"{results}/partials/"),
        Fault("s3", "PutObject", 503, "SlowDown", times=1, target=f"{results}/backtests/"),
    )
    backtest = run(stack, owner)
    assert_answered(*faults)
    assert_clean_run(stack, backtest, clean)


def test_a_results_write_refused_midway_fails_the_backtest_and_leaves_nothing(stack, owner):
    # Given the trades object cannot be written (403: not retryable), after the equity curve was
    trades_key = "/trades.parquet"
    (fault,) = stack.local.faults.arm(Fault("s3", "PutObject", 403, "AccessDenied", times=100, target=trades_key))
    backtest = run(stack, owner)
    # Then the backtest failed with the reason, and neither results nor partials are left
    assert fault.answered >= 1
    assert backtest["status"] == "failed"
    assert backtest["error"] == (
        "the backtest failed on an internal error (AccessDenied); the execution's logs have the details"
    )
    # (the MarkFailed step removes them right after the status reads failed: once the execution ended)
    assert stack.wait_for_execution(backtest["id"])["status"] == "FAILED"
    assert stack.keys("ResultsBucket", f"backtests/{backtest['id']}/") == []
    assert stack.keys("ResultsBucket", f"partials/{backtest['id']}/") == []
    assert stack.trade_store().page(backtest["id"], None, None, 0, 10) == ([], 0)


# ---------------------------------------------------------------- Lambda
def test_a_compute_lambda_timing_out_is_rerun_and_the_result_is_the_clean_runs(stack, owner, clean, monkeypatch):
    # Given the compute function times out after 1 s, and chunk 1's first attempt takes 1.5 s
    # (it ends without writing, as a stopped Lambda would)
    function = stack.local.functions["ComputeFunction"]
    module = sys.modules[function.handler().__module__]
    real = module.compute_chunk_step
    attempts: list[int] = []

    def slow_once(backtest_id: str, chunk: int) -> dict:
        attempts.append(chunk)
        if chunk == 1 and attempts.count(1) == 1:
            time.sleep(1.5)
            raise SystemExit("stopped by Lambda at its timeout")
        return real(backtest_id, chunk)

    monkeypatch.setattr(function, "timeout_s", 1)
    monkeypatch.setattr(module, "compute_chunk_step", slow_once)
    backtest = run(stack, owner)
    # Then the state machine's Retry ran the chunk again, and the result is the clean run's
    assert sorted(attempts) == [0, 1, 1, 2]
    history = stack.client("stepfunctions").get_execution_history(
        executionArn=stack.execution(backtest["id"])["executionArn"], maxResults=1000
    )["events"]
    failures = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
    assert failures == ["Sandbox.Timedout"]
    assert_clean_run(stack, backtest, clean)


# ---------------------------------------------------------------- WebSocket management API
def test_a_gone_connection_is_forgotten_and_a_throttled_send_is_retried_and_delivered(stack):
    user = stack.sign_up()
    channel = f"user:{user.id}"
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.local.aws.url, region_name="us-east-1")
    connections = ConnectionStore(dynamodb, stack.template.physical_name("ConnectionsTable"))
    # Given a connection that left without a $disconnect, still subscribed to the user's channel
    now = datetime.now(UTC)
    connections.open(ConnectionInfo("gone-connection", now))
    connections.subscribe("gone-connection", parse_channel(channel), user.id, now + timedelta(hours=2))

    async def scenario() -> tuple[object, dict]:
        async with websockets.connect(stack.local.ws_url) as socket:
            await socket.send(json.dumps({"action": "join", "channel": channel, "token": user.token}))
            assert json.loads(await socket.recv())["event"] == "joined"
            live = [c for c in connections.subscribers(channel) if c != "gone-connection"]
            assert len(live) == 1
            # ...and the management API throttling the live connection's first two sends
            (throttled,) = stack.local.faults.arm(
                Fault("execute-api", "PostToConnection", 429, "LimitExceededException", times=2, target=live[0])
            )
            publisher = publisher_from_env()
            try:
                delivery = await asyncio.to_thread(publisher.publish, channel, "test:event", {"n": 1})
            finally:
                publisher.shutdown()
            assert throttled.answered == 2
            return delivery, json.loads(await asyncio.wait_for(socket.recv(), 10))

    delivery, received = asyncio.run(scenario())
    # Then the live connection got the event (after the SDK's retries), the gone one was forgotten
    assert (delivery.delivered, delivery.gone, delivery.failed) == (1, 1, 0)
    assert (received["event"], received["channel"], received["data"]) == ("test:event", channel, {"n": 1})
    assert "gone-connection" not in connections.subscribers(channel)


# ---------------------------------------------------------------- S3-triggered functions: the dead-letter queue
def receive_one(sqs, queue_url: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if messages:
            assert len(messages) == 1, messages
            return messages[0]
    raise AssertionError(f"nothing arrived in {queue_url} within {timeout} s")


def test_an_import_failed_every_time_lands_in_the_dead_letter_queue_and_its_redrive_imports_it(stack):
    # Given the idempotency table refuses the candle import's writes (403-like: not retried)
    idempotency = stack.template.physical_name("IdempotencyTable")
    (fault,) = stack.local.faults.arm(
        Fault("dynamodb", "PutItem", 400, "AccessDeniedException", times=3, target=idempotency)
    )
    # When a candle file is dropped into the imports bucket
    candles = random_candles(1_709_251_200_000, 48, "1h")
    key = "imports/candles/DLQUSDT/1h/two days.csv"
    stack.client("s3").put_object(Bucket=stack.bucket("ImportsBucket"), Key=key, Body=binance_csv(candles, "1h"))
    # Then Lambda's three attempts failed and the event is in the queue, as Lambda's on-failure record
    sqs = stack.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=stack.template.get_att("ImportFailuresQueue", "QueueName"))["QueueUrl"]
    message = receive_one(sqs, queue_url)
    record = json.loads(message["Body"])
    assert fault.answered == 3
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == f"{stack.template.arn('CandleImportFunction')}:$LATEST"
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"]
    assert record["requestPayload"]["Records"][0]["s3"]["object"]["key"] == urllib.parse.quote_plus(key, safe="/")
    assert stack.candle_store().manifest("DLQUSDT", "1h") is None
    # When the operator, the cause fixed, redrives it as the README says: the stored event to the
    # function it failed in, then the message deleted
    stack.local.faults.clear()
    stack.client("lambda").invoke(
        FunctionName=record["requestContext"]["functionArn"],
        InvocationType="Event",
        Payload=json.dumps(record["requestPayload"]).encode(),
    )
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    # Then the file is imported, and the queue is empty
    deadline = time.monotonic() + 30
    while stack.candle_store().manifest("DLQUSDT", "1h") is None:
        assert time.monotonic() < deadline, "the redriven import did not finish"
        time.sleep(0.1)
    assert_same_candles(stack.candles("DLQUSDT", "1h", int(candles.ts[0]), int(candles.ts[-1]) + 1), candles)
    assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages", []) == []
