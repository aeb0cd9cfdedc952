"""Backtest batches end to end on the local stack: a file dropped under imports/batches/ in the
imports bucket reaches the batch function through the bucket's S3 notification (as the template
declares it); its valid entries become backtests that run to completion on the state machine, its
invalid ones are reported in the status object; the same S3 event delivered again starts nothing."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from local.aws_front import _s3_event
from tests.fanout.stack import HOUR_MS, Stack, random_walk
from tests.fanout.strategies import sma_cross

pytestmark = pytest.mark.stack

SYMBOL = "BATCHUSDT"
STRATEGY = sma_cross(10, 30, take_profit=3)


@pytest.fixture(scope="module")
def stack_candles() -> dict:
    return {(SYMBOL, "1h"): random_walk(5, 1500, HOUR_MS)}


def entry(strategy_id: str, **overrides) -> dict:
    return {
        "strategy_id": strategy_id,
        "symbol": SYMBOL,
        "timeframe": "1h",
        "start_time": "2024-01-01T00:00:00Z",
        "end_time": "2024-02-15T00:00:00Z",
        "initial_balance": 10_000,
        **overrides,
    }


def wait_for_status(stack: Stack, key: str, timeout: float = 30.0) -> dict:
    s3 = stack.client("s3")
    deadline = time.monotonic() + timeout
    while True:
        try:
            return json.loads(s3.get_object(Bucket=stack.bucket("ImportsBucket"), Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            assert time.monotonic() < deadline, f"no {key}"
            time.sleep(0.1)


def executions(stack: Stack) -> int:
    listed = stack.client("stepfunctions").list_executions(stateMachineArn=stack.template.arn("BacktestStateMachine"))
    return len(listed["executions"])


def test_a_batch_file_starts_its_valid_backtests_and_reports_the_others(stack):
    # Given a user with a strategy, and a batch of 4 entries: 2 valid, 2 not
    user = stack.sign_up()
    strategy = stack.create_strategy(user, STRATEGY)
    batch = {
        "owner": user.email.upper(),
        "backtests": [
            entry(strategy["id"]),
            entry(strategy["id"], initial_balance=-5),
            entry(strategy["id"], metadata={"chunks": 3, "commission": 0.05}),
            entry("00000000-0000-4000-8000-000000000000"),
        ],
    }
    before = executions(stack)
    # When the file is dropped into the imports bucket
    key = "imports/batches/january.json"
    stack.client("s3").put_object(Bucket=stack.bucket("ImportsBucket"), Key=key, Body=json.dumps(batch).encode())
    status = wait_for_status(stack, "imports/batch-status/january.json")
    # Then the status names each entry's fate, invalid ones field by field
    assert (status["status"], status["owner_id"], status["started"], status["invalid"]) == ("done", user.id, 2, 2)
    started, negative, chunked, unknown = status["entries"]
    assert started["status"] == chunked["status"] == "started"
    assert negative["status"] == "invalid"
    assert negative["details"] == [
        {
            "field": "backtests[1].initial_balance",  # what the API answers for the same body
            "message": "Input should be greater than or equal to 0.01",
        }
    ]
    assert (unknown["status"], unknown["error"]) == ("invalid", "strategy not found")
    # And the valid ones are the owner's backtests, run to completion by the state machine
    for started_entry in (started, chunked):
        backtest = stack.wait_for_backtest(user, started_entry["backtest_id"])
        assert backtest["status"] == "completed" and backtest["performance_summary"]["total_trades"] > 0
    _, listing = stack.request("GET", "/backtests", user.token)
    assert sorted(b["id"] for b in listing["data"]) == sorted([started["backtest_id"], chunked["backtest_id"]])
    assert executions(stack) == before + 2

    # When the same S3 event is delivered again (as S3 may), then nothing starts twice: the
    # function's idempotency answers from its record...
    function = stack.local.functions["BatchImportFunction"]
    event = _s3_event(
        "us-east-1",
        "BatchImportFunctionBatchDropped",
        stack.bucket("ImportsBucket"),
        key,
        "ObjectCreated:Put",
        1,
        "etag",
    )
    event["Records"][0]["s3"]["object"]["sequencer"] = status["sequencer"]
    function.invoke(event)
    # ...and even with that record gone (a retry after a crash), the entries' ids derive from the
    # event, so the backtests already created are found, not created again
    dynamodb = stack.client("dynamodb")
    table = stack.template.physical_name("IdempotencyTable")
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.delete_item(TableName=table, Key={"id": item["id"]})
    answer = function.invoke(event)
    assert answer == [{"batch": key, "status": "done", "started": 2, "invalid": 2}]
    assert executions(stack) == before + 2
    _, listing = stack.request("GET", "/backtests", user.token)
    assert len(listing["data"]) == 2


def test_a_batch_for_an_unknown_owner_or_not_json_is_reported_whole(stack):
    s3 = stack.client("s3")
    s3.put_object(
        Bucket=stack.bucket("ImportsBucket"),
        Key="imports/batches/nobody.json",
        Body=json.dumps({"owner": "nobody@example.com", "backtests": [{}]}).encode(),
    )
    s3.put_object(Bucket=stack.bucket("ImportsBucket"), Key="imports/batches/broken.json", Body=b'{"owner": ')
    nobody = wait_for_status(stack, "imports/batch-status/nobody.json")
    broken = wait_for_status(stack, "imports/batch-status/broken.json")
    assert (nobody["status"], nobody["details"]) == (
        "invalid",
        [{"field": "owner", "message": "must be the email of an account"}],
    )
    assert (broken["status"], broken["details"][0]["field"]) == ("invalid", "file")


def test_the_status_object_itself_triggers_nothing(stack):
    # The status objects sit outside imports/batches/, so no notification matches them
    configs = boto3.client("s3", endpoint_url=stack.local.aws.url).get_bucket_notification_configuration(
        Bucket=stack.bucket("ImportsBucket")
    )["LambdaFunctionConfigurations"]
    prefixes = [rule["Value"] for config in configs for rule in config["Filter"]["Key"]["FilterRules"]]
    assert "imports/batches/" in prefixes
    assert not any("imports/batch-status/".startswith(prefix) for prefix in prefixes)
