"""Faults the local AWS answers instead of the real thing, so tests can prove that nothing is lost.

A test arms a `Fault` on the stack (`LocalStack.faults.arm(...)`); the AWS front (S3, DynamoDB)
and the WebSocket management API look every request up here and answer the matching ones with
the service's own error, in its wire shape (S3's XML `<Error>`, DynamoDB's `__type`, API
Gateway's `x-amzn-ErrorType`), as AWS does when it throttles or has a bad moment. The callers'
real SDKs (botocore, pyarrow's C++ S3 client) see exactly what they would see from AWS and retry
or fail as they would there. Nothing arms a fault outside tests: an empty registry forwards
everything.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

_S3_MESSAGES = {
    "SlowDown": "Please reduce your request rate.",
    "InternalError": "We encountered an internal error. Please try again.",
    "ServiceUnavailable": "Service is unable to handle request.",
}
_DYNAMODB_MESSAGES = {
    "ProvisionedThroughputExceededException": "The level of configured provisioned throughput for the table was "
    "exceeded. Consider increasing your provisioning level with the "
    "UpdateTable API.",
    "ThrottlingException": "Rate of requests exceeds the allowed throughput.",
}
# DynamoDB names most errors in its own namespace, throttling in the coral one.
_DYNAMODB_NAMESPACES = {"ThrottlingException": "com.amazon.coral.availability"}


@dataclass
class Fault:
    """Answer `times` requests of `operation` on `service` whose target contains `target` (S3:
    "bucket/key", DynamoDB: the table name, execute-api: the connection id) with `status` and
    error `code`, after letting the first `after` matching ones through."""

    service: str  # "s3" | "dynamodb" | "execute-api"
    operation: str  # "GetObject", "PutObject", "UpdateItem", "PostToConnection", ...
    status: int
    code: str
    times: int = 1
    target: str = ""
    after: int = 0
    seen: int = 0  # matching requests so far
    answered: int = 0  # of them answered with the error

    def _takes(self, service: str, operation: str, target: str) -> bool:
        if (service, operation) != (self.service, self.operation) or self.target not in target:
            return False
        self.seen += 1
        if self.seen <= self.after or self.answered >= self.times:
            return False
        self.answered += 1
        return True


class Faults:
    """The armed faults of one local stack (thread-safe: every request thread consults it)."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def arm(self, *faults: Fault) -> tuple[Fault, ...]:
        with self._lock:
            self._faults.extend(faults)
        return faults

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, service: str, operation: str | None, target: str) -> Fault | None:
        """The fault that answers this request instead of the service, if one is armed for it."""
        if operation is None:
            return None
        with self._lock:
            return next((fault for fault in self._faults if fault._takes(service, operation, target)), None)


def s3_operation(method: str, raw_path: str, headers: Any) -> tuple[str | None, str]:
    """(operation, "bucket/key") of a path-style S3 request; the operation is None for those the
    faults do not name (listings, multipart parts, subresources)."""
    parts = urllib.parse.urlsplit(raw_path)
    target = urllib.parse.unquote(parts.path.lstrip("/"))
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    key = target.partition("/")[2]
    if not key or set(query) - {"x-id", "versionId"}:
        return None, target
    if method == "PUT" and not headers.get("x-amz-copy-source"):
        return "PutObject", target
    return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method), target


def dynamodb_operation(headers: Any, body: bytes) -> tuple[str | None, str]:
    """(operation, table name) of a DynamoDB JSON request (`X-Amz-Target: DynamoDB_20120810.PutItem`)."""
    operation = headers.get("X-Amz-Target", "").rpartition(".")[2] or None
    try:
        table = json.loads(body or b"{}").get("TableName", "")
    except ValueError:
        table = ""
    return operation, table


def s3_error(fault: Fault, resource: str) -> tuple[int, bytes, dict[str, str]]:
    request_id = uuid.uuid4().hex[:16].upper()
    message = _S3_MESSAGES.get(fault.code, fault.code)
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{fault.code}</Code><Message>{message}</Message>'
        f"<Resource>/{resource}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()
    return fault.status, body, {"Content-Type": "application/xml", "x-amz-request-id": request_id}


def dynamodb_error(fault: Fault) -> tuple[int, bytes, dict[str, str]]:
    namespace = _DYNAMODB_NAMESPACES.get(fault.code, "com.amazonaws.dynamodb.v20120810")
    body = {"__type": f"{namespace}#{fault.code}", "message": _DYNAMODB_MESSAGES.get(fault.code, fault.code)}
    return (
        fault.status,
        json.dumps(body).encode(),
        {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": str(uuid.uuid4())},
    )
