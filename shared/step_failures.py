"""How a failed state machine step reads to a user, and the error names the state machines share.

A Lambda task's error name is the exception's type name and its cause the Lambda error payload
({"errorMessage", "errorType", ...}). Errors listed in READABLE_ERRORS carry a message written
for users (domain errors, formatted with their field details by `describe`); anything else is a
bug or an outage, shown by its type only (the details are in the function's logs).
"""

from __future__ import annotations

import json

from shared.errors import DomainError


class OptimizationIncomplete(DomainError):
    """Some combinations of an optimization have no result: a batch failed."""

    code = "optimization_incomplete"


# RunStuck: the run watchdog's sweep (shared.run_watchdog), its message written for users too.
READABLE_ERRORS = frozenset(
    {"ValidationFailed", "NotFound", "TransientError", OptimizationIncomplete.__name__, "RunStuck"}
)


def failure_message(error: str, cause: str, subject: str = "backtest") -> str:
    """A user-readable reason from Step Functions' (Error, Cause) for a failed `subject`."""
    try:
        payload = json.loads(cause)
    except (TypeError, ValueError):
        payload = None
    message = payload.get("errorMessage") if isinstance(payload, dict) else None
    if error in READABLE_ERRORS and isinstance(message, str) and message:
        return message
    if error == "States.Aborted":
        return f"the {subject}'s execution was stopped before it finished"
    if error == "States.Timeout":
        return f"a step of the {subject} timed out"
    if error == "States.ExceedToleratedFailureThreshold":  # a distributed Map's child failed
        return f"a batch of the {subject} failed; the execution's map run has the details"
    return f"the {subject} failed on an internal error ({error}); the execution's logs have the details"


def describe(error: DomainError) -> str:
    """A domain error as one line with its field details: what `failure_message` shows."""
    details = "; ".join(f"{detail.field}: {detail.message}" for detail in error.errors)
    return f"{error.message} ({details})" if details else error.message
