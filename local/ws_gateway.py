"""API Gateway WebSocket API emulation, plus its management API (`@connections`).

Routes, the route selection expression and which routes answer the client (a RouteResponse)
are read from the template's AWS::ApiGatewayV2 resources. `$connect` runs before the upgrade
is accepted (a non-2xx answer refuses it), messages are routed by the selection expression
and `$disconnect` runs when the socket closes. The management API that producers call through
`post_to_connection` is served on a separate loopback port.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from local.faults import Faults
from local.functions import LocalFunction
from local.rest_gateway import error_body, is_utf8
from local.template import ACCOUNT_ID, Template

log = logging.getLogger("local.ws")

_CONNECTION_PATH = re.compile(r"^(?:/[^/]+)?/@connections/([^/?]+)$")
_MANAGEMENT_METHODS = "DELETE, GET, POST"


def _rejection(status: int, text: str) -> Response:
    """A refused handshake (not an upgrade, a malformed request, $connect said no) in the API's error shape."""
    status = HTTPStatus(status)
    body = error_body(status.value, text.strip() or status.phrase)
    headers = Headers(
        [("Connection", "close"), ("Content-Length", str(len(body))), ("Content-Type", "application/json")]
    )
    return Response(status.value, status.phrase, headers, body)


def _is_upgrade(request: Request) -> bool:
    connection = {token.strip().lower() for token in ",".join(request.headers.get_all("Connection")).split(",")}
    return (
        request.headers.get("Upgrade", "").lower() == "websocket"
        and "upgrade" in connection
        and bool(request.headers.get("Sec-WebSocket-Key"))
    )


class _GatewayConnection(ServerConnection):
    """A connection whose every handshake rejection, even of a request websockets cannot parse
    (another method than GET, a broken request line), is JSON rather than plain text."""

    def __init__(self, protocol: Any, *args: Any, **kwargs: Any) -> None:
        protocol.reject = _rejection
        super().__init__(protocol, *args, **kwargs)


@dataclass(frozen=True)
class WebSocketRoutes:
    selection_key: str  # the body field named by "$request.body.<field>"
    functions: dict[str, LocalFunction]  # route key -> function
    two_way: frozenset[str]  # route keys whose handler result is sent back to the client


def template_websocket_routes(
    template: Template, functions: dict[str, LocalFunction], api_logical_id: str
) -> WebSocketRoutes:
    api = template.resources[api_logical_id]["Properties"]
    selection = api["RouteSelectionExpression"]
    if not selection.startswith("$request.body."):
        raise ValueError(f"unsupported route selection expression {selection!r}")
    integrations = {}
    for logical_id, res in template.of_type("AWS::ApiGatewayV2::Integration").items():
        uri = json.dumps(res["Properties"]["IntegrationUri"])
        integrations[logical_id] = next(f for name, f in functions.items() if "${" + name + ".Arn}" in uri)
    routes, two_way = {}, set()
    for res in template.of_type("AWS::ApiGatewayV2::Route").values():
        props = res["Properties"]
        if props["ApiId"] != {"Ref": api_logical_id}:
            continue
        target = props["Target"]["Fn::Sub"].removeprefix("integrations/${").removesuffix("}")
        routes[props["RouteKey"]] = integrations[target]
        if props.get("RouteResponseSelectionExpression"):
            two_way.add(props["RouteKey"])
    return WebSocketRoutes(selection.removeprefix("$request.body."), routes, frozenset(two_way))


@dataclass
class _Client:
    connection: ServerConnection
    source_ip: str
    user_agent: str
    connected_at: float = field(default_factory=time.time)
    last_active_at: float = field(default_factory=time.time)


class WebSocketGateway:
    def __init__(
        self, routes: WebSocketRoutes, stage: str, port: int, api_id: str, faults: Faults | None = None
    ) -> None:
        self.faults = faults or Faults()
        self.routes = routes
        self.stage = stage
        self.api_id = api_id
        self.port = port
        self._clients: dict[str, _Client] = {}
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="ws-gateway", daemon=True)
        self._management = ThreadingHTTPServer(("127.0.0.1", 0), self._management_handler())
        self._management.daemon_threads = True
        self.management_url = f"http://127.0.0.1:{self._management.server_address[1]}/{stage}"
        self._management_thread = threading.Thread(
            target=self._management.serve_forever, name="ws-management", daemon=True
        )

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        self._management_thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            asyncio.run_coroutine_threadsafe(self._server.wait_closed(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._management.shutdown()
        self._management.server_close()

    async def _serve(self) -> Server:
        return await serve(
            self._session, "127.0.0.1", self.port, process_request=self._connect, create_connection=_GatewayConnection
        )

    # ------------------------------------------------------------ events
    def _event(self, connection_id: str, route_key: str, event_type: str, client: _Client | None, **extra: Any) -> dict:
        now = time.time()
        context = {
            "routeKey": route_key,
            "eventType": event_type,
            "messageDirection": "IN",
            "connectionId": connection_id,
            "connectedAt": int((client.connected_at if client else now) * 1000),
            "requestTimeEpoch": int(now * 1000),
            "requestTime": datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestId": uuid.uuid4().hex[:16],
            "extendedRequestId": uuid.uuid4().hex[:16],
            "domainName": f"127.0.0.1:{self.port}",
            "stage": self.stage,
            "apiId": self.api_id,
            "accountId": ACCOUNT_ID,
            "identity": {
                "sourceIp": client.source_ip if client else "127.0.0.1",
                "userAgent": client.user_agent if client else "",
            },
        }
        if event_type == "MESSAGE":
            context["messageId"] = uuid.uuid4().hex[:16]
        return {"requestContext": context, "isBase64Encoded": False, **extra}

    async def _invoke(self, route_key: str, event: dict) -> dict | None:
        function = self.routes.functions.get(route_key)
        if function is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(None, function.invoke, event)

    async def _connect(self, connection: ServerConnection, request: Request) -> Response | None:
        """$connect runs before the handshake completes; a non-2xx answer refuses the socket.
        A request that is no WebSocket upgrade never reaches $connect (nor does it on AWS)."""
        if not _is_upgrade(request):
            return connection.protocol.accept(request)  # websockets' own refusal (426, 405, 505...), in JSON
        connection_id = base64.urlsafe_b64encode(
            uuid.uuid4().bytes[:11]
        ).decode()  # API Gateway style: "L0SM9cOFvHcCIhw="
        source_ip = connection.remote_address[0]
        client = _Client(connection, source_ip, request.headers.get("User-Agent", ""))
        query = dict(re.findall(r"[?&]([^=&]+)=([^&]*)", request.path))
        headers = dict(request.headers.raw_items())
        event = self._event(
            connection_id,
            "$connect",
            "CONNECT",
            client,
            headers=headers,
            multiValueHeaders={k: [v] for k, v in headers.items()},
            queryStringParameters=query or None,
        )
        try:
            result = await self._invoke("$connect", event) or {"statusCode": 200}
        except Exception:  # a failing $connect refuses the connection, as on AWS
            log.exception("$connect failed")
            result = {"statusCode": 500}
        status = int(result.get("statusCode", 200))
        if not 200 <= status < 300:
            return _rejection(status, "the $connect route refused the connection")
        connection.connection_id = connection_id  # type: ignore[attr-defined]
        self._clients[connection_id] = client
        return None

    async def _session(self, connection: ServerConnection) -> None:
        connection_id = connection.connection_id  # type: ignore[attr-defined]
        client = self._clients[connection_id]
        try:
            async for message in connection:
                client.last_active_at = time.time()
                await self._route(connection_id, client, message)
        except ConnectionClosed:
            pass  # the client went away: $disconnect runs below either way
        finally:
            self._clients.pop(connection_id, None)
            event = self._event(
                connection_id,
                "$disconnect",
                "DISCONNECT",
                client,
                disconnectStatusCode=connection.close_code,
                disconnectReason=connection.close_reason or "",
            )
            try:
                await self._invoke("$disconnect", event)
            except Exception:  # nothing to answer once the socket is gone
                log.exception("$disconnect failed")

    async def _route(self, connection_id: str, client: _Client, message: str | bytes) -> None:
        body = message if isinstance(message, str) else message.decode(errors="replace")
        route_key = "$default"
        try:
            selected = json.loads(body).get(self.routes.selection_key)
            if isinstance(selected, str) and selected in self.routes.functions:
                route_key = selected
        except (ValueError, AttributeError):
            pass  # not a JSON object: API Gateway routes it to $default
        event = self._event(connection_id, route_key, "MESSAGE", client, body=body)
        try:
            result = await self._invoke(route_key, event)
        except Exception:  # API Gateway's reply to a failed integration
            log.exception("route %s failed", route_key)
            await client.connection.send(
                json.dumps({"message": "Internal server error", "connectionId": connection_id})
            )
            return
        if route_key in self.routes.two_way and result and result.get("body") is not None:
            await client.connection.send(result["body"])

    # ------------------------------------------------------------ management API
    def _post(self, connection_id: str, data: bytes) -> bool:
        client = self._clients.get(connection_id)
        if client is None:
            return False
        payload: str | bytes = data.decode() if is_utf8(data) else data
        try:
            asyncio.run_coroutine_threadsafe(client.connection.send(payload), self._loop).result(timeout=10)
        except ConnectionClosed:
            return False
        return True

    def _delete(self, connection_id: str) -> bool:
        client = self._clients.get(connection_id)
        if client is None:
            return False
        asyncio.run_coroutine_threadsafe(client.connection.close(), self._loop).result(timeout=10)
        return True

    def _management_handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            default_request_version = "HTTP/1.1"  # so even a request line that does not parse gets headers
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                """Quiet: producers log their own deliveries."""

            def __getattr__(self, name: str) -> Any:
                """Methods the management API does not have: 405, never http.server's 501 HTML page."""
                if name.startswith("do_"):
                    return self._not_allowed
                raise AttributeError(name)

            def _not_allowed(self) -> None:
                self._reply(
                    405,
                    {"message": f"{self.command} is not supported"},
                    "MethodNotAllowedException",
                    {"Allow": _MANAGEMENT_METHODS},
                )

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                self.close_connection = True
                self._reply(code, {"message": message or "bad request"}, "BadRequestException")

            def _reply(
                self,
                status: int,
                body: dict | None = None,
                error_type: str | None = None,
                headers: dict[str, str] | None = None,
            ) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if error_type:
                    self.send_header("x-amzn-ErrorType", error_type)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _connection_id(self) -> str | None:
                match = _CONNECTION_PATH.match(self.path)
                return urllib.parse.unquote(match.group(1)) if match else None

            def _gone(self) -> None:
                self._reply(410, {"message": None, "__type": "GoneException"}, "GoneException")

            def do_POST(self) -> None:  # http.server naming
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                connection_id = self._connection_id()
                fault = gateway.faults.take("execute-api", "PostToConnection", connection_id or "")
                if fault is not None:  # API Gateway throttling (429 LimitExceededException) or a bad moment
                    self._reply(fault.status, {"message": fault.code}, fault.code)
                elif connection_id is None:
                    self._reply(404, {"message": "Not Found"})
                elif gateway._post(connection_id, data):
                    self._reply(200)
                else:
                    self._gone()

            def do_GET(self) -> None:
                client = gateway._clients.get(self._connection_id() or "")
                if client is None:
                    self._gone()
                    return
                iso = lambda t: datetime.fromtimestamp(t, UTC).isoformat()  # noqa: E731
                self._reply(
                    200,
                    {
                        "ConnectedAt": iso(client.connected_at),
                        "LastActiveAt": iso(client.last_active_at),
                        "Identity": {"SourceIp": client.source_ip, "UserAgent": client.user_agent},
                    },
                )

            def do_DELETE(self) -> None:
                if gateway._delete(self._connection_id() or ""):
                    self._reply(204)
                else:
                    self._gone()

        return Handler
