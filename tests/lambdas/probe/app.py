"""A Lambda handler that does what its event asks, for the local runtime's tests
(tests/test_local_functions.py): answer, fail, sleep, exit, or report its environment."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

LOADED_AT = time.time()  # once per execution environment (its init phase)


class ProbeError(Exception):
    """The error a `fail` event raises: its name must reach the caller as Lambda reports it."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ProbeError(event["fail"])
    if "exit" in event:
        sys.exit(event["exit"])
    return {
        "pid": os.getpid(),
        "loaded_at": LOADED_AT,
        "variable": os.environ.get(event.get("variable", ""), None),
        "remaining_ms": context.get_remaining_time_in_millis(),
        "function_name": context.function_name,
        "echo": event.get("echo"),
    }
