"""Every error the API answers, in one shape and from one table.

`{"error": {"code", "message", "details": [{"field", "message"}]}}` for each 4xx/5xx: domain errors
by class, FastAPI's request validation (400 for a body that is not JSON, 422 otherwise), unknown
routes (404) and methods (405). Unexpected exceptions become a 500 in the middleware, which
logs them with the request id; no response ever carries a stack trace.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.contracts import field_name as field_name
from adapters.contracts import problem_field
from shared.accounts.auth import Unauthenticated
from shared.accounts.rate_limits import RateLimited
from shared.errors import Conflict, DomainError, FieldError, Forbidden, NotFound, UpstreamRefused, ValidationFailed
from shared.json_limits import TooLarge

STATUS_BY_ERROR: Mapping[type[DomainError], int] = {
    TooLarge: 413,  # before ValidationFailed, of which it is a kind
    ValidationFailed: 422,
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    Unauthenticated: 401,
    RateLimited: 429,
    UpstreamRefused: 502,
}
_CODE_BY_HTTP_STATUS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 500: "internal_error"}


class ErrorDetail(BaseModel):
    field: str = Field(examples=["config.stop_loss"])
    message: str = Field(examples=["must be greater than 0"])


class ErrorBody(BaseModel):
    code: str = Field(examples=["validation_failed"])
    message: str = Field(examples=["invalid strategy"])
    details: list[ErrorDetail] = []


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_response(
    status: int, code: str, message: str, details: Iterable[FieldError] = (), headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": [d.to_dict() for d in details]}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def domain_error_response(error: DomainError) -> JSONResponse:
    status = next(code for kind, code in STATUS_BY_ERROR.items() if isinstance(error, kind))
    return error_response(status, error.code, error.message, error.errors)


def internal_error_response(request_id: str) -> JSONResponse:
    return error_response(500, _CODE_BY_HTTP_STATUS[500], f"internal error; request id {request_id}")


def _request_validation_response(_: Request, error: RequestValidationError) -> JSONResponse:
    problems = error.errors()
    if any(problem["type"] == "json_invalid" for problem in problems):
        return error_response(400, "bad_request", "the request body is not valid JSON")
    details = [FieldError(problem_field(p, error.body), p["msg"]) for p in problems]
    return error_response(422, ValidationFailed.code, "invalid request", details)


def _http_error_response(request: Request, error: StarletteHTTPException) -> JSONResponse:
    if error.status_code == 404:
        message = f"no route {request.method} {request.url.path}"
    elif error.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
        return error_response(405, _CODE_BY_HTTP_STATUS[405], message, headers={"Allow": allowed_methods(request)})
    else:
        message = str(error.detail)
    code = _CODE_BY_HTTP_STATUS.get(error.status_code, "http_error")
    return error_response(error.status_code, code, message, headers=getattr(error, "headers", None))


def allowed_methods(request: Request) -> str:
    """Every method the API serves on this path, from its OpenAPI document (Starlette's own Allow
    names only the first route that matched the path)."""
    app = request.app
    paths = {**app.openapi()["paths"], app.docs_url: {"get": {}}, app.openapi_url: {"get": {}}}
    methods = {
        method.upper()
        for template, operations in paths.items()
        if _path_pattern(template).match(request.url.path)
        for method in operations
    }
    return ", ".join(sorted(methods))


@cache
def _path_pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")


def _domain_error_response(_: Request, error: DomainError) -> JSONResponse:
    return domain_error_response(error)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error_response)
    app.add_exception_handler(RequestValidationError, _request_validation_response)
    app.add_exception_handler(StarletteHTTPException, _http_error_response)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, all in the error shape."""
    descriptions = {
        400: "The body is not valid JSON.",
        401: "Missing, invalid, expired or revoked bearer token (or wrong credentials when signing in).",
        403: "The resource is visible to you but only its owner may change it.",
        404: "No such resource, or one you may not see.",
        409: "The resource changed state meanwhile.",
        413: "The body is over 10 MiB.",
        422: "Invalid parameters or body; `details` names each field.",
        429: "Rate limit exceeded; see `Retry-After` and the X-RateLimit-* headers.",
        500: "Unexpected error; the message carries the request id to report.",
        502: "An exchange refused to answer (e.g. HTTP 451 from a restricted region); the message says why.",
    }
    return {status: {"model": ErrorResponse, "description": descriptions[status]} for status in statuses}
