"""Backtests: create (queued on the state machine), list, get, cancel, delete."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal
from uuid import UUID

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from fastapi import APIRouter, Query, Response

from api import PREFIX
from api.dependencies import CurrentUser, Pagination, Services
from api.errors import error_responses
from api.schemas import (
    BacktestCancelled,
    BacktestCreate,
    BacktestList,
    BacktestOut,
    BacktestSummaryOut,
    OrderDir,
    Status,
    round_numbers,
)
from shared.backtests.service import ORDER_FIELDS, BacktestFilters, BacktestMetadata, BacktestRequest
from shared.backtests.model import Backtest

metrics = Metrics()
router = APIRouter(prefix=f"{PREFIX}/backtests", tags=["backtests"], responses=error_responses(401, 429, 500))


def present(backtest: Backtest) -> BacktestOut:
    summary = backtest.performance_summary
    return BacktestOut.model_validate(replace(backtest, performance_summary=round_numbers(summary)))


@router.get("", response_model=BacktestList, responses=error_responses(422), summary="List your backtests")
def list_backtests(
    user: CurrentUser,
    services: Services,
    page: Pagination,
    strategy_id: UUID | None = None,
    status: Status | None = None,
    symbol: Annotated[str | None, Query(max_length=30)] = None,
    order_by: Literal[ORDER_FIELDS] = "created_at",  # type: ignore[valid-type]
    order_dir: OrderDir = "desc",
) -> BacktestList:
    filters = BacktestFilters(strategy_id=str(strategy_id) if strategy_id else None, status=status, symbol=symbol,
                              order_by=order_by, order_dir=order_dir)
    found = services.backtests.list(user, filters, page)
    return BacktestList(data=[BacktestSummaryOut.model_validate(b) for b in found.items], meta=found.meta())


@router.post("", status_code=202, response_model=BacktestOut, responses=error_responses(400, 404, 422),
             summary="Run a backtest",
             description="Queues the backtest (status `pending`) and starts its execution. The strategy must be "
                         "yours or public; the symbol and timeframe must be in the market-data store. "
                         "Rate limit: 10 creations per minute.")
def create_backtest(body: BacktestCreate, user: CurrentUser, services: Services) -> BacktestOut:
    request = BacktestRequest(
        strategy_id=str(body.strategy_id), symbol=body.symbol, timeframe=body.timeframe,
        start_time=body.start_time, end_time=body.end_time, initial_balance=body.initial_balance,
        metadata=BacktestMetadata(**body.metadata.model_dump()),
    )
    backtest = services.backtests.create(user, request)
    metrics.add_metric(name="BacktestCreated", unit=MetricUnit.Count, value=1)
    return present(backtest)


@router.get("/{backtest_id}", response_model=BacktestOut, responses=error_responses(404, 422),
            summary="Get a backtest", description="With `performance_summary` once it completed.")
def get_backtest(backtest_id: UUID, user: CurrentUser, services: Services) -> BacktestOut:
    return present(services.backtests.get(user, str(backtest_id)))


@router.delete("/{backtest_id}", status_code=204, response_class=Response, responses=error_responses(404, 422),
               summary="Delete a backtest", description="Stops it if it runs; removes its trades and results.")
def delete_backtest(backtest_id: UUID, user: CurrentUser, services: Services) -> Response:
    services.backtests.delete(user, str(backtest_id))
    return Response(status_code=204)


@router.post("/{backtest_id}/cancel", response_model=BacktestCancelled, responses=error_responses(404, 409, 422),
             summary="Cancel a backtest", description="Only a pending or running backtest can be cancelled (else 422).")
def cancel_backtest(backtest_id: UUID, user: CurrentUser, services: Services) -> BacktestCancelled:
    return BacktestCancelled.model_validate(services.backtests.cancel(user, str(backtest_id)))
