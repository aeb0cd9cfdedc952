"""Runs never hang, on the local stack: the template's EventBridge rule on Step Functions execution
status changes and its scheduled sweep, delivered by the local event bus (local/events.py) the
way EventBridge delivers them, fail the runs their state machine could not mark itself.

Workflow steps are held or broken through the workflow module's step table (`STEPS` of
functions/workflow/app.py, the module the stack loaded).
"""

from __future__ import annotations

import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from tests.fanout.stack import HOUR_MS, Stack, random_walk, start_stack

pytestmark = pytest.mark.stack

SYMBOL = "WDOGUSDT"
STRATEGY = {
    "entry_rules": {
        "operator": "and",
        "conditions": [
            {
                "indicator": "sma",
                "params": {"period": 5},
                "comparator": "crosses_above",
                "value": {"indicator": "sma", "params": {"period": 20}},
            }
        ],
    },
    "exit_rules": {"operator": "or", "conditions": []},
}
RANGE = {"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-02-01T00:00:00Z"}


@pytest.fixture(scope="module")
def stack(moto_server):
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).read()
    local, stack = start_stack()
    try:
        stack.import_candles(SYMBOL, "1h", random_walk(11, 1000, HOUR_MS))
        yield stack
    finally:
        local.stop()
        urllib.request.urlopen(reset).read()


@pytest.fixture
def steps(stack, monkeypatch):
    """The workflow function's step table, patchable per test."""
    module = sys.modules[stack.local.functions["WorkflowFunction"].handler().__module__]
    return lambda name, step: monkeypatch.setitem(module.STEPS, name, step)


def _backtest(stack: Stack):
    user = stack.sign_up()
    strategy = stack.create_strategy(user, STRATEGY)
    return user, stack.create_backtest(
        user, strategy["id"], symbol=SYMBOL, timeframe="1h", initial_balance=1000, **RANGE
    )


def _wait(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("not within the timeout")


def test_the_bus_reads_the_rule_and_the_schedule_from_the_template(stack):
    events = stack.local.events
    rules = {(rule.function.logical_id, rule.event_name): rule.pattern for rule in events.rules}
    pattern = rules[("RunWatchdogFunction", "ExecutionEnded")]
    assert pattern["detail"]["status"] == ["FAILED", "TIMED_OUT", "ABORTED"]
    assert pattern["detail"]["stateMachineArn"] == [
        stack.template.arn("BacktestStateMachine"),
        stack.template.arn("OptimizationStateMachine"),
    ]
    schedules = {(s.function.logical_id, s.event_name): s.interval_seconds for s in events.schedules}
    assert schedules[("RunWatchdogFunction", "StuckRunSweep")] == 300


def test_an_execution_stopped_from_outside_fails_its_backtest_with_the_reason(stack, steps):
    # Given a backtest whose execution is held in Prepare
    entered, release = threading.Event(), threading.Event()
    module = sys.modules[stack.local.functions["WorkflowFunction"].handler().__module__]
    real = module.STEPS["prepare"]

    def held(event):
        entered.set()
        release.wait(30)
        return real(event)

    steps("prepare", held)
    user, created = _backtest(stack)
    assert entered.wait(30)
    # When someone stops the execution (not the API's cancel: the console, a script)
    sfn = stack.client("stepfunctions")
    sfn.stop_execution(executionArn=stack.execution(created["id"])["executionArn"])
    release.set()
    # Then the ABORTED status change reaches the watchdog, which fails the backtest with the reason
    backtest = stack.wait_for_backtest(user, created["id"])
    assert stack.execution(created["id"])["status"] == "ABORTED"
    assert backtest["status"] == "failed"
    assert backtest["error"] == "the backtest's execution was stopped before it finished"


def test_an_execution_failing_where_no_catch_applies_fails_its_backtest(stack, steps):
    # Given Prepare fails on a bug and so does the step that would mark the backtest failed
    def broken(event):
        raise RuntimeError("boom")

    steps("prepare", broken)
    steps("fail", broken)
    user, created = _backtest(stack)
    # Then the execution ends FAILED with the backtest still pending, and the watchdog fails it
    backtest = stack.wait_for_backtest(user, created["id"])
    assert stack.wait_for_execution(created["id"])["status"] == "FAILED"
    assert backtest["status"] == "failed"
    assert backtest["error"] == (
        "the backtest failed on an internal error (BacktestFailed); the execution's logs have the details"
    )


def test_a_cancelled_backtest_stays_cancelled_when_its_aborted_execution_is_reported(stack, steps):
    entered, release = threading.Event(), threading.Event()
    module = sys.modules[stack.local.functions["WorkflowFunction"].handler().__module__]
    real = module.STEPS["prepare"]
    steps("prepare", lambda event: (entered.set(), release.wait(30), real(event))[2])
    user, created = _backtest(stack)
    assert entered.wait(30)
    status, _ = stack.request("POST", f"/backtests/{created['id']}/cancel", user.token)
    release.set()
    assert status == 200
    _wait(lambda: stack.execution(created["id"])["status"] != "RUNNING")
    time.sleep(2 * stack.local.events.POLL_SECONDS + 1)  # the status change delivered and handled
    assert stack.wait_for_backtest(user, created["id"])["status"] == "cancelled"


def test_the_sweep_fails_runs_without_progress_past_the_timeout_and_leaves_the_others(stack, steps):
    # Given two backtests held in Prepare, one of them last updated 61 minutes ago
    release = threading.Event()
    module = sys.modules[stack.local.functions["WorkflowFunction"].handler().__module__]
    real = module.STEPS["prepare"]
    steps("prepare", lambda event: (release.wait(60), real(event))[1])
    user, stuck = _backtest(stack)
    other, fresh = _backtest(stack)
    long_ago = (datetime.now(UTC) - timedelta(minutes=61)).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    stack.client("dynamodb").update_item(
        TableName=stack.template.physical_name("BacktestsTable"),
        Key={"id": {"S": stuck["id"]}},
        UpdateExpression="SET updated_at = :t",
        ExpressionAttributeValues={":t": {"S": long_ago}},
    )
    # When the template's schedule fires
    stack.local.events.fire_schedule("StuckRunSweep")
    # Then the stuck one is failed with the reason, the fresh one untouched...
    _wait(lambda: stack.request("GET", f"/backtests/{stuck['id']}", user.token)[1]["status"] == "failed")
    failed = stack.request("GET", f"/backtests/{stuck['id']}", user.token)[1]
    assert failed["error"] == "no progress for 60 minutes: the run was given up"
    # ...and once released, the stuck one's execution ends without completing it
    release.set()
    assert stack.wait_for_execution(stuck["id"])["status"] != "RUNNING"
    assert stack.wait_for_backtest(user, stuck["id"])["status"] == "failed"
    assert stack.wait_for_backtest(other, fresh["id"])["status"] == "completed"
