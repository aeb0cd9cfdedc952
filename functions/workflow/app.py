"""The orchestration steps of the state machines (statemachine/backtest.asl.json and
statemachine/optimization.asl.json).

One function, one handler per step, picked by the event's `step`: the steps are short glue with
the same dependencies and permissions, and sharing one function keeps a run's steps on warm
environments (a cold start per step would cost more than the steps). Each step has its own
Retry and Catch in the state machines.

Events: {"step": "prepare" | "stitch" | "persist" | "notify", "backtest_id": ...},
{"step": "prepare_optimization" | "finish_optimization", "optimization_id": ...},
{"step": "tell_optimization", "optimization_id": ..., "round": <the round the Map just ran>}, and the failing
steps {"step": "fail" | "fail_optimization", <id>, "error": <Step Functions error>, "cause": <its cause>}.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from adapters.workflow import backtest_workflow_from_env, optimization_workflow_from_env, step_errors

logger = Logger()


# Made once per execution environment, by the first event that needs them.
backtests = functools.cache(backtest_workflow_from_env)
optimizations = functools.cache(optimization_workflow_from_env)


def prepare(event: dict[str, Any]) -> dict[str, Any]:
    return backtests().prepare(event["backtest_id"])


def stitch(event: dict[str, Any]) -> dict[str, Any]:
    return backtests().stitch(event["backtest_id"])


def persist(event: dict[str, Any]) -> dict[str, Any]:
    return backtests().persist(event["backtest_id"])


def notify(event: dict[str, Any]) -> dict[str, Any]:
    return backtests().notify(event["backtest_id"])


def fail(event: dict[str, Any]) -> dict[str, Any]:
    return backtests().fail(event["backtest_id"], event["error"], event.get("cause") or "")


def prepare_optimization(event: dict[str, Any]) -> dict[str, Any]:
    return optimizations().prepare(event["optimization_id"])


def tell_optimization(event: dict[str, Any]) -> dict[str, Any]:
    return optimizations().tell(event["optimization_id"], int(event["round"]))


def finish_optimization(event: dict[str, Any]) -> dict[str, Any]:
    return optimizations().finish(event["optimization_id"])


def fail_optimization(event: dict[str, Any]) -> dict[str, Any]:
    return optimizations().fail(event["optimization_id"], event["error"], event.get("cause") or "")


STEPS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "prepare": prepare,
    "stitch": stitch,
    "persist": persist,
    "notify": notify,
    "fail": fail,
    "prepare_optimization": prepare_optimization,
    "tell_optimization": tell_optimization,
    "finish_optimization": finish_optimization,
    "fail_optimization": fail_optimization,
}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    step = STEPS.get(event.get("step", ""))
    if step is None:
        raise ValueError(f"unknown step {event.get('step')!r}; expected one of {', '.join(STEPS)}")
    logger.append_keys(
        step=event["step"], backtest_id=event.get("backtest_id"), optimization_id=event.get("optimization_id")
    )
    with step_errors():
        result = step(event)
    logger.info("step done", extra={"result": result})  # a result's "message" must not clash with the log's
    return result
