"""The local AWS endpoint: moto's server behind a small front that plays Lambda.

Everything the functions, the tests and moto's own Step Functions interpreter send to
`AWS_ENDPOINT_URL` arrives here. Two things moto cannot do without Docker are answered by the
front, the way `sam local start-lambda` would:

* `POST /2015-03-31/functions/{name}/invocations` (Lambda Invoke) runs the template's handler
  in-process, synchronously (`RequestResponse`) or in the background (`Event`), and reports a
  handler exception as Lambda does (`X-Amz-Function-Error: Unhandled`).
* Faults a test armed (`local.faults`) are answered instead of forwarding: S3 and DynamoDB
  errors in those services' wire shapes, for the SDKs' own retries to meet.
* After S3 accepts a new object, the bucket's notification configuration (created from the
  template) is read back from moto and each matching function receives a real S3 event record,
  asynchronously, with the function's `EventInvokeConfig` retries (Lambda's two by default); an
  event failed every time goes to its `OnFailure` SQS queue as Lambda's on-failure record
  (`requestContext`, `requestPayload` = the event, `responseContext`, `responsePayload` = the error).

Every other request is forwarded to moto unchanged, DynamoDB's one at a time: DynamoDB applies
each conditional write atomically, while moto's UpdateItem is a read-modify-write that two threads
can interleave (two parallel chunks both raising progress to 90 would both succeed).
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import re
import threading
import time
import traceback
import urllib.parse
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3

from local.faults import Faults, dynamodb_error, dynamodb_operation, s3_error, s3_operation
from local.functions import LocalFunction
from local.lambda_runtime import FunctionTimedOut, HandlerFailed
from shared.times import iso_utc_ms

log = logging.getLogger("local.aws")

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "server", "date"}


class AwsFront:
    def __init__(
        self, moto_url: str, functions: dict[str, LocalFunction], region: str, faults: Faults | None = None
    ) -> None:
        self.moto = urllib.parse.urlsplit(moto_url)
        self.region = region
        self.faults = faults or Faults()
        self._by_name = {}
        for function in functions.values():
            self._by_name.update({function.name: function, function.arn: function, function.logical_id: function})
        self._dynamodb = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-front", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------ Lambda
    def function(self, name_or_arn: str) -> LocalFunction | None:
        name = urllib.parse.unquote(name_or_arn)
        return self._by_name.get(name) or self._by_name.get(name.split(":function:")[-1].split(":")[0])

    def invoke(self, function: LocalFunction, payload: Any) -> tuple[Any, str | None]:
        """Run the handler; returns (result, function_error) the way the Invoke API reports it."""
        try:
            return function.invoke(payload), None
        except FunctionTimedOut as exc:  # Lambda stops the invocation; Step Functions sees Sandbox.Timedout
            log.warning("function %s: %s", function.logical_id, exc)
            return {"errorMessage": str(exc), "errorType": FunctionTimedOut.ERROR_TYPE}, "Unhandled"
        except HandlerFailed as exc:  # raised in a process environment: reported there, as Lambda's runtime does
            log.error("function %s failed: %s: %s", function.logical_id, exc.error.get("errorType"), exc)
            return exc.error | {"requestId": str(uuid.uuid4())}, "Unhandled"
        except Exception as exc:  # an unhandled handler error is a Lambda result
            log.exception("function %s failed", function.logical_id)
            error = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": str(uuid.uuid4()),
                "stackTrace": traceback.format_exception(exc)[-5:],
            }
            return error, "Unhandled"

    def invoke_async(self, function: LocalFunction, payload: Any) -> None:
        def run() -> None:
            attempts = function.max_retry_attempts + 1
            for attempt in range(1, attempts + 1):
                result, error = self.invoke(function, payload)
                if error is None:
                    return
                if attempt < attempts:
                    time.sleep(0.2 * attempt)
            self._on_failure(function, payload, result, error, attempts)

        threading.Thread(target=run, name=f"async-{function.logical_id}", daemon=True).start()

    def _on_failure(self, function: LocalFunction, payload: Any, result: Any, error: str, attempts: int) -> None:
        """Lambda's on-failure destination record, to the function's OnFailure queue (if it has one)."""
        if function.on_failure is None:
            log.warning(
                "function %s failed an event %d times; it has no on-failure destination", function.logical_id, attempts
            )
            return
        if not function.on_failure.startswith("arn:aws:sqs:"):
            raise ValueError(f"the local stack delivers on-failure records to SQS only, not {function.on_failure}")
        record = {
            "version": "1.0",
            "timestamp": iso_utc_ms(datetime.now(UTC)),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{function.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": payload,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": error},
            "responsePayload": result,
        }
        sqs = boto3.client("sqs", endpoint_url=self.url, region_name=self.region)
        queue_url = sqs.get_queue_url(QueueName=function.on_failure.rsplit(":", 1)[1])["QueueUrl"]
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))

    # ------------------------------------------------------------ S3 -> Lambda
    @functools.cached_property
    def _s3(self) -> Any:
        """moto's S3, asked for buckets' notification configuration (credentials are the stack's, set by then)."""
        return boto3.client("s3", endpoint_url=self.moto.geturl(), region_name=self.region)

    def notify_object_created(self, bucket: str, key: str, event_name: str, size: int, etag: str) -> None:
        config = self._s3.get_bucket_notification_configuration(Bucket=bucket)
        for target in config.get("LambdaFunctionConfigurations", []):
            if not _event_matches(target["Events"], event_name) or not _key_matches(target.get("Filter"), key):
                continue
            function = self.function(target["LambdaFunctionArn"])
            if function is not None:
                self.invoke_async(function, _s3_event(self.region, target["Id"], bucket, key, event_name, size, etag))

    # ------------------------------------------------------------ HTTP
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls

            def log_message(self, *args: Any) -> None:
                """Quiet: moto logs its own requests."""

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    return _read_chunked(self.rfile)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _dispatch(self) -> None:
                body = self._body()
                path = urllib.parse.urlsplit(self.path).path
                match = _INVOKE_PATH.match(path)
                if match and self.command == "POST":
                    self._invoke(match.group(1), body)
                else:
                    self._forward(body)

            # OPTIONS: a browser's CORS preflight to a presigned URL, answered by moto from the bucket's rules.
            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _dispatch  # noqa: N815 - http.server naming

            def _invoke(self, name: str, body: bytes) -> None:
                function = front.function(name)
                if function is None:
                    error = {"Type": "User", "Message": f"Function not found: {name}"}
                    self._send(404, json.dumps(error).encode(), {"x-amzn-ErrorType": "ResourceNotFoundException"})
                    return
                payload = json.loads(body) if body else {}
                if self.headers.get("X-Amz-Invocation-Type") == "Event":
                    front.invoke_async(function, payload)
                    self._send(202, b"", {})
                    return
                result, error = front.invoke(function, payload)
                headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
                if error:
                    headers["X-Amz-Function-Error"] = error
                self._send(200, json.dumps(result).encode(), headers)

            def _forward(self, body: bytes) -> None:
                if self.headers.get("X-Amz-Target", "").startswith("DynamoDB_"):
                    operation, table = dynamodb_operation(self.headers, body)
                    fault = front.faults.take("dynamodb", operation, table)
                    if fault is not None:
                        self._send(*dynamodb_error(fault))
                        return
                    with front._dynamodb:
                        self._forward_to_moto(body)
                    return
                if _is_s3(self.path, self.headers):
                    operation, target = s3_operation(self.command, self.path, self.headers)
                    fault = front.faults.take("s3", operation, target)
                    if fault is not None:
                        status, error, headers = s3_error(fault, target)
                        self._send(status, b"" if self.command == "HEAD" else error, headers)
                        return
                self._forward_to_moto(body)

            def _forward_to_moto(self, body: bytes) -> None:
                connection = http.client.HTTPConnection(front.moto.hostname, front.moto.port, timeout=300)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                headers["Host"] = self.headers.get("Host", front.moto.netloc)
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                out_headers = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_HEADERS}
                self._send(response.status, data, out_headers)
                connection.close()
                created = _object_created(self.command, self.path, self.headers, response.status)
                if created:
                    bucket, key, event_name = created
                    etag = (response.getheader("ETag") or "").strip('"')
                    size = int(self.headers.get("x-amz-decoded-content-length") or len(body))
                    front.notify_object_created(bucket, key, event_name, size, etag)

        return Handler


def _read_chunked(stream: Any) -> bytes:
    """Read an HTTP/1.1 chunked request body."""
    data = bytearray()
    while True:
        size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailer fields after the last chunk: skipped
            return bytes(data)
        data += stream.read(size)
        stream.readline()


def _object_created(method: str, raw_path: str, headers: Any, status: int) -> tuple[str, str, str] | None:
    """(bucket, key, event name) when this request created an S3 object, else None."""
    if status != 200 or not _is_s3(raw_path, headers):
        return None
    parts = urllib.parse.urlsplit(raw_path)
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    bucket, _, key = parts.path.lstrip("/").partition("/")
    if not key:
        return None
    key = urllib.parse.unquote(key)
    if method == "PUT" and "partNumber" not in query and not _is_subresource(query):
        return bucket, key, "ObjectCreated:Copy" if headers.get("x-amz-copy-source") else "ObjectCreated:Put"
    if method == "POST" and "uploadId" in query:
        return bucket, key, "ObjectCreated:CompleteMultipartUpload"
    return None


def _is_s3(raw_path: str, headers: Any) -> bool:
    credential = headers.get("Authorization", "") + urllib.parse.unquote(raw_path)
    return "/s3/aws4_request" in credential


def _is_subresource(query: dict[str, list[str]]) -> bool:
    return bool({"tagging", "acl", "retention", "legal-hold"} & set(query))


def _event_matches(patterns: list[str], event_name: str) -> bool:
    full = f"s3:{event_name}"
    return any(p == full or (p.endswith("*") and full.startswith(p[:-1])) for p in patterns)


def _key_matches(filter_config: dict[str, Any] | None, key: str) -> bool:
    rules = (filter_config or {}).get("Key", {}).get("FilterRules", [])
    for rule in rules:
        name, value = rule["Name"].lower(), rule["Value"]
        if (name == "prefix" and not key.startswith(value)) or (name == "suffix" and not key.endswith(value)):
            return False
    return True


def _s3_event(region: str, configuration_id: str, bucket: str, key: str, event_name: str, size: int, etag: str) -> dict:
    """An S3 event notification record, shaped as S3 sends it (the key URL-encoded)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": iso_utc_ms(datetime.now(UTC)),
                "eventName": event_name,
                "userIdentity": {"principalId": "local"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": configuration_id,
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "local"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": urllib.parse.quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": etag,
                        "sequencer": f"{time.time_ns():X}",
                    },
                },
            }
        ]
    }
