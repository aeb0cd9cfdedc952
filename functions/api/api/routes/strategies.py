"""Strategies CRUD."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api import PREFIX
from api.dependencies import CurrentUser, Pagination, Services
from api.errors import error_responses
from api.schemas import OrderDir, StrategyCreate, StrategyList, StrategyOut, StrategySummaryOut, StrategyUpdate
from shared.strategies.service import ORDER_FIELDS, SCOPE_OWN, SCOPE_PUBLIC, StrategyDraft, StrategyFilters

router = APIRouter(prefix=f"{PREFIX}/strategies", tags=["strategies"], responses=error_responses(401, 429, 500))


@router.get("", response_model=StrategyList, responses=error_responses(422), summary="List strategies")
def list_strategies(
    user: CurrentUser,
    services: Services,
    page: Pagination,
    is_active: bool | None = None,
    strategy_type: Annotated[str | None, Query(max_length=64)] = None,
    scope: Annotated[
        Literal[SCOPE_OWN, SCOPE_PUBLIC],
        Query(description="`own`: yours (default); `public`: every user's public strategies."),
    ] = SCOPE_OWN,
    order_by: Literal[ORDER_FIELDS] = "created_at",  # type: ignore[valid-type]
    order_dir: OrderDir = "desc",
) -> StrategyList:
    filters = StrategyFilters(
        scope=scope, is_active=is_active, strategy_type=strategy_type, order_by=order_by, order_dir=order_dir
    )
    found = services.strategies.list(user, filters, page)
    return StrategyList(data=[StrategySummaryOut.model_validate(s) for s in found.items], meta=found.meta())


@router.post(
    "",
    status_code=201,
    response_model=StrategyOut,
    responses=error_responses(400, 422),
    summary="Create a strategy",
    description="The rules and config are validated by the engine; each problem is one `details` entry.",
)
def create_strategy(body: StrategyCreate, user: CurrentUser, services: Services) -> StrategyOut:
    return StrategyOut.model_validate(services.strategies.create(user, StrategyDraft(**body.model_dump())))


@router.get(
    "/{strategy_id}",
    response_model=StrategyOut,
    responses=error_responses(404, 422),
    summary="Get a strategy",
    description="Your own strategies and every public one.",
)
def get_strategy(strategy_id: UUID, user: CurrentUser, services: Services) -> StrategyOut:
    return StrategyOut.model_validate(services.strategies.get(user, str(strategy_id)))


@router.put(
    "/{strategy_id}",
    response_model=StrategyOut,
    responses=error_responses(400, 403, 404, 422),
    summary="Update a strategy",
    description="Send the whole strategy or only the fields to change; the result is validated as a whole.",
)
def update_strategy(strategy_id: UUID, body: StrategyUpdate, user: CurrentUser, services: Services) -> StrategyOut:
    changes = body.model_dump(exclude_unset=True)
    return StrategyOut.model_validate(services.strategies.update(user, str(strategy_id), changes))


@router.delete(
    "/{strategy_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(403, 404, 422),
    summary="Delete a strategy",
    description="Backtests already run keep their copy of the strategy.",
)
def delete_strategy(strategy_id: UUID, user: CurrentUser, services: Services) -> Response:
    services.strategies.delete(user, str(strategy_id))
    return Response(status_code=204)
