"""Optimizations (Level-2 contract): create (a parameter grid run through the optimization state
machine), list, get, and the ranked results."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api import PREFIX
from api.dependencies import CurrentUser, Pagination, Services
from api.errors import error_responses
from api.schemas import Decimal as DecimalNumber
from api.schemas import PageMeta, PerformanceSummary, Timeframe, UtcDateTime, UtcDateTimeInput, round_numbers
from shared.backtests import service as backtests
from shared.optimizations.service import DEFAULT_MAX_COMBINATIONS, Optimization, OptimizationRequest
from shared.optimizations.sweep import MAX_COMBINATIONS, OBJECTIVES

router = APIRouter(prefix=f"{PREFIX}/optimizations", tags=["optimizations"], responses=error_responses(401, 429, 500))

Objective = Literal[tuple(OBJECTIVES)]  # type: ignore[valid-type]
OptimizationStatus = Literal["pending", "running", "completed", "failed"]
_EXAMPLE = {
    "strategy_id": "0b7e3c1e-4f5a-4d8b-9c1e-2f3a4b5c6d7e", "symbol": "BTCUSDT", "timeframe": "1h",
    "start_time": "2024-01-01T00:00:00Z", "end_time": "2024-07-01T00:00:00Z", "initial_balance": 10000,
    "metadata": {"leverage": 1, "commission": 0.1},
    "parameters": {"fast": [5, 10, 20], "slow": {"start": 30, "stop": 90, "step": 20}, "config.stop_loss": [1, 2]},
    "objective": "sharpe_ratio", "max_combinations": 100,
}


class OptimizationMetadataIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    leverage: float = Field(backtests.DEFAULT_LEVERAGE, ge=backtests.MIN_LEVERAGE, le=backtests.MAX_LEVERAGE,
                            allow_inf_nan=False)
    commission: float = Field(backtests.DEFAULT_COMMISSION, ge=backtests.MIN_COMMISSION, le=backtests.MAX_COMMISSION,
                              allow_inf_nan=False, description="Percent of notional charged on each side.")


class OptimizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    strategy_id: UUID
    symbol: str = Field(min_length=1, max_length=30)
    timeframe: Timeframe
    start_time: UtcDateTimeInput
    end_time: UtcDateTimeInput
    initial_balance: float = Field(gt=0, le=backtests.MAX_INITIAL_BALANCE, allow_inf_nan=False)
    metadata: OptimizationMetadataIn = Field(default_factory=OptimizationMetadataIn)
    parameters: dict[str, Any] = Field(
        min_length=1,
        description="What to sweep: a name of the strategy's `config.parameters` (what rules reference as "
                    "`$name`) or a dotted path to any field (`config.stop_loss`, "
                    "`entry_rules.conditions[0].params.period`), each with a list of values or an inclusive "
                    "range `{start, stop, step}`. The grid is their cartesian product.")
    objective: Objective = Field("sharpe_ratio", description="The summary metric results are ranked by "
                                                             "(max_drawdown and max_drawdown_percentage: lowest first).")
    max_combinations: int = Field(DEFAULT_MAX_COMBINATIONS, ge=1, le=MAX_COMBINATIONS,
                                  description="A larger grid is refused (422).")


class OptimizationResultOut(BaseModel):
    rank: int = Field(description="1 is the best by the objective.")
    params: dict[str, int | float] = Field(examples=[{"fast": 10, "slow": 50, "config.stop_loss": 2}])
    objective_value: DecimalNumber = Field(description="null when the metric is undefined for this run.")
    final_balance: DecimalNumber
    performance_summary: PerformanceSummary


class OptimizationOut(BaseModel):
    id: UUID
    strategy_id: UUID
    strategy_name: str
    symbol: str
    timeframe: str
    start_time: UtcDateTime
    end_time: UtcDateTime
    initial_balance: DecimalNumber
    metadata: dict[str, Any]
    parameters: dict[str, Any]
    objective: str
    max_combinations: int
    combination_count: int = Field(description="Size of the grid.")
    status: OptimizationStatus
    progress: int = Field(ge=0, le=100, description="Percent done.")
    best: OptimizationResultOut | None = Field(description="The top-ranked result, once completed.")
    error: str | None = Field(description="Why a failed optimization failed.")
    created_at: UtcDateTime
    updated_at: UtcDateTime
    started_at: UtcDateTime | None
    completed_at: UtcDateTime | None


class OptimizationList(BaseModel):
    data: list[OptimizationOut]
    meta: PageMeta


class OptimizationResultList(BaseModel):
    data: list[OptimizationResultOut]
    meta: PageMeta


def present(optimization: Optimization) -> OptimizationOut:
    return OptimizationOut.model_validate(asdict(optimization) | {"best": _result(optimization.best)})


def _result(result: dict[str, Any] | None) -> OptimizationResultOut | None:
    if result is None:
        return None
    return OptimizationResultOut.model_validate(round_numbers(
        {key: result[key] for key in ("rank", "params", "objective_value", "final_balance", "performance_summary")}))


@router.post("", status_code=202, response_model=OptimizationOut, responses=error_responses(400, 404, 422),
             summary="Run an optimization",
             description="Validates every combination of the grid, then queues the optimization (status `pending`) "
                         "and starts it: each combination is a backtest over the whole range.")
def create_optimization(body: OptimizationCreate, user: CurrentUser, services: Services) -> OptimizationOut:
    request = OptimizationRequest(
        strategy_id=str(body.strategy_id), symbol=body.symbol, timeframe=body.timeframe, start_time=body.start_time,
        end_time=body.end_time, initial_balance=body.initial_balance, parameters=body.parameters,
        objective=body.objective, leverage=body.metadata.leverage, commission=body.metadata.commission,
        max_combinations=body.max_combinations,
    )
    return present(services.optimizations.create(user, request))


@router.get("", response_model=OptimizationList, responses=error_responses(422), summary="List your optimizations",
            description="Newest first.")
def list_optimizations(user: CurrentUser, services: Services, page: Pagination,
                       status: OptimizationStatus | None = None) -> OptimizationList:
    found = services.optimizations.list(user, page, status)
    return OptimizationList(data=[present(o) for o in found.items], meta=found.meta())


@router.get("/{optimization_id}", response_model=OptimizationOut, responses=error_responses(404, 422),
            summary="Get an optimization")
def get_optimization(optimization_id: UUID, user: CurrentUser, services: Services) -> OptimizationOut:
    return present(services.optimizations.get(user, str(optimization_id)))


@router.get("/{optimization_id}/results", response_model=OptimizationResultList,
            responses=error_responses(404, 409, 422), summary="An optimization's results, best first",
            description="Every combination with its parameters and performance summary, ranked by the objective; "
                        "409 until the optimization completed.")
def optimization_results(optimization_id: UUID, user: CurrentUser, services: Services,
                         page: Pagination) -> OptimizationResultList:
    found = services.optimizations.results(user, str(optimization_id), page)
    return OptimizationResultList(data=[_result(result) for result in found.items], meta=found.meta())
