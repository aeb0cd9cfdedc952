"""What happens around every request: who is calling, whether they are over their rate limit,
the X-RateLimit-* and CORS headers on every response, and a logged 500 for anything unexpected."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import PREFIX
from api.errors import domain_error_response, internal_error_response
from shared import json_limits
from shared.accounts.auth import Unauthenticated
from shared.accounts.model import User
from shared.accounts.rate_limits import AUTH, BACKTEST_CREATION, GENERAL, MARKET_DATA, RateLimited, RateLimiter
from shared.accounts.service import Accounts
from shared.errors import ValidationFailed

logger = Logger(child=True)
metrics = Metrics()

MAX_TOKEN_LENGTH = 256
# API Gateway's own request limit; every JSON body is also held to json_limits.MAX_DEPTH.
MAX_BODY_BYTES = 10 * 1024 * 1024
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def _read_body(receive: Receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body read already, then the original channel."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


# What a browser script on another origin may read besides the simple headers.
EXPOSED_HEADERS = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, Content-Disposition"


def cors_headers(allowed_origin: str) -> dict[str, str]:
    """The headers every answer carries (API Gateway answers preflights itself: template.yaml's `Cors`)."""
    headers = {"Access-Control-Allow-Origin": allowed_origin, "Access-Control-Expose-Headers": EXPOSED_HEADERS}
    if allowed_origin != "*":
        headers["Vary"] = "Origin"
    return headers


def rate_limit_category(method: str, path: str) -> str:
    """The one category a request counts against (see shared.accounts.rate_limits)."""
    if path in (f"{PREFIX}/users", f"{PREFIX}/sessions"):
        return AUTH
    # Every request that starts backtest executions: plain ones, transaction replays, sweeps.
    if method == "POST" and path in (f"{PREFIX}/backtests", f"{PREFIX}/transactions/replay", f"{PREFIX}/optimizations"):
        return BACKTEST_CREATION
    if path.startswith(f"{PREFIX}/market_data"):
        return MARKET_DATA
    return GENERAL


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and 0 < len(token) <= MAX_TOKEN_LENGTH:
                return token
    return None


def request_id(scope: Scope) -> str:
    """API Gateway's request id when behind it, else the Lambda request id, else a fresh one."""
    event = scope.get("aws.event") or {}
    context = scope.get("aws.context")
    return (
        (event.get("requestContext") or {}).get("requestId")
        or getattr(context, "aws_request_id", None)
        or f"local-{time.time_ns()}"
    )


class ApiGatewayMiddleware:
    """Pure ASGI middleware (no response buffering). Sets `request.state.user` for routes."""

    def __init__(self, app: ASGIApp, accounts: Accounts, rate_limiter: RateLimiter, allowed_origin: str) -> None:
        self.app = app
        self.accounts = accounts
        self.rate_limiter = rate_limiter
        self.cors = cors_headers(allowed_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        _stage_root_path(scope)
        headers: dict[str, str] = dict(self.cors)
        response_status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal response_status
            if message["type"] == "http.response.start":
                response_status = message["status"]
                extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        begun = time.perf_counter()
        try:
            category = rate_limit_category(scope["method"], scope["path"])
            client_ip = (scope.get("client") or ("unknown", 0))[0]
            user = None if category == AUTH else await run_in_threadpool(self._authenticate, scope)
            scope.setdefault("state", {})["user"] = user
            subject = f"ip:{client_ip}" if user is None else f"user:{user.id}"
            status = await run_in_threadpool(self.rate_limiter.hit, category, subject)
            headers.update(status.headers())
            if not status.allowed:
                metrics.add_metric(name="RateLimited", unit=MetricUnit.Count, value=1)
                headers["Retry-After"] = str(max(1, status.reset_at - int(time.time())))
                refused = RateLimited(f"rate limit of {status.limit} requests per minute exceeded ({category})")
                await domain_error_response(refused)(scope, receive, send_with_headers)
                return
            if scope["method"] in _METHODS_WITH_BODY:
                body = await _read_body(receive)
                try:
                    json_limits.check(body, MAX_BODY_BYTES)
                except ValidationFailed as refused:
                    await domain_error_response(refused)(scope, receive, send_with_headers)
                    return
                receive = _replaying(body, receive)
            await self.app(scope, receive, send_with_headers)
        except Exception:
            rid = request_id(scope)
            logger.exception(
                "unhandled error", extra={"request_id": rid, "path": scope["path"], "method": scope["method"]}
            )
            if response_status:
                raise
            await internal_error_response(rid)(scope, receive, send_with_headers)
        finally:
            logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": response_status,
                    "duration_ms": round((time.perf_counter() - begun) * 1000, 1),
                },
            )

    def _authenticate(self, scope: Scope) -> User | None:
        token = bearer_token(scope)
        if token is None:
            return None
        try:
            return self.accounts.authenticate(token)
        except Unauthenticated:
            return None


def _stage_root_path(scope: Scope) -> None:
    """Behind an execute-api URL every path starts with the stage (`/dev/api/docs`), which API
    Gateway strips before the function sees it; tell the app so the docs page fetches
    `/dev/api/openapi.json` and "Try it out" calls `/dev/api/v1/...`."""
    event: dict[str, Any] = scope.get("aws.event") or {}
    context = event.get("requestContext") or {}
    host = (event.get("headers") or {}).get("Host") or (event.get("headers") or {}).get("host") or ""
    if context.get("stage") and host.endswith(".amazonaws.com"):
        scope["root_path"] = f"/{context['stage']}"
