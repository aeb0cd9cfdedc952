"""API Gateway REST API emulation: HTTP requests -> proxy integration events -> handlers.

Routes come from the functions' `Api` events in the template. Each request becomes the
event API Gateway sends a Lambda proxy integration (payload format 1.0), and the handler's
response dict becomes the HTTP response, so a handler cannot tell it is not on AWS. What API
Gateway answers itself (no such route, a body over its 10 MB limit, a malformed request, a
failed integration, an answer over Lambda's 6 MB response limit) is the API's `GatewayResponses`
from the template, rendered here with their headers: no request ever gets the HTTP server's own
HTML error page.

CORS as the template's `Cors` makes API Gateway do it: a preflight (any `OPTIONS` on a declared
path) is answered 204 by the gateway itself with the template's Allow-Origin/-Methods/-Headers/Max-Age.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.functions import LocalFunction
from local.template import ACCOUNT_ID, Template

log = logging.getLogger("local.rest")

_TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload limit
# Lambda's synchronous response limit (its error says "maximum allowed payload size (6291556 bytes)"),
# counted on the JSON the runtime sends: a larger answer is a failed integration, a 502 on API Gateway.
MAX_RESPONSE_PAYLOAD_BYTES = 6_291_556
_DEFAULT_STATUS = {"DEFAULT_4XX": 400, "DEFAULT_5XX": 502}


@dataclass(frozen=True)
class GatewayResponses:
    """The API's `GatewayResponses`: what API Gateway answers without calling a function."""

    responses: dict[str, dict[str, Any]]

    @classmethod
    def from_template(cls, template: Template, api_logical_id: str) -> GatewayResponses:
        return cls(template.resolve(template.resources[api_logical_id]["Properties"].get("GatewayResponses", {})))

    def render(
        self, response_type: str, status: int | None, method: str, path: str, message: str
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of `response_type`, falling back to DEFAULT_4XX/5XX as API Gateway does."""
        family = "DEFAULT_5XX" if (status or 0) >= 500 else "DEFAULT_4XX"
        spec = self.responses.get(response_type) or self.responses.get(family) or {}
        status = int(spec.get("StatusCode") or status or _DEFAULT_STATUS[family])
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": response_type,
            **{
                name: _header_value(str(value))
                for name, value in (spec.get("ResponseParameters") or {}).get("Headers", {}).items()
            },
        }
        body = spec.get("ResponseTemplates", {}).get("application/json")
        if body is None:  # no template: API Gateway's own {"message": ...}
            return status, headers, json.dumps({"message": message}).encode()
        variables = {
            "$context.error.messageString": json.dumps(message),
            "$context.error.message": message,
            "$context.httpMethod": method,
            "$context.path": path,
        }
        for name in sorted(variables, key=len, reverse=True):
            body = body.replace(name, variables[name])
        return status, headers, body.encode()


@dataclass(frozen=True)
class Route:
    resource: str  # API Gateway resource path, e.g. /api/v1/{proxy+}
    method: str  # ANY or an HTTP method
    function: LocalFunction
    pattern: re.Pattern[str]
    parameter_names: tuple[str, ...]

    @property
    def specificity(self) -> tuple[int, int]:
        """API Gateway prefers literal paths over parameters, and parameters over greedy {proxy+}."""
        greedy = "+}" in self.resource
        return (1 if greedy else 0, -self.resource.count("/"))


def template_routes(template: Template, functions: dict[str, LocalFunction], api_logical_id: str) -> list[Route]:
    routes = []
    for logical_id, resource in template.of_type("AWS::Serverless::Function").items():
        for event in resource["Properties"].get("Events", {}).values():
            props = event.get("Properties", {})
            if event["Type"] != "Api" or props.get("RestApiId", {}).get("Ref") != api_logical_id:
                continue
            names = tuple(n.rstrip("+") for n in re.findall(r"\{([^}]+)\}", props["Path"]))
            regex = re.sub(r"\{[^}]+\+\}", "(.+)", props["Path"])
            regex = re.sub(r"\{[^}]+\}", "([^/]+)", regex)
            routes.append(
                Route(props["Path"], props["Method"].upper(), functions[logical_id], re.compile(f"^{regex}$"), names)
            )
    return sorted(routes, key=lambda r: r.specificity)


@dataclass(frozen=True)
class GatewayCors:
    """The preflight answer, from the template's `Cors`."""

    preflight: dict[str, str]


def _header_value(value: str) -> str:
    """API Gateway header mappings are static values in single quotes: `'*'`."""
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


def template_cors(template: Template, api_logical_id: str) -> GatewayCors:
    props = template.resolve(template.resources[api_logical_id].get("Properties", {}))
    cors = props.get("Cors") or {}
    if isinstance(cors, str):  # the short form: only the origin
        cors = {"AllowOrigin": cors}
    names = {
        "AllowOrigin": "Access-Control-Allow-Origin",
        "AllowMethods": "Access-Control-Allow-Methods",
        "AllowHeaders": "Access-Control-Allow-Headers",
        "MaxAge": "Access-Control-Max-Age",
    }
    return GatewayCors({header: _header_value(str(cors[key])) for key, header in names.items() if key in cors})


class RestGateway:
    def __init__(
        self,
        routes: list[Route],
        stage: str,
        port: int,
        api_id: str,
        cors: GatewayCors | None = None,
        gateway_responses: GatewayResponses = GatewayResponses({}),
    ) -> None:
        self.routes = routes
        self.cors = cors or GatewayCors({})
        self.gateway_responses = gateway_responses
        self.stage = stage
        self.api_id = api_id
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="rest-gateway", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method in ("ANY", method):
                return route, dict(zip(route.parameter_names, found.groups()))
        return None

    def declares(self, path: str) -> bool:
        """Some resource covers the path (with any method)."""
        return any(route.pattern.match(path) for route in self.routes)

    def event(
        self,
        route: Route,
        params: dict[str, str],
        method: str,
        raw_path: str,
        headers: Any,
        body: bytes,
        source_ip: str,
    ) -> dict[str, Any]:
        """The REST API proxy integration event (payload format 1.0)."""
        parts = urllib.parse.urlsplit(raw_path)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        single_headers = dict(headers.items())
        multi_headers: dict[str, list[str]] = {}
        for k, v in headers.items():
            multi_headers.setdefault(k, []).append(v)
        content_type = headers.get("Content-Type", "")
        is_text = not body or (any(content_type.startswith(t) for t in _TEXT_TYPES) and is_utf8(body))
        now = datetime.now(UTC)
        return {
            "resource": route.resource,
            "path": parts.path,
            "httpMethod": method,
            "headers": single_headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": uuid.uuid4().hex[:6],
                "resourcePath": route.resource,
                "httpMethod": method,
                "extendedRequestId": uuid.uuid4().hex[:16],
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{self.stage}{parts.path}",
                "accountId": ACCOUNT_ID,
                "protocol": "HTTP/1.1",
                "stage": self.stage,
                "domainPrefix": self.api_id,
                "requestTimeEpoch": int(time.time() * 1000),
                "requestId": str(uuid.uuid4()),
                "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent")},
                "domainName": f"127.0.0.1:{self.port}",
                "apiId": self.api_id,
            },
            "body": (body.decode() if is_text else base64.b64encode(body).decode()) if body else None,
            "isBase64Encoded": bool(body) and not is_text,
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            default_request_version = "HTTP/1.1"  # so even a request line that does not parse gets headers
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls

            def log_message(self, fmt: str, *args: Any) -> None:
                log.info("%s %s", self.address_string(), fmt % args)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def __getattr__(self, name: str) -> Any:
                """Every method token reaches the gateway (http.server would answer 501 in HTML)."""
                if name.startswith("do_"):
                    return self._dispatch
                raise AttributeError(name)

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """http.server's answer to a malformed request line or headers, in the API's shape."""
                self.close_connection = True
                self._gateway_response("DEFAULT_4XX", code, message or "bad request")

            def _gateway_response(self, response_type: str, status: int | None, message: str) -> None:
                path = urllib.parse.urlsplit(getattr(self, "path", "") or "/").path
                method = getattr(self, "command", None) or "-"
                self._send(*gateway.gateway_responses.render(response_type, status, method, path, message))

            def _body(self) -> bytes | None:
                """The request body; None once answered (a malformed or too large body closes the connection)."""
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    self.close_connection = True
                    self._gateway_response("DEFAULT_4XX", 411, "send the body with a Content-Length")
                    return None
                text = self.headers.get("Content-Length") or "0"
                if not text.isdigit():
                    self.close_connection = True
                    self._gateway_response("DEFAULT_4XX", 400, f"invalid Content-Length {text!r}")
                    return None
                if int(text) > MAX_PAYLOAD_BYTES:
                    self.close_connection = True
                    self._gateway_response("REQUEST_TOO_LARGE", 413, "Request Too Long")
                    return None
                return self.rfile.read(int(text)) if int(text) else b""

            def _dispatch(self) -> None:
                body = self._body()
                if body is None:
                    return
                path = urllib.parse.urlsplit(self.path).path
                if self.command == "OPTIONS" and gateway.cors.preflight and gateway.declares(path):
                    # SAM's Cors: a mock integration on every resource answers the preflight.
                    self._send(204, gateway.cors.preflight, b"")
                    return
                matched = gateway.match(self.command, path)
                if matched is None:
                    self._gateway_response("MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token")
                    return
                route, params = matched
                event = gateway.event(
                    route, params, self.command, self.path, self.headers, body, self.client_address[0]
                )
                try:
                    response = route.function.invoke(event)
                except Exception:  # API Gateway's answer to a failed integration
                    log.exception("integration %s failed", route.function.logical_id)
                    self._gateway_response("DEFAULT_5XX", 502, "Internal server error")
                    return
                size = len(json.dumps(response).encode())
                if size > MAX_RESPONSE_PAYLOAD_BYTES:
                    log.error("%s answered %d bytes, over Lambda's response limit", route.function.logical_id, size)
                    self._gateway_response("DEFAULT_5XX", 502, "Internal server error")
                    return
                self._send(*_http_response(response))

        return Handler


_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    426: "upgrade_required",
    500: "internal_error",
    505: "http_version_not_supported",
}


def error_body(status: int, message: str) -> bytes:
    """The API's error shape, for what a gateway answers itself."""
    code = _ERROR_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    return json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()


def is_utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def _http_response(response: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    headers = dict(response.get("headers") or {})
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(values)
    body = response.get("body") or ""
    data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    return int(response.get("statusCode", 200)), headers, data
