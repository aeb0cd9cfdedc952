"""Monte Carlo analysis of a completed backtest: resampled trade returns (or blocks of bar returns)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api import PREFIX
from api.dependencies import CurrentUser, Services
from api.errors import error_responses
from api.schemas import Decimal as DecimalNumber
from api.schemas import RequestBody, round_numbers
from shared.backtests.model import MAX_SIMULATIONS, MonteCarloRequest

router = APIRouter(prefix=f"{PREFIX}/backtests", tags=["backtests"], responses=error_responses(401, 429, 500))

Method = Literal["trade_permutation", "trade_bootstrap", "block_bootstrap"]


class MonteCarloCreate(RequestBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"simulations": 1000, "method": "trade_bootstrap", "seed": 42}]}
    )

    simulations: int = Field(1_000, ge=1, le=MAX_SIMULATIONS)
    method: Method = Field(
        "trade_permutation",
        description=(
            "`trade_permutation`: the closed trades' returns in random orders; `trade_bootstrap`: as many returns "
            "drawn with replacement; `block_bootstrap`: blocks of `block` consecutive bar returns of the equity "
            "curve, drawn with replacement."
        ),
    )
    block: int = Field(20, ge=1, le=100_000, description="block_bootstrap: bars per block.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="The same seed, the same answer.")
    ruin_threshold: float = Field(
        0.5,
        gt=0,
        lt=1,
        allow_inf_nan=False,
        description="Ruin: the equity ever below this fraction of the initial balance.",
    )


class Percentiles(BaseModel):
    p5: DecimalNumber
    p25: DecimalNumber
    p50: DecimalNumber
    p75: DecimalNumber
    p95: DecimalNumber
    mean: DecimalNumber


class EquityBands(BaseModel):
    unit: Literal["trade", "bar"] = Field(description="What a step counts: closed trades or bars.")
    steps: list[int] = Field(description="The path's steps the bands are sampled at (0 = the start).")
    p5: list[DecimalNumber]
    p25: list[DecimalNumber]
    p50: list[DecimalNumber]
    p75: list[DecimalNumber]
    p95: list[DecimalNumber]


class MonteCarloOut(BaseModel):
    backtest_id: UUID
    method: Method
    simulations: int
    block: int
    seed: int
    ruin_threshold: float
    trades: int | None = Field(
        description="Closed trades of the backtest (the returns resampled); null for "
        "block_bootstrap, which resamples bars."
    )
    initial_balance: DecimalNumber
    backtest_final_balance: DecimalNumber
    final_balance: Percentiles
    max_drawdown_percentage: Percentiles
    cagr: Percentiles = Field(description="Percent a year over the backtest's range.")
    probability_of_ruin: float
    equity_bands: EquityBands


@router.post(
    "/{backtest_id}/monte_carlo",
    response_model=MonteCarloOut,
    responses=error_responses(404, 409, 422),
    summary="Monte Carlo analysis of a backtest",
    description="Resamples the completed backtest's trade returns (not absolute pnl) or blocks of its bar "
    "returns: percentiles (5, 25, 50, 75, 95) of the final balance, max drawdown % and CAGR, "
    "the probability of ruin, and percentile bands of the equity path. Deterministic for a seed.",
)
def monte_carlo(backtest_id: UUID, body: MonteCarloCreate, user: CurrentUser, services: Services) -> MonteCarloOut:
    request = MonteCarloRequest(
        method=body.method,
        simulations=body.simulations,
        seed=body.seed,
        block=body.block,
        ruin_threshold=body.ruin_threshold,
    )
    return MonteCarloOut.model_validate(round_numbers(services.analyses.monte_carlo(user, str(backtest_id), request)))
