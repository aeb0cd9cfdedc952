"""The template's Lambda functions, loaded from their CodeUri and invoked locally.

Each function's handler module is imported from its folder exactly as Lambda would find it
(`CodeUri` on sys.path, `Handler` = module.function). Invocations get a LambdaContext-shaped
object. A function's execution environments are, by its `isolation`:

* threads of this process (the default), its module imported once under a unique name so that
  every function's `app.py` can coexist; tests may patch that module. A thread cannot be
  killed, so a handler past its deadline keeps its environment until it returns (what it does
  after its deadline, a real Lambda would not have done);
* processes (`PROCESS_FUNCTIONS`: the CPU-bound Map workers), each its own interpreter, so that
  batches running at once use every core as separate Lambda environments do
  (local/lambda_runtime.py).

Either way an invocation that runs past the function's `Timeout` ends as Lambda ends it: the
caller gets `FunctionTimedOut` (reported as `Sandbox.Timedout`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from local.lambda_runtime import FunctionTimedOut, LambdaContext, ProcessEnvironment, load_handler
from local.template import ROOT, Template

# The state machines' Map workers: a backtest's chunks and an optimization's batches.
PROCESS_FUNCTIONS = frozenset({"ComputeFunction", "OptimizationBatchFunction"})


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
    isolation: Literal["thread", "process"] = "thread"
    # EventInvokeConfig: retries of an asynchronous invocation (Lambda's default 2), and where the
    # event goes once they are spent (an SQS queue's ARN, or None: dropped, as Lambda does).
    max_retry_attempts: int = 2
    on_failure: str | None = None
    _handler: Callable[[Any, Any], Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _environments: ThreadPoolExecutor | None = None
    _processes: ProcessPool | None = None

    @property
    def module_name(self) -> str:
        return f"lambda_{self.logical_id}"

    @property
    def pids(self) -> set[int]:
        """The processes of its live execution environments (none for a function in threads)."""
        return self._processes.pids if self._processes is not None else set()

    def handler(self) -> Callable[[Any, Any], Any]:
        """Import the handler on first use (a cold start), then reuse it (warm starts)."""
        if self.isolation == "process":
            raise RuntimeError(
                f"{self.logical_id} runs in processes of its own: its module here is not the one that runs "
                "(start the stack with it in-process to patch it)"
            )
        with self._lock:
            if self._handler is None:
                self._handler = load_handler(self.code_dir, self.handler_path, self.module_name)
            return self._handler

    def invoke(self, event: Any) -> Any:
        """Run one invocation in one of the function's execution environments and wait for it."""
        if self.isolation == "process":
            with self._lock:
                if self._processes is None:
                    self._processes = ProcessPool(self)
            return self._processes.invoke(event)
        return self._invoke_in_thread(event)

    def _invoke_in_thread(self, event: Any) -> Any:
        """Like Lambda, each environment is one thread that runs one invocation at a time and has
        its own asyncio event loop (Mangum and other adapters rely on one being current)."""
        with self._lock:
            if self._environments is None:
                self._environments = ThreadPoolExecutor(
                    self.concurrency, thread_name_prefix=f"lambda-{self.logical_id}", initializer=_new_event_loop
                )
        context = self._context()
        started = threading.Event()
        invocation = self._environments.submit(self._run, event, context, started)
        started.wait()  # the timeout runs from the handler's start, not from a wait for a free environment
        try:
            return invocation.result(timeout=max(0.0, context.get_remaining_time_in_millis() / 1000))
        except concurrent.futures.TimeoutError:
            raise FunctionTimedOut(context.aws_request_id, self.timeout_s) from None

    def _context(self) -> LambdaContext:
        return LambdaContext(self.name, self.memory_mb, self.timeout_s, self.arn)

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
        if self._processes is not None:
            self._processes.shutdown()


class ProcessPool:
    """A function's process environments: at most `concurrency` at once, each reused while it
    lives (warm), a new one started when none is free (cold: its init is not the invocation's
    time); one that timed out or exited is not reused."""

    def __init__(self, function: LocalFunction) -> None:
        self._function = function
        self._slots = threading.BoundedSemaphore(function.concurrency)
        self._lock = threading.Lock()
        self._idle: list[ProcessEnvironment] = []
        self._all: set[ProcessEnvironment] = set()
        self._closed = False

    @property
    def pids(self) -> set[int]:
        """The processes of the environments alive now (what tests check ran elsewhere)."""
        with self._lock:
            return {environment.pid for environment in self._all if environment.alive}

    def invoke(self, event: Any) -> Any:
        with self._slots:
            environment = self._take()
            try:
                return environment.invoke(event, self._function._context())
            finally:
                self._give_back(environment)

    def _take(self) -> ProcessEnvironment:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._function.logical_id}: the stack is stopping")
            if self._idle:
                return self._idle.pop()
        function = self._function
        environment = ProcessEnvironment(function.code_dir, function.handler_path, function.module_name)
        with self._lock:
            self._all.add(environment)
        return environment

    def _give_back(self, environment: ProcessEnvironment) -> None:
        with self._lock:
            if environment.alive and not self._closed:
                self._idle.append(environment)
            else:
                self._all.discard(environment)
                environment.close()

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            environments, self._idle = list(self._all), []
        for environment in environments:
            environment.close()


def _new_event_loop() -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())


def template_functions(template: Template, processes: Collection[str] = PROCESS_FUNCTIONS) -> dict[str, LocalFunction]:
    """Every AWS::Serverless::Function of the template, by logical id; those named in `processes`
    run in process environments."""
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
            isolation="process" if logical_id in processes else "thread",
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
