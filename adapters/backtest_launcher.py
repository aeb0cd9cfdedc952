"""Starts and stops backtest executions of the state machine (Step Functions).

The execution is named after the backtest, so starting the same backtest twice never runs it
twice: Step Functions answers a repeated StartExecution of a running execution with that
execution, and a finished one with ExecutionAlreadyExists, which is treated the same way.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


def execution_arn(state_machine_arn: str, execution_name: str) -> str:
    """arn:...:stateMachine:<machine> -> arn:...:execution:<machine>:<name>."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{execution_name}"


class StepFunctionsLauncher:
    """`input_key` names the id in the execution's input: "backtest_id" for the backtest state
    machine, "optimization_id" for the optimization one."""

    def __init__(self, client: Any, state_machine_arn: str, input_key: str = "backtest_id") -> None:
        self._client = client
        self._state_machine_arn = state_machine_arn
        self._input_key = input_key

    def start(self, backtest_id: str) -> str:
        try:
            response = self._client.start_execution(
                stateMachineArn=self._state_machine_arn,
                name=backtest_id,
                input=json.dumps({self._input_key: backtest_id}),
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            return execution_arn(self._state_machine_arn, backtest_id)
        return response["executionArn"]

    def stop(self, execution_arn: str, cause: str) -> None:
        try:
            self._client.stop_execution(executionArn=execution_arn, cause=cause)
        except ClientError as error:
            # Already finished (or never started): there is nothing left to stop.
            if error.response.get("Error", {}).get("Code") not in ("ExecutionDoesNotExist", "ExecutionNotRunning"):
                raise
