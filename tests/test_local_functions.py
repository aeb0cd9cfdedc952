"""The local Lambda runtime: functions in process environments behave as Lambda's do (results,
errors by name, timeouts that stop the environment, warm reuse, one invocation per environment)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from local.aws_front import AwsFront
from local.functions import LocalFunction
from local.lambda_runtime import FunctionTimedOut, HandlerFailed

PROBE = Path(__file__).parent / "lambdas" / "probe"


@pytest.fixture
def function(monkeypatch):
    monkeypatch.setenv("PROBE_VARIABLE", "from the stack")
    made = LocalFunction(
        logical_id="ProbeFunction",
        name="probe",
        arn="arn:aws:lambda:us-east-1:123456789012:function:probe",
        code_dir=PROBE,
        handler_path="app.handler",
        memory_mb=128,
        timeout_s=5,
        concurrency=2,
        isolation="process",
    )
    yield made
    made.shutdown()


def test_an_invocation_runs_in_another_process_and_reuses_its_environment_when_warm(function):
    first = function.invoke({"echo": [1, {"a": 2.5}], "variable": "PROBE_VARIABLE"})
    second = function.invoke({"echo": "again"})
    assert first["pid"] != os.getpid() and first["pid"] == second["pid"]
    assert first["loaded_at"] == second["loaded_at"]  # imported once: the second was a warm start
    assert first["echo"] == [1, {"a": 2.5}] and second["echo"] == "again"
    assert first["variable"] == "from the stack"  # the stack's environment variables
    assert first["function_name"] == "probe" and 0 < first["remaining_ms"] <= 5000


def test_environments_run_at_once_up_to_the_functions_concurrency(function):
    answers: list[dict] = []
    calls = [threading.Thread(target=lambda: answers.append(function.invoke({"sleep": 0.5}))) for _ in range(3)]
    for call in calls:
        call.start()
    for call in calls:
        call.join()
    assert len(answers) == 3
    assert len({answer["pid"] for answer in answers}) == 2  # concurrency 2: the third waited for a free one


def test_a_handler_error_reaches_the_caller_by_its_name_and_the_environment_stays(function):
    warm = function.invoke({})["pid"]
    with pytest.raises(HandlerFailed) as failed:
        function.invoke({"fail": "no candles"})
    assert failed.value.error["errorType"] == "ProbeError"
    assert failed.value.error["errorMessage"] == "no candles"
    assert any("ProbeError" in line for line in failed.value.error["stackTrace"])
    assert function.invoke({})["pid"] == warm


def test_an_invocation_past_the_timeout_stops_its_environment_and_the_next_starts_a_new_one(function):
    function.timeout_s = 1
    warm = function.invoke({})["pid"]
    with pytest.raises(FunctionTimedOut, match=r"Task timed out after 1\.00 seconds"):
        function.invoke({"sleep": 3})
    assert warm not in function.pids  # killed, as Lambda stops it: nothing runs on
    assert function.invoke({})["pid"] != warm


def test_a_handler_that_exits_is_a_runtime_exit_error_and_is_replaced(function):
    warm = function.invoke({})["pid"]
    with pytest.raises(HandlerFailed) as failed:
        function.invoke({"exit": 3})
    assert failed.value.error == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "Runtime exited with error: exit status 3",
    }
    assert function.invoke({})["pid"] != warm


def test_the_invoke_api_reports_a_process_environments_error_as_lambda_does(function):
    front = AwsFront("http://127.0.0.1:1", {"ProbeFunction": function}, "us-east-1")
    front.start()
    try:
        result, error = front.invoke(function, {"fail": "bad event"})
        assert error == "Unhandled"
        assert result["errorType"] == "ProbeError" and result["errorMessage"] == "bad event"
        function.timeout_s = 1
        result, error = front.invoke(function, {"sleep": 2})
        assert (error, result["errorType"]) == ("Unhandled", "Sandbox.Timedout")
    finally:
        front.stop()


def test_a_process_functions_module_cannot_be_patched_from_here(function):
    with pytest.raises(RuntimeError, match="processes of its own"):
        function.handler()
