"""The run watchdog (shared.run_watchdog): Step Functions execution status changes from the
template's EventBridge rule, and the scheduled sweep of runs stuck without progress."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger

from adapters.workflow import run_watchdog_from_env
from shared.run_watchdog import RunWatchdog

logger = Logger()


@functools.cache
def watchdog() -> RunWatchdog:
    return run_watchdog_from_env()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("source") == "aws.states":
        outcome: dict[str, Any] = watchdog().execution_ended(event["detail"])
    elif event.get("detail-type") == "Scheduled Event":
        outcome = watchdog().sweep()
    else:
        raise ValueError(f"not an execution status change nor a scheduled event: {event.get('detail-type')!r}")
    logger.info("run watchdog", extra={"outcome": outcome})
    return outcome
