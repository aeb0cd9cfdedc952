"""The template's Lambda functions, loaded from their CodeUri and invoked in-process.

Each function's handler module is imported from its folder exactly as Lambda would find it
(`CodeUri` on sys.path, `Handler` = module.function), under a unique module name so that every
function's `app.py` can coexist in one process. Invocations get a LambdaContext-shaped object.

An invocation that runs past the function's `Timeout` ends as Lambda ends it: the caller gets
`FunctionTimedOut` (reported as `Sandbox.Timedout`). A thread cannot be killed, so the handler
keeps its execution environment until it returns; what it does after its deadline, a real
Lambda would not have done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.template import ROOT, Template


class FunctionTimedOut(Exception):
    """The invocation ran past the function's timeout."""

    ERROR_TYPE = "Sandbox.Timedout"

    def __init__(self, request_id: str, timeout_s: float) -> None:
        super().__init__(f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds")


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


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler_path: str
    memory_mb: int
    timeout_s: int
    concurrency: int = 4
    # EventInvokeConfig: retries of an asynchronous invocation (Lambda's default 2), and where the
    # event goes once they are spent (an SQS queue's ARN, or None: dropped, as Lambda does).
    max_retry_attempts: int = 2
    on_failure: str | None = None
    _handler: Callable[[Any, Any], Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _environments: ThreadPoolExecutor | None = None

    def handler(self) -> Callable[[Any, Any], Any]:
        """Import the handler on first use (a cold start), then reuse it (warm starts)."""
        with self._lock:
            if self._handler is None:
                self._handler = load_handler(self.code_dir, self.handler_path, f"lambda_{self.logical_id}")
            return self._handler

    def invoke(self, event: Any) -> Any:
        """Run one invocation in one of the function's execution environments and wait for it.

        Like Lambda, each environment is one thread that runs one invocation at a time and has
        its own asyncio event loop (Mangum and other adapters rely on one being current).
        """
        with self._lock:
            if self._environments is None:
                self._environments = ThreadPoolExecutor(
                    self.concurrency, thread_name_prefix=f"lambda-{self.logical_id}", initializer=_new_event_loop
                )
        context = LambdaContext(self.name, self.memory_mb, self.timeout_s, self.arn)
        started = threading.Event()
        invocation = self._environments.submit(self._run, event, context, started)
        started.wait()  # the timeout runs from the handler's start, not from a wait for a free environment
        try:
            return invocation.result(timeout=max(0.0, context.get_remaining_time_in_millis() / 1000))
        except concurrent.futures.TimeoutError:
            raise FunctionTimedOut(context.aws_request_id, self.timeout_s) from None

    def _run(self, event: Any, context: LambdaContext, started: threading.Event) -> Any:
        try:
            handler = self.handler()  # a cold start's init is not part of the invocation's time, as on Lambda
        finally:
            context.start()
            started.set()
        return handler(event, context)

    def shutdown(self) -> None:
        if self._environments is not None:
            self._environments.shutdown(wait=True, cancel_futures=True)


def _new_event_loop() -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())


def load_handler(code_dir: Path, handler_path: str, module_name: str) -> Callable[[Any, Any], Any]:
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
    return getattr(module, attribute)


def template_functions(template: Template) -> dict[str, LocalFunction]:
    """Every AWS::Serverless::Function of the template, by logical id."""
    functions = {}
    for logical_id, resource in template.of_type("AWS::Serverless::Function").items():
        props = resource["Properties"]
        invoke_config = template.resolve(template.function_setting(logical_id, "EventInvokeConfig") or {})
        on_failure = invoke_config.get("DestinationConfig", {}).get("OnFailure", {})
        functions[logical_id] = LocalFunction(
            logical_id=logical_id,
            name=template.get_att(logical_id, "Name"),
            arn=template.arn(logical_id),
            code_dir=ROOT / props["CodeUri"],
            handler_path=props["Handler"],
            memory_mb=int(template.function_setting(logical_id, "MemorySize") or 128),
            timeout_s=int(template.function_setting(logical_id, "Timeout") or 3),
            max_retry_attempts=int(invoke_config.get("MaximumRetryAttempts", 2)),
            on_failure=on_failure.get("Destination"),
        )
    return functions


def merged_environment(template: Template) -> dict[str, str]:
    """One process hosts every function, so their variables must agree where they overlap."""
    merged: dict[str, str] = {}
    for logical_id in template.of_type("AWS::Serverless::Function"):
        for key, value in template.function_environment(logical_id).items():
            if merged.setdefault(key, value) != value:
                raise ValueError(f"functions disagree on {key}: {merged[key]!r} vs {value!r}")
    return merged
