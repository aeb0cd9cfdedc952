"""FastAPI dependencies shared by the routers: the services, the caller, the page window."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.wiring import ApiServices
from shared.accounts.auth import Unauthenticated
from shared.accounts.model import User
from shared.accounts.service import INVALID_TOKEN
from shared.pagination import MAX_PER_PAGE, PageRequest

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="The token from `POST /api/v1/sessions`, sent as `Authorization: Bearer <token>`.",
)


def services(request: Request) -> ApiServices:
    return request.app.state.services


def current_user(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]) -> User:
    """The caller, authenticated by the middleware from the bearer token; 401 without a valid one."""
    user = request.state.user
    if user is None:
        raise Unauthenticated(INVALID_TOKEN)
    return user


def page_request(
    page: Annotated[int | None, Query(ge=1, description="1-based page number (default 1).")] = None,
    per_page: Annotated[int | None, Query(ge=1, le=MAX_PER_PAGE, description="Items per page (default 20).")] = None,
    limit: Annotated[
        int | None,
        Query(ge=1, le=MAX_PER_PAGE, description="Items to return, from `offset` (instead of page and per_page)."),
    ] = None,
    offset: Annotated[int | None, Query(ge=0, description="Items to skip before the first one returned.")] = None,
) -> PageRequest:
    return PageRequest.parse(page=page, per_page=per_page, limit=limit, offset=offset)


Services = Annotated[ApiServices, Depends(services)]
CurrentUser = Annotated[User, Depends(current_user)]
Pagination = Annotated[PageRequest, Depends(page_request)]
