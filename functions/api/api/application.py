"""The FastAPI application: routers, middleware, error handlers and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Mapping
from string import Template
from typing import Any

from fastapi import FastAPI

from api.errors import error_responses, install_error_handlers
from api.middleware import ApiGatewayMiddleware, rate_limit_category
from api.routes import (
    auth,
    backtests,
    health,
    indicators,
    market_data,
    monte_carlo,
    optimizations,
    strategies,
    trades,
    transactions,
    walk_forwards,
)
from api.wiring import ApiServices
from shared import __version__
from shared.accounts.rate_limits import AUTH

# Each area's router; market data and transactions add theirs here.
ROUTERS = (
    health.router,
    auth.router,
    strategies.router,
    backtests.router,
    trades.router,
    market_data.router,
    optimizations.router,
    transactions.router,
    monte_carlo.router,
    walk_forwards.router,
    indicators.router,
)

DESCRIPTION = """
Backtest crypto trading strategies written as JSON rules. Current version: **v1**, every route
under `/api/v1` (a breaking change would come as `/api/v2`; no version is deprecated).

**Authentication.** Create an account with `POST /api/v1/users`, sign in with
`POST /api/v1/sessions` and send the token it returns as `Authorization: Bearer <token>` on
every other request. Tokens expire (24 h by default) and `DELETE /api/v1/sessions` revokes one.

**Rate limits** (requests per minute; each request counts in one category; each deployment sets
them through template parameters; 20 / 10 / 300 / 120 by default):

| category | limit | counted per |
| --- | --- | --- |
| auth (`/users`, `/sessions`) | ${auth} | client IP |
| backtest creation (`POST /backtests`, `/transactions/replay`, `/optimizations`) | ${backtest_creation} | user |
| market data (`/market_data/...`) | ${market_data} | user |
| everything else | ${general} | user (client IP without a valid token) |

Every response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
(Unix time, seconds, when the current one-minute window ends); past the limit the answer is
429 with `Retry-After`.

**Errors** always have the shape `{"error": {"code", "message", "details": [{"field", "message"}]}}`.
Someone else's private strategy or backtest answers 404, exactly like a missing one; a public
strategy of another user is readable, and changing it answers 403.

**Formats.** Ids are UUIDs. Datetimes are ISO-8601 UTC with milliseconds and `Z`; inputs need a
timezone. Decimals are JSON numbers rounded to 12 significant digits (`null` when not a finite
number). Percentages are in percent (`stop_loss: 2` is 2 %). Listings take `page`/`per_page`
(default 20, max 100) or `limit`/`offset`, and answer `meta{page, per_page, total_pages, total_count, offset}`.
"""

_RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed in the current one-minute window for this route's category.",
    "X-RateLimit-Remaining": "Requests left in the current window.",
    "X-RateLimit-Reset": "Unix time (seconds) when the current window ends.",
}


def create_app(services: ApiServices, allowed_origin: str = "*") -> FastAPI:
    """`allowed_origin`: the Access-Control-Allow-Origin of every answer (CorsAllowedOrigin)."""
    app = FastAPI(
        title="Backtest Service API",
        version=__version__,
        description=Template(DESCRIPTION).substitute(services.rate_limiter.limits),
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.services = services
    for router in ROUTERS:
        app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(
        ApiGatewayMiddleware,
        accounts=services.accounts,
        rate_limiter=services.rate_limiter,
        allowed_origin=allowed_origin,
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = _with_bad_request(FastAPI.openapi(app))
            app.openapi_schema = with_links(_with_rate_limits(document, services.rate_limiter.limits))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _with_bad_request(schema: dict[str, Any]) -> dict[str, Any]:
    """Every operation that takes a body documents the 400 of a body that is not JSON (a route
    does not have to remember it)."""
    bad_request = error_responses(400)[400]
    for operations in schema["paths"].values():
        for operation in operations.values():
            if "requestBody" in operation and "400" not in operation["responses"]:
                operation["responses"]["400"] = {
                    "description": bad_request["description"],
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                }
    return schema


def _with_rate_limits(schema: dict[str, Any], limits: Mapping[str, int]) -> dict[str, Any]:
    """Document the rate-limit headers on every response and each operation's category."""
    header = {"schema": {"type": "integer"}, "required": True}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            category = rate_limit_category(method.upper(), path)
            limit, per = limits[category], "client IP" if category == AUTH else "user"
            operation["x-rate-limit"] = {"category": category, "limit": limit, "window_seconds": 60, "per": per}
            note = f"Rate limit: {limit} requests per minute per {per} ({category.replace('_', ' ')})."
            operation["description"] = f"{operation.get('description', '')}\n\n{note}".strip()
            for status, response in operation["responses"].items():
                headers = response.setdefault("headers", {})
                for name, text in _RATE_LIMIT_HEADERS.items():
                    headers[name] = {**header, "description": text}
                if status == "429":
                    headers["Retry-After"] = {
                        "schema": {"type": "integer"},
                        "required": True,
                        "description": "Seconds until the window resets.",
                    }
    return schema


_ID_FIELDS = ("id", "import_id", "replay_id", "backtest_id")


def with_links(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI `links` from each created resource to the operations on it, so that a client (or a
    stateful fuzzer) can chain calls: a 201/202 body's `id` fills the path parameter of the
    operations under the creating path (`POST /strategies` -> `/strategies/{strategy_id}`), and an
    `import_id`, `replay_id` or `backtest_id` fills the path parameter of that name anywhere."""
    components = schema.get("components", {}).get("schemas", {})
    targets = [
        (path, method, operation, parameter["name"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    ]
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if status not in ("201", "202"):
                    continue
                fields = _body_fields(response, components)
                links = {}
                for target_path, _target_method, target, name in targets:
                    if ("id" in fields and target_path.startswith(f"{path}/{{{name}}}")) or (
                        name in fields and name != "id"
                    ):
                        field = name if name in fields else "id"
                        links[target["operationId"]] = {
                            "operationId": target["operationId"],
                            "parameters": {name: f"$response.body#/{field}"},
                        }
                if links:
                    response["links"] = links
    return schema


def _body_fields(response: dict[str, Any], components: dict[str, Any]) -> set[str]:
    body = response.get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in body:
        body = components.get(body["$ref"].rsplit("/", 1)[-1], {})
    return {name for name in body.get("properties", {}) if name in _ID_FIELDS}
