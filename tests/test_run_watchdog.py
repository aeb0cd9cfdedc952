"""The run watchdog's decisions (shared.run_watchdog) and the local bus's pattern matching."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from local.events import matches
from shared.run_watchdog import RunWatchdog, execution_error, run_of
from shared.step_failures import failure_message

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


class Runs:
    """A workflow's `fail` and a repository's `stale`, recorded."""

    def __init__(self, stale: list[str] = (), active: set[str] = frozenset()) -> None:
        self._stale, self.active, self.failed = list(stale), set(active), []
        self.asked_before: datetime | None = None

    def fail(self, run_id: str, error: str, cause: str) -> dict:
        if run_id not in self.active:
            return {"status": "unchanged"}
        self.active.discard(run_id)
        self.failed.append((run_id, error, cause))
        return {"status": "failed"}

    def stale(self, before: datetime) -> list[str]:
        self.asked_before = before
        return self._stale


def _watchdog(backtests: Runs, optimizations: Runs) -> RunWatchdog:
    return RunWatchdog(
        {"backtest_id": backtests, "optimization_id": optimizations},
        {"backtest_id": backtests, "optimization_id": optimizations},
        timedelta(minutes=60),
        clock=lambda: NOW,
    )


@pytest.mark.parametrize(
    "status, error, expected",
    [
        ("ABORTED", None, "States.Aborted"),
        ("TIMED_OUT", None, "States.Timeout"),
        ("FAILED", "BacktestFailed", "BacktestFailed"),
        ("FAILED", None, "States.Runtime"),
    ],
)
def test_each_failing_status_names_its_error(status, error, expected):
    assert execution_error(status, error, None) == (expected, "")


def test_the_run_is_found_by_the_key_its_execution_input_names():
    assert run_of(json.dumps({"backtest_id": "b1"})) == ("backtest_id", "b1")
    assert run_of(json.dumps({"optimization_id": "o1", "round": 2})) == ("optimization_id", "o1")
    assert run_of("not json") is None and run_of(json.dumps([1])) is None and run_of(None) is None


def test_an_ended_execution_fails_the_run_of_its_kind_and_ignores_the_rest():
    backtests, optimizations = Runs(active={"b1"}), Runs(active={"o1"})
    watchdog = _watchdog(backtests, optimizations)
    timed_out = {"status": "TIMED_OUT", "input": json.dumps({"optimization_id": "o1"})}
    assert watchdog.execution_ended(timed_out) == {"optimization_id": "o1", "status": "failed"}
    assert optimizations.failed == [("o1", "States.Timeout", "")] and backtests.failed == []
    assert watchdog.execution_ended({"status": "SUCCEEDED", "input": json.dumps({"backtest_id": "b1"})}) == {
        "status": "ignored"
    }
    assert watchdog.execution_ended({"status": "FAILED", "input": json.dumps({"other": 1})}) == {"status": "ignored"}
    # A run that finished meanwhile stays as it is
    assert (
        watchdog.execution_ended({"status": "ABORTED", "input": json.dumps({"backtest_id": "gone"})})["status"]
        == "unchanged"
    )


def test_the_sweep_fails_what_has_not_moved_for_the_timeout_with_a_readable_reason():
    backtests, optimizations = Runs(stale=["b1", "b2"], active={"b1"}), Runs(stale=["o1"], active={"o1"})
    assert _watchdog(backtests, optimizations).sweep() == {"backtest_id": ["b1"], "optimization_id": ["o1"]}
    assert backtests.asked_before == NOW - timedelta(minutes=60)
    ((_, error, cause),) = backtests.failed
    assert failure_message(error, cause) == "no progress for 60 minutes: the run was given up"


def test_aborted_and_timed_out_read_as_such():
    stopped = failure_message("States.Aborted", "", "optimization")
    assert stopped == "the optimization's execution was stopped before it finished"
    assert failure_message("States.Timeout", "") == "a step of the backtest timed out"


def test_event_patterns_match_as_eventbridge_content_filters():
    pattern = {"source": ["aws.states"], "detail": {"status": ["FAILED", "ABORTED"]}}
    assert matches(pattern, {"source": "aws.states", "detail": {"status": "ABORTED", "x": 1}})
    assert not matches(pattern, {"source": "aws.states", "detail": {"status": "SUCCEEDED"}})
    assert not matches(pattern, {"source": "aws.states"})
    assert matches({"resources": ["a"]}, {"resources": ["b", "a"]})
    with pytest.raises(ValueError, match="does not support the pattern"):
        matches({"source": [{"prefix": "aws."}]}, {"source": "aws.states"})
