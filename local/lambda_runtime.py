"""What a Lambda execution environment is, locally: its context object, its errors, and
environments that run in a process of their own.

The Map workers of the state machines (a backtest's chunks, an optimization's batches) are
CPU-bound: as threads of the local stack's process they would share one GIL with each other and
with moto, so a fan-out would run no faster than one batch after another. On AWS each of them
is an execution environment of its own; `ProcessEnvironment` is one here: a child process that
imports the handler once (its init phase: a cold start) and then serves invocations one at a
time (warm starts), as the Lambda runtime does.

Parent and child talk over a pipe (`multiprocessing.connection`, pickled tuples), so the
handler's own stdout and stderr stay its log, as in CloudWatch. An invocation that runs past
the function's timeout ends as on Lambda: the environment is stopped (here: killed) and the
caller gets `FunctionTimedOut`; a handler that exits the process is reported as Lambda's
`Runtime.ExitError`; either way the next invocation starts a fresh environment.

    python -m local.lambda_runtime <fd> <code_dir> <module.function> <module name>

is the child's side (started by `ProcessEnvironment`, never by hand).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess  # nosec B404 - starts this same interpreter on this module
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import Any

from local.template import ROOT

_READY, _RESULT, _ERROR = "ready", "result", "error"


class FunctionTimedOut(Exception):
    """The invocation ran past the function's timeout."""

    ERROR_TYPE = "Sandbox.Timedout"

    def __init__(self, request_id: str, timeout_s: float) -> None:
        super().__init__(f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds")


class HandlerFailed(Exception):
    """A handler's error as Lambda's runtime reported it (`errorType`, `errorMessage`,
    `stackTrace`): how an environment in another process hands its exception back."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("errorMessage", ""))
        self.error = error


@dataclass
class LambdaContext:
    """The attributes Powertools and handlers read from Lambda's context object."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self.start()
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def start(self) -> None:
        """The invocation's clock starts now."""
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(code_dir: Path, handler_path: str, module_name: str) -> Callable[[Any, Any], Any]:
    """The handler as Lambda finds it: `CodeUri` on sys.path, `Handler` = module.function."""
    module_file, _, attribute = handler_path.rpartition(".")
    path = code_dir / (module_file.replace(".", "/") + ".py")
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load handler module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    handler: Callable[[Any, Any], Any] = getattr(module, attribute)
    return handler


class ProcessEnvironment:
    """One execution environment of a function: a child process with its handler imported."""

    def __init__(self, code_dir: Path, handler_path: str, module_name: str) -> None:
        ours, theirs = Pipe()
        self._process = subprocess.Popen(  # nosec B603 - our interpreter, our module, our arguments
            [
                sys.executable,
                "-m",
                "local.lambda_runtime",
                str(theirs.fileno()),
                str(code_dir),
                handler_path,
                module_name,
            ],
            pass_fds=(theirs.fileno(),),
            cwd=ROOT,
            env=dict(os.environ),  # the stack's variables, as they are when the environment starts
        )
        theirs.close()
        self._connection = ours
        kind, payload = self._receive()  # the init phase: not part of any invocation's time
        if kind != _READY:
            self.close()
            raise HandlerFailed(payload)

    @property
    def pid(self) -> int:
        return self._process.pid

    def invoke(self, event: Any, context: LambdaContext) -> Any:
        """The handler's result; HandlerFailed as Lambda reports a handler's error. After
        FunctionTimedOut or a Runtime.ExitError the environment is gone (`alive` is False)."""
        self._connection.send((event, _context_fields(context)))
        if not self._connection.poll(max(0.0, context.get_remaining_time_in_millis() / 1000)):
            self.close()
            raise FunctionTimedOut(context.aws_request_id, context.timeout_seconds)
        kind, payload = self._receive()
        if kind == _ERROR:
            raise HandlerFailed(payload)
        return payload

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        """Stop the environment (Lambda does not wait for a timed-out handler either)."""
        self._connection.close()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()

    def _receive(self) -> tuple[str, Any]:
        try:
            answer: tuple[str, Any] = self._connection.recv()
            return answer
        except (EOFError, ConnectionResetError):
            code = self._process.wait()
            return _ERROR, {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Runtime exited with error: exit status {code}",
            }


def _context_fields(context: LambdaContext) -> dict[str, Any]:
    return {
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "timeout_seconds": context.timeout_seconds,
        "invoked_function_arn": context.invoked_function_arn,
        "aws_request_id": context.aws_request_id,
    }


def handler_error(exc: BaseException) -> dict[str, Any]:
    """A handler's exception in the shape Lambda's runtime reports it."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_exception(exc)[-5:],
    }


def serve(connection: Connection, code_dir: Path, handler_path: str, module_name: str) -> None:
    """The child: import the handler, then answer invocations until the parent closes the pipe."""
    try:
        handler = load_handler(code_dir, handler_path, module_name)
    except Exception as exc:  # noqa: BLE001 - Lambda's Runtime.ImportModuleError: the init phase failed
        connection.send((_ERROR, handler_error(exc) | {"errorType": "Runtime.ImportModuleError"}))
        return
    connection.send((_READY, None))
    while True:
        try:
            event, fields = connection.recv()
        except EOFError:
            return
        try:
            answer = (_RESULT, handler(event, LambdaContext(**fields)))
        except Exception as exc:  # noqa: BLE001 - an unhandled handler error is the invocation's result
            answer = (_ERROR, handler_error(exc))
        connection.send(answer)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on `make dev` stops the stack, which stops its environments
    fd, code, handler_spec, name = sys.argv[1:]
    serve(Connection(int(fd)), Path(code), handler_spec, name)
