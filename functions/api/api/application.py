"""The FastAPI application: routers, middleware, error handlers and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.middleware import ApiGatewayMiddleware, rate_limit_category
from api.routes import (
    auth,
    backtests,
    health,
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
from shared.accounts.rate_limits import AUTH, SEED_LIMITS

# Each area's router; market data and transactions add theirs here.
ROUTERS = (health.router, auth.router, strategies.router, backtests.router, trades.router, market_data.router,
           optimizations.router, transactions.router, monte_carlo.router, walk_forwards.router)

DESCRIPTION = """
Backtest crypto trading strategies written as JSON rules. Current version: **v1**, every route
under `/api/v1` (a breaking change would come as `/api/v2`; no version is deprecated).

**Authentication.** Create an account with `POST /api/v1/users`, sign in with
`POST /api/v1/sessions` and send the token it returns as `Authorization: Bearer <token>` on
every other request. Tokens expire (24 h by default) and `DELETE /api/v1/sessions` revokes one.

**Rate limits** (requests per minute; each request counts in one category):

| category | limit | counted per |
| --- | --- | --- |
| auth (`/users`, `/sessions`) | 20 | client IP |
| backtest creation (`POST /backtests`, `/transactions/replay`, `/optimizations`) | 10 | user |
| market data (`/market_data/...`) | 300 | user |
| everything else | 120 | user (client IP without a valid token) |

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
        description=DESCRIPTION,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.services = services
    for router in ROUTERS:
        app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(ApiGatewayMiddleware, accounts=services.accounts, rate_limiter=services.rate_limiter,
                       allowed_origin=allowed_origin)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_rate_limits(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _with_rate_limits(schema: dict[str, Any]) -> dict[str, Any]:
    """Document the rate-limit headers on every response and each operation's category."""
    header = {"schema": {"type": "integer"}, "required": True}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            category = rate_limit_category(method.upper(), path)
            limit, per = SEED_LIMITS[category], "client IP" if category == AUTH else "user"
            operation["x-rate-limit"] = {"category": category, "limit": limit, "window_seconds": 60, "per": per}
            note = f"Rate limit: {limit} requests per minute per {per} ({category.replace('_', ' ')})."
            operation["description"] = f"{operation.get('description', '')}\n\n{note}".strip()
            for status, response in operation["responses"].items():
                headers = response.setdefault("headers", {})
                for name, text in _RATE_LIMIT_HEADERS.items():
                    headers[name] = {**header, "description": text}
                if status == "429":
                    headers["Retry-After"] = {"schema": {"type": "integer"}, "required": True,
                                              "description": "Seconds until the window resets."}
    return schema
