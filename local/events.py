"""EventBridge for the local stack: the template's `EventBridgeRule` and `Schedule` function events.

Rules and schedules are read from the functions' `Events` in template.yaml; nothing is listed
here. Step Functions' execution status changes are what moto does not emit: the bus polls moto's
executions of the template's state machines and, for each status an execution reaches, puts the
event Step Functions puts on the default bus ("Step Functions Execution Status Change", detail
as in AWS's documentation). Each event goes to the functions whose rule pattern matches it,
asynchronously with Lambda's retries, as EventBridge's Lambda targets get it. Schedules
(`rate(...)`) fire on their rate when started with `run_schedules`; `fire_schedule` delivers a
schedule's event at once (tests do not wait five minutes).
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from local.aws_front import AwsFront
from local.functions import LocalFunction
from local.template import ACCOUNT_ID, REGION, Template

log = logging.getLogger("local.events")

EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Rule:
    function: LocalFunction
    event_name: str
    pattern: dict[str, Any]


@dataclass(frozen=True)
class Schedule:
    function: LocalFunction
    event_name: str
    expression: str

    @property
    def interval_seconds(self) -> int:
        match = _RATE.match(self.expression)
        if not match:
            raise ValueError(f"the local stack runs rate(...) schedules only, not {self.expression!r}")
        return int(match[1]) * _UNIT_SECONDS[match[2].rstrip("s")]


def template_rules(template: Template, functions: Mapping[str, LocalFunction]) -> list[Rule]:
    return [
        Rule(functions[logical_id], name, template.resolve(event["Properties"]["Pattern"]))
        for logical_id, name, event in _function_events(template, "EventBridgeRule")
    ]


def template_schedules(template: Template, functions: Mapping[str, LocalFunction]) -> list[Schedule]:
    return [
        Schedule(functions[logical_id], name, event["Properties"]["Schedule"])
        for logical_id, name, event in _function_events(template, "Schedule")
    ]


def _function_events(template: Template, event_type: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (logical_id, name, event)
        for logical_id, resource in template.of_type("AWS::Serverless::Function").items()
        for name, event in resource["Properties"].get("Events", {}).items()
        if event["Type"] == event_type
    ]


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge's content filter for the forms the template uses: nested objects, and lists
    of the values a field may take (a list-valued field matches if any element does)."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(
            key in event and matches(value, event[key]) for key, value in pattern.items()
        )
    if isinstance(pattern, list):
        if any(isinstance(value, (dict, list)) for value in pattern):
            raise ValueError(f"the local event bus does not support the pattern {pattern!r}")
        values = event if isinstance(event, list) else [event]
        return any(value in pattern for value in values)
    raise ValueError(f"an event pattern's leaves are lists of values, not {pattern!r}")


def _event(source: str, detail_type: str, resources: list[str], detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": resources,
        "detail": detail,
    }


def _epoch_ms(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else None


class LocalEventBridge:
    POLL_SECONDS = 0.3

    def __init__(
        self, template: Template, functions: Mapping[str, LocalFunction], aws: AwsFront, state_machine_arns: list[str]
    ) -> None:
        self.rules = template_rules(template, functions)
        self.schedules = template_schedules(template, functions)
        self._aws = aws
        self._state_machine_arns = state_machine_arns
        self._seen: dict[str, str] = {}  # execution ARN -> the last status an event was put for
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, run_schedules: bool = False, skip_schedules_of: frozenset[str] = frozenset()) -> None:
        self._stepfunctions = boto3.client("stepfunctions", endpoint_url=self._aws.url, region_name=REGION)
        self._spawn(self._poll_executions, "events-stepfunctions")
        if run_schedules:
            for schedule in self.schedules:
                if schedule.function.logical_id not in skip_schedules_of:
                    self._spawn(lambda s=schedule: self._run_schedule(s), f"events-{schedule.event_name}")

    def stop(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def put(self, event: dict[str, Any]) -> int:
        """Deliver `event` to every rule it matches; how many targets it went to."""
        targets = [rule for rule in self.rules if matches(rule.pattern, event)]
        for rule in targets:
            self._aws.invoke_async(rule.function, event)
        return len(targets)

    def fire_schedule(self, event_name: str) -> None:
        """The scheduled event of the schedule named `event_name`, delivered now."""
        schedule = next(s for s in self.schedules if s.event_name == event_name)
        self._aws.invoke_async(schedule.function, self._scheduled_event(schedule))

    def _scheduled_event(self, schedule: Schedule) -> dict[str, Any]:
        rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{schedule.function.name}-{schedule.event_name}"
        return _event("aws.events", "Scheduled Event", [rule_arn], {})

    def _run_schedule(self, schedule: Schedule) -> None:
        while not self._stopped.wait(schedule.interval_seconds):
            self._aws.invoke_async(schedule.function, self._scheduled_event(schedule))

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # ------------------------------------------------------------ Step Functions status changes
    def _poll_executions(self) -> None:
        while not self._stopped.wait(self.POLL_SECONDS):
            try:
                self._put_status_changes()
            except Exception:
                if not self._stopped.is_set():
                    log.exception("polling Step Functions executions failed")

    def _put_status_changes(self) -> None:
        for arn in self._state_machine_arns:
            pages = self._stepfunctions.get_paginator("list_executions").paginate(stateMachineArn=arn)
            for execution in (e for page in pages for e in page["executions"]):
                if self._seen.get(execution["executionArn"]) == execution["status"]:
                    continue
                self._seen[execution["executionArn"]] = execution["status"]
                described = self._stepfunctions.describe_execution(executionArn=execution["executionArn"])
                self.put(
                    _event(
                        "aws.states",
                        EXECUTION_STATUS_CHANGE,
                        [execution["executionArn"]],
                        {
                            "executionArn": described["executionArn"],
                            "stateMachineArn": arn,
                            "name": described["name"],
                            "status": described["status"],
                            "startDate": _epoch_ms(described.get("startDate")),
                            "stopDate": _epoch_ms(described.get("stopDate")),
                            "input": described.get("input"),
                            "output": described.get("output"),
                            "error": described.get("error"),
                            "cause": described.get("cause"),
                        },
                    )
                )
