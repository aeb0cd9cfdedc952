"""Optimizations: create (a parameter grid run through the optimization state
machine), list, get, and the ranked results."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from adapters.contracts import BACKTEST_EXAMPLE, BacktestRun, RunCostsIn
from api import PREFIX
from api.dependencies import CurrentUser, Pagination, Services
from api.errors import error_responses
from api.schemas import Decimal as DecimalNumber
from api.schemas import (
    EquityCurve,
    EquityPoints,
    PageMeta,
    PerformanceSummary,
    RunTradeList,
    RunTradeOut,
    UtcDateTime,
    equity_curve,
    round_numbers,
)
from shared.backtests.results import DEFAULT_POINTS
from shared.optimizations.full_results import FULL_RESULTS
from shared.optimizations.model import Optimization
from shared.optimizations.service import DEFAULT_MAX_COMBINATIONS, MAX_BATCH_SIZE, OptimizationRequest
from shared.optimizations.sweep import MAX_COMBINATIONS, MAX_VALUES_PER_PARAMETER, RANKED_RESULTS
from shared.statuses import JOB_STATUSES

router = APIRouter(prefix=f"{PREFIX}/optimizations", tags=["optimizations"], responses=error_responses(401, 429, 500))

Method = Literal["grid", "random", "bayesian"]
Direction = Literal["max", "min"]
OptimizationStatus = Literal[JOB_STATUSES]  # type: ignore[valid-type]
_EXAMPLE = BACKTEST_EXAMPLE | {
    "parameters": {"fast": [5, 10, 20], "slow": {"start": 30, "stop": 90, "step": 20}, "config.stop_loss": [1, 2]},
    "objective": "sharpe_ratio",
    "max_combinations": 100,
}


# What `shared.optimization.parameter_values` accepts for one parameter (the range's count and
# stop >= start are checked there: JSON Schema cannot compare two fields).
_PARAMETER_VALUES = {
    "oneOf": [
        {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": MAX_VALUES_PER_PARAMETER},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["start", "stop", "step"],
            "properties": {
                "start": {"type": "number"},
                "stop": {"type": "number"},
                "step": {"type": "number", "exclusiveMinimum": 0},
            },
        },
    ]
}


class OptimizationMetadataIn(RunCostsIn):
    """An optimization's metadata: the run costs alone, under its own name in the OpenAPI document."""


class SweepCreate(BacktestRun):
    """What an optimization and a walk-forward share: the strategy, range, parameters and search."""

    metadata: OptimizationMetadataIn = Field(default_factory=OptimizationMetadataIn)
    parameters: dict[str, Any] = Field(
        min_length=1,
        json_schema_extra={"additionalProperties": _PARAMETER_VALUES},
        description="What to sweep: a name of the strategy's `config.parameters` (what rules reference as "
        "`$name`) or a dotted path to any field (`config.stop_loss`, "
        "`entry_rules.conditions[0].params.period`), each with a list of values or an inclusive "
        "range `{start, stop, step}`. The grid is their cartesian product.",
    )
    objective: str = Field(
        "sharpe_ratio",
        min_length=1,
        max_length=64,
        description="Any numeric metric of the performance summary, a sub-summary's by its "
        "dotted path (`long.total_pnl`); results are ranked by it.",
    )
    direction: Direction | None = Field(
        None, description="`max` or `min`; default `min` for drawdowns and max_consecutive_losses, else `max`."
    )
    max_combinations: int = Field(
        DEFAULT_MAX_COMBINATIONS,
        ge=1,
        le=MAX_COMBINATIONS,
        description="A larger grid (or more trials) is refused (422); the deployment's MaxCombinations caps it.",
    )
    method: Method = Field(
        "grid",
        description="`grid`: every combination; `random`: `n_trials` distinct "
        "combinations of the grid drawn with `seed`; `bayesian`: Optuna's TPE "
        "sampler, rounds of `batch_size` trials.",
    )
    n_trials: int | None = Field(None, ge=1, le=MAX_COMBINATIONS, description="random and bayesian: how many.")
    batch_size: int | None = Field(
        None, ge=1, le=MAX_BATCH_SIZE, description="bayesian: trials per round (default 10)."
    )
    seed: int | None = Field(
        None, ge=0, le=2**32 - 1, description="random and bayesian: the same seed, the same trials (default 0)."
    )
    constraints: list[str] = Field(
        default_factory=list,
        max_length=20,
        examples=[["fast < slow"]],
        description="Expressions over the swept parameters a combination must meet before "
        "it runs: numbers, parameter names, + - * / // %, comparisons, "
        "and/or/not.",
    )
    min_trades: int = Field(0, ge=0, le=1_000_000, description="Results with fewer closed trades rank last.")

    def request(self, **extra: Any) -> OptimizationRequest:
        return OptimizationRequest(
            strategy_id=str(self.strategy_id),
            symbol=self.symbol,
            timeframe=self.timeframe,
            start_time=self.start_time,
            end_time=self.end_time,
            initial_balance=self.initial_balance,
            parameters=self.parameters,
            objective=self.objective,
            leverage=self.metadata.leverage,
            commission=self.metadata.commission,
            max_combinations=self.max_combinations,
            method=self.method,
            direction=self.direction,
            constraints=tuple(self.constraints),
            min_trades=self.min_trades,
            n_trials=self.n_trials,
            batch_size=self.batch_size,
            seed=self.seed,
            **extra,
        )


class OptimizationCreate(SweepCreate):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    dry_run: bool = Field(
        False,
        description="Only check and estimate (200): combination and batch counts, Lambda "
        "GB-seconds, cost and ETA; nothing runs.",
    )


class OptimizationResultOut(BaseModel):
    rank: int = Field(description="1 is the best by the objective.")
    params: dict[str, int | float] = Field(examples=[{"fast": 10, "slow": 50, "config.stop_loss": 2}])
    objective_value: DecimalNumber = Field(description="null when the metric is undefined for this run.")
    final_balance: DecimalNumber
    performance_summary: PerformanceSummary


class OptimizationFullResultOut(OptimizationResultOut):
    trades: RunTradeList = Field(
        description="Its trades in entry order, as a backtest's (without the ids a stored backtest gives them), "
        "a page at a time (`page`, `per_page`, or `limit` and `offset`)."
    )
    equity: EquityCurve = Field(
        description="Its equity curve beside buy-and-hold, downsampled to at most `points` as "
        "`GET /backtests/{backtest_id}/equity` serves a backtest's."
    )


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
    direction: Direction
    method: Method
    n_trials: int | None
    batch_size: int | None
    seed: int | None
    constraints: list[str]
    min_trades: int
    max_combinations: int
    combination_count: int = Field(
        description="How many combinations run: the grid's size (after the constraints), "
        "the random sample's, or a Bayesian search's n_trials."
    )
    status: OptimizationStatus
    progress: int = Field(ge=0, le=100, description="Percent done.")
    best: OptimizationResultOut | None = Field(description="The top-ranked result, once completed.")
    error: str | None = Field(description="Why a failed optimization failed.")
    created_at: UtcDateTime
    updated_at: UtcDateTime
    started_at: UtcDateTime | None
    completed_at: UtcDateTime | None


class OptimizationEstimate(BaseModel):
    dry_run: Literal[True]
    method: Method
    combination_count: int
    batch_count: int
    rounds: int = Field(description="Sequential rounds (a Bayesian search's; 1 otherwise).")
    bars: int = Field(description="Candles of the range at the timeframe (what each combination runs over).")
    concurrency: int = Field(description="Batches at once (the deployment's MapMaxConcurrency).")
    lambda_gb_seconds: float
    estimated_cost_usd: float = Field(description="Lambda and Step Functions list prices, us-east-1.")
    eta_seconds: float


class Heatmap(BaseModel):
    x: str
    y: str
    metric: str
    x_values: list[float]
    y_values: list[float]
    values: list[list[DecimalNumber]] = Field(
        description="values[j][i]: the best metric at y_values[j], x_values[i] "
        "over the other parameters; null where nothing ran."
    )


class OptimizationList(BaseModel):
    data: list[OptimizationOut]
    meta: PageMeta


class OptimizationResultList(BaseModel):
    data: list[OptimizationResultOut]
    meta: PageMeta


def present(optimization: Optimization) -> OptimizationOut:
    return OptimizationOut.model_validate(asdict(optimization) | {"best": _result(optimization.best)})


def _result(result: dict[str, Any] | None) -> OptimizationResultOut | None:
    return None if result is None else _ranked(result)


def _ranked(result: dict[str, Any]) -> OptimizationResultOut:
    return OptimizationResultOut.model_validate(
        round_numbers(
            {key: result[key] for key in ("rank", "params", "objective_value", "final_balance", "performance_summary")}
        )
    )


@router.post(
    "",
    status_code=202,
    response_model=OptimizationOut,
    responses=error_responses(400, 404, 422)
    | {200: {"model": OptimizationEstimate, "description": "A dry run's estimate."}},
    summary="Run an optimization",
    description="Validates every combination, then queues the optimization (status `pending`) and starts "
    "it: each combination is a backtest over the whole range. With `dry_run: true`, answers "
    "the estimate (200) instead.",
)
def create_optimization(body: OptimizationCreate, user: CurrentUser, services: Services) -> Any:
    request = body.request()
    if body.dry_run:
        estimate = OptimizationEstimate.model_validate(services.optimizations.estimate(user, request))
        return JSONResponse(estimate.model_dump(mode="json"), status_code=200)
    return present(services.optimizations.create(user, request))


@router.get(
    "",
    response_model=OptimizationList,
    responses=error_responses(422),
    summary="List your optimizations",
    description="Newest first.",
)
def list_optimizations(
    user: CurrentUser, services: Services, page: Pagination, status: OptimizationStatus | None = None
) -> OptimizationList:
    found = services.optimizations.list(user, page, status)
    return OptimizationList(data=[present(o) for o in found.items], meta=found.meta())


@router.get(
    "/{optimization_id}",
    response_model=OptimizationOut,
    responses=error_responses(404, 422),
    summary="Get an optimization",
)
def get_optimization(optimization_id: UUID, user: CurrentUser, services: Services) -> OptimizationOut:
    return present(services.optimizations.get(user, str(optimization_id)))


@router.get(
    "/{optimization_id}/results",
    response_model=OptimizationResultList,
    responses=error_responses(404, 409, 422),
    summary="An optimization's results, best first",
    description=f"The best {RANKED_RESULTS:,} combinations (every one of a smaller sweep) with their parameters and "
    "performance summaries, ranked by the objective; "
    "409 until the optimization completed.",
)
def optimization_results(
    optimization_id: UUID, user: CurrentUser, services: Services, page: Pagination
) -> OptimizationResultList:
    found = services.optimizations.results(user, str(optimization_id), page)
    return OptimizationResultList(data=[_ranked(result) for result in found.items], meta=found.meta())


@router.get(
    "/{optimization_id}/heatmap",
    response_model=Heatmap,
    responses=error_responses(404, 409, 422),
    summary="A metric over two parameters",
    description="The grid of `metric` (default: the objective) over parameters `x` and `y`, each cell the best "
    "over the other parameters in the optimization's direction; 409 until completed.",
)
def optimization_heatmap(
    optimization_id: UUID,
    user: CurrentUser,
    services: Services,
    x: str = Query(min_length=1, max_length=200),
    y: str = Query(min_length=1, max_length=200),
    metric: str | None = Query(None, min_length=1, max_length=64),
) -> Heatmap:
    return Heatmap.model_validate(
        round_numbers(services.optimizations.heatmap(user, str(optimization_id), x, y, metric))
    )


@router.get(
    "/{optimization_id}/results/{rank}",
    response_model=OptimizationFullResultOut,
    responses=error_responses(404, 409, 422),
    summary="One of the best results in full: its trades and equity curve",
    description=f"Rank `rank` of the ranking (1 the best) with its trades and equity curve, from that combination "
    f"run again as a single backtest on the same candles once the sweep was ranked. Only the best {FULL_RESULTS} "
    "are kept in full (every one of a smaller sweep); another rank is a 404: run that combination as a "
    "backtest. 409 until the optimization completed.",
)
def optimization_full_result(
    optimization_id: UUID,
    rank: Annotated[int, Path(ge=1, description="The result's rank, 1 the best.")],
    user: CurrentUser,
    services: Services,
    page: Pagination,
    points: EquityPoints = DEFAULT_POINTS,
) -> JSONResponse:
    result, trades, equity = services.optimizations.full_result(user, str(optimization_id), rank, page, points)
    trade_page = RunTradeList(data=[RunTradeOut.model_validate(trade) for trade in trades.items], meta=trades.meta())
    # Built as JSON (the equity curve as the backtests' equity route builds it) rather than validated whole
    return JSONResponse(
        _ranked(result).model_dump(mode="json")
        | {"trades": trade_page.model_dump(mode="json"), "equity": equity_curve(equity)}
    )
