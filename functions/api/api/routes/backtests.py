"""Backtests: create (queued on the state machine), list, get, cancel, delete."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal
from uuid import UUID

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from adapters.contracts import to_backtest_request
from api import PREFIX
from api.dependencies import CurrentUser, Pagination, Services
from api.errors import error_responses
from api.schemas import (
    BacktestCancelled,
    BacktestCreate,
    BacktestList,
    BacktestOut,
    BacktestSummaryOut,
    DrawdownPeriodList,
    DrawdownPeriodOut,
    EquityCurve,
    EquityPoints,
    OrderDir,
    Status,
    equity_curve,
    round_numbers,
)
from shared.backtests.model import Backtest
from shared.backtests.results import DEFAULT_POINTS
from shared.backtests.service import ORDER_FIELDS, BacktestFilters

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
    filters = BacktestFilters(
        strategy_id=str(strategy_id) if strategy_id else None,
        status=status,
        symbol=symbol,
        order_by=order_by,
        order_dir=order_dir,
    )
    found = services.backtests.list(user, filters, page)
    return BacktestList(data=[BacktestSummaryOut.model_validate(b) for b in found.items], meta=found.meta())


@router.post(
    "",
    status_code=202,
    response_model=BacktestOut,
    responses=error_responses(400, 404, 422),
    summary="Run a backtest",
    description="Queues the backtest (status `pending`) and starts its execution. The strategy must be "
    "yours or public; the symbol and timeframe must be in the market-data store. "
    "Rate limit: 10 creations per minute.",
)
def create_backtest(body: BacktestCreate, user: CurrentUser, services: Services) -> BacktestOut:
    backtest = services.backtests.create(user, to_backtest_request(body))
    metrics.add_metric(name="BacktestCreated", unit=MetricUnit.Count, value=1)
    return present(backtest)


@router.get(
    "/{backtest_id}",
    response_model=BacktestOut,
    responses=error_responses(404, 422),
    summary="Get a backtest",
    description="With `performance_summary` once it completed.",
)
def get_backtest(backtest_id: UUID, user: CurrentUser, services: Services) -> BacktestOut:
    return present(services.backtests.get(user, str(backtest_id)))


@router.delete(
    "/{backtest_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(404, 422),
    summary="Delete a backtest",
    description="Stops it if it runs; removes its trades and results.",
)
def delete_backtest(backtest_id: UUID, user: CurrentUser, services: Services) -> Response:
    services.backtests.delete(user, str(backtest_id))
    return Response(status_code=204)


@router.post(
    "/{backtest_id}/cancel",
    response_model=BacktestCancelled,
    responses=error_responses(404, 409, 422),
    summary="Cancel a backtest",
    description="Only a pending or running backtest can be cancelled (else 422).",
)
def cancel_backtest(backtest_id: UUID, user: CurrentUser, services: Services) -> BacktestCancelled:
    return BacktestCancelled.model_validate(services.backtests.cancel(user, str(backtest_id)))


@router.get(
    "/{backtest_id}/equity",
    response_model=EquityCurve,
    responses=error_responses(404, 409, 422),
    summary="A completed backtest's equity curve, downsampled, beside buy-and-hold",
    description="At most `points` points. Per time bucket the candles of the lowest and of the highest "
    "equity are kept, plus the first and the last candle and the peak and trough of the "
    "maximum drawdown: the last `equity` is `final_balance` and the maximum "
    "`drawdown_percentage` of the points is the summary's `max_drawdown_percentage`. "
    "409 until the backtest completed.",
)
def get_equity(
    backtest_id: UUID,
    user: CurrentUser,
    services: Services,
    points: EquityPoints = DEFAULT_POINTS,
) -> JSONResponse:
    return JSONResponse(equity_curve(services.results.equity_points(user, str(backtest_id), points)))


@router.get(
    "/{backtest_id}/drawdowns",
    response_model=DrawdownPeriodList,
    responses=error_responses(404, 409, 422),
    summary="A completed backtest's drawdown periods, deepest first",
    description="Each period runs from a peak (`start`) through its `trough` to the first candle back at "
    "or above the peak (`recovery`, null if it never recovered). 409 until completed.",
)
def list_drawdowns(backtest_id: UUID, user: CurrentUser, services: Services, page: Pagination) -> DrawdownPeriodList:
    found = services.results.drawdown_periods(user, str(backtest_id), page)
    return DrawdownPeriodList(
        data=[DrawdownPeriodOut.model_validate(round_numbers(p)) for p in found.items], meta=found.meta()
    )
