"""Runs never hang: whatever ends a Step Functions execution, or stalls it, ends its run.

The state machines mark their own failures (their Catch -> MarkFailed steps). What they cannot
mark is their own end: an execution stopped from outside (ABORTED), over its time limit
(TIMED_OUT), or failed where no Catch applies (FAILED, e.g. the failing step failing too). An
EventBridge rule on Step Functions' execution status changes hands those to `execution_ended`,
which fails the execution's run with the reason. A run stuck `pending` or `running` without any
update for the template's timeout (an event lost, an execution never started) is failed by the
scheduled `sweep`. Both go through the workflows' own `fail`: one conditional transition, so a
run that completed, failed or was cancelled meanwhile stays as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.statuses import FAILED
from shared.times import utc_now

FAILURE_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
ABORTED_ERROR = "States.Aborted"
TIMEOUT_ERROR = "States.Timeout"
STUCK_ERROR = "RunStuck"
# Which run an execution is doing: the key its input names the run by (StepFunctionsLauncher).
_RUN_KEYS = ("backtest_id", "optimization_id")


class RunFailing(Protocol):
    def fail(self, run_id: str, error: str, cause: str) -> dict[str, Any]:
        """pending/running -> failed with a readable message; {"status": "unchanged"} otherwise."""


class StaleRuns(Protocol):
    def stale(self, before: datetime) -> list[str]:
        """Ids of the runs pending or running whose last update is before `before`."""


def execution_error(status: str, error: str | None, cause: str | None) -> tuple[str, str]:
    """Step Functions' (Error, Cause) for an execution that ended in `status`."""
    if status == "ABORTED":
        return ABORTED_ERROR, cause or ""
    if status == "TIMED_OUT":
        return TIMEOUT_ERROR, cause or ""
    return error or "States.Runtime", cause or ""


def run_of(execution_input: str | None) -> tuple[str, str] | None:
    """(key, run id) of the run an execution was started for, from its input; None for others."""
    try:
        document = json.loads(execution_input or "")
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    return next(((key, document[key]) for key in _RUN_KEYS if isinstance(document.get(key), str)), None)


@dataclass
class RunWatchdog:
    failing: Mapping[str, RunFailing]  # by run key: "backtest_id" -> the backtest workflow, ...
    stale_runs: Mapping[str, StaleRuns]
    timeout: timedelta
    clock: Callable[[], datetime] = utc_now

    def execution_ended(self, detail: Mapping[str, Any]) -> dict[str, Any]:
        """An execution status change (the EventBridge event's `detail`)."""
        status = str(detail.get("status"))
        run = run_of(detail.get("input"))
        if status not in FAILURE_STATUSES or run is None:
            return {"status": "ignored"}
        key, run_id = run
        error, cause = execution_error(status, detail.get("error"), detail.get("cause"))
        return {key: run_id, **self.failing[key].fail(run_id, error, cause)}

    def sweep(self) -> dict[str, list[str]]:
        """Fail every run without an update for `timeout`; the ids failed, by run key."""
        minutes = round(self.timeout.total_seconds() / 60)
        cause = json.dumps({"errorMessage": f"no progress for {minutes} minutes: the run was given up"})
        cutoff = self.clock() - self.timeout
        return {
            key: [
                run_id
                for run_id in runs.stale(cutoff)
                if self.failing[key].fail(run_id, STUCK_ERROR, cause)["status"] == FAILED
            ]
            for key, runs in self.stale_runs.items()
        }
