"""The heavy engine work of the state machines.

`handler`: one chunk of a backtest (a Map item of statemachine/backtest.asl.json:
{"backtest_id", "chunk"}). The chunk's candles come from the pinned series in the run's plan; its
result goes to partials/<backtest_id>/chunks/ in the results bucket; the answer is a small pointer.

`evaluate_batch`: one batch of an optimization's combinations (an item of the distributed Map of
statemachine/optimization.asl.json: {"optimization_id", "batch"}), every combination over the
whole range with one shared indicator cache; results to the results bucket.

Test hook: a test whose local stack runs this module in-process (its `in_process_functions`)
injects chunk failures by monkeypatching `compute_chunk_step` on the loaded module; nothing in
an event can trigger one.
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger

from adapters.workflow import backtest_workflow_from_env, optimization_workflow_from_env, step_errors

logger = Logger()


# Made once per execution environment, by the first event that needs them.
backtests = functools.cache(backtest_workflow_from_env)
optimizations = functools.cache(optimization_workflow_from_env)


def compute_chunk_step(backtest_id: str, chunk: int) -> dict[str, Any]:
    return backtests().compute(backtest_id, chunk)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    logger.append_keys(backtest_id=event["backtest_id"], chunk=event["chunk"])
    with step_errors():
        result = compute_chunk_step(event["backtest_id"], int(event["chunk"]))
    logger.info("chunk computed", extra=result)
    return result


@logger.inject_lambda_context(clear_state=True)
def evaluate_batch(event: dict[str, Any], context: object) -> dict[str, Any]:
    logger.append_keys(optimization_id=event["optimization_id"], batch=event["batch"])
    with step_errors():
        result = optimizations().evaluate(event["optimization_id"], int(event["batch"]))
    logger.info("batch evaluated", extra=result)
    return result
