"""Walk-forwards: each train window optimised (any search method), its best parameters traded on the
test window after it, capital carried; run by the optimization state machine with one Map over
every window's batches (see shared.optimizations.walk_forward)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api import PREFIX
from api.dependencies import CurrentUser, Pagination, Services
from api.errors import error_responses
from api.routes.optimizations import OptimizationOut, OptimizationStatus, SweepCreate
from api.schemas import Decimal as DecimalNumber
from api.schemas import PageMeta, PerformanceSummary, UtcDateTime, round_numbers
from shared.optimizations.model import Optimization

router = APIRouter(prefix=f"{PREFIX}/walk_forwards", tags=["walk_forwards"], responses=error_responses(401, 429, 500))


class WalkForwardCreate(SweepCreate):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "strategy_id": "0b7e3c1e-4f5a-4d8b-9c1e-2f3a4b5c6d7e",
                    "symbol": "BTCUSDT",
                    "timeframe": "1h",
                    "start_time": "2023-01-01T00:00:00Z",
                    "end_time": "2024-01-01T00:00:00Z",
                    "initial_balance": 10000,
                    "parameters": {"fast": [5, 10, 20], "slow": [50, 100]},
                    "method": "grid",
                    "objective": "sharpe_ratio",
                    "train": "180d",
                    "test": "30d",
                    "step": "30d",
                    "anchored": False,
                }
            ]
        },
    )

    train: str = Field(
        pattern=r"^[1-9][0-9]{0,5}[mhdw]$",
        examples=["180d"],
        description="Each train window's length: a number of m, h, d or w.",
    )
    test: str = Field(pattern=r"^[1-9][0-9]{0,5}[mhdw]$", examples=["30d"], description="Each test window's length.")
    step: str | None = Field(
        None,
        pattern=r"^[1-9][0-9]{0,5}[mhdw]$",
        examples=["30d"],
        description="From one test window to the next (default: test).",
    )
    anchored: bool = Field(False, description="Train windows all start at start_time (else they roll).")


class WindowOut(BaseModel):
    window: int
    train_start: UtcDateTime
    train_end: UtcDateTime
    test_start: UtcDateTime
    test_end: UtcDateTime
    params: dict[str, int | float]
    in_sample: PerformanceSummary = Field(description="The chosen result's summary over the train window.")
    out_of_sample: PerformanceSummary = Field(description="Those parameters over the test window.")
    initial_balance: DecimalNumber = Field(description="Carried from the previous test window.")
    final_balance: DecimalNumber


class OosEquity(BaseModel):
    timestamps: list[UtcDateTime]
    equity: list[DecimalNumber]
    total_points: int = Field(description="Bars of all test windows (the points are evenly strided, last kept).")


class OutOfSample(BaseModel):
    initial_balance: DecimalNumber
    final_balance: DecimalNumber
    annualised_return: DecimalNumber = Field(description="Percent a year over the test windows' total span.")
    trades: list[dict[str, Any]] = Field(description="Every test window's trades, in order, with their window.")
    equity: OosEquity


class StabilityOut(BaseModel):
    values: list[int | float] = Field(description="The value chosen in each window.")
    mode: int | float
    mode_share: float
    coefficient_of_variation: DecimalNumber


class WalkForwardResult(BaseModel):
    windows: list[WindowOut]
    out_of_sample: OutOfSample
    in_sample_annualised_return: DecimalNumber = Field(description="Mean CAGR of the chosen results in sample.")
    walk_forward_efficiency: DecimalNumber = Field(description="OOS annualised return / IS annualised return.")
    parameter_stability: dict[str, StabilityOut]


class WalkForwardOut(OptimizationOut):
    train: str
    test: str
    step: str
    anchored: bool
    best: dict[str, Any] | None = Field(
        description="Once completed: the efficiency, the in-sample annualised "
        "return and the out-of-sample final balance."
    )
    result: WalkForwardResult | None = Field(None, description="Once completed.")


class WalkForwardList(BaseModel):
    data: list[WalkForwardOut]
    meta: PageMeta


def present(walk_forward: Optimization, result: dict[str, Any] | None = None) -> WalkForwardOut:
    spec = walk_forward.walk_forward or {}
    fields = asdict(walk_forward) | {
        "train": spec["train"],
        "test": spec["test"],
        "step": spec["step"] or spec["test"],
        "anchored": spec["anchored"],
        "best": round_numbers(walk_forward.best),
    }
    return WalkForwardOut.model_validate(fields | {"result": _result(result)})


def _result(result: dict[str, Any] | None) -> WalkForwardResult | None:
    if result is None:
        return None
    windows = [
        row
        | {
            name.removesuffix("_ms"): row[name]
            for name in ("train_start_ms", "train_end_ms", "test_start_ms", "test_end_ms")
        }
        for row in result["windows"]
    ]
    equity = result["out_of_sample"]["equity"]
    oos = result["out_of_sample"] | {
        "equity": {
            "timestamps": [_iso(ms) for ms in equity["timestamps_ms"]],
            "equity": equity["equity"],
            "total_points": equity["total_points"],
        }
    }
    return WalkForwardResult.model_validate(
        round_numbers(
            result
            | {
                "windows": [
                    w | {key: _iso(w[key]) for key in ("train_start", "train_end", "test_start", "test_end")}
                    for w in windows
                ],
                "out_of_sample": oos,
            }
        )
    )


def _iso(epoch_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat()


@router.post(
    "",
    status_code=202,
    response_model=WalkForwardOut,
    responses=error_responses(400, 404, 422),
    summary="Run a walk-forward",
    description="Lays the windows out from start_time, optimises each train window with the search "
    "method and runs its best parameters on the test window after it, capital carried.",
)
def create_walk_forward(body: WalkForwardCreate, user: CurrentUser, services: Services) -> WalkForwardOut:
    request = body.request(
        walk_forward={"train": body.train, "test": body.test, "step": body.step, "anchored": body.anchored}
    )
    return present(services.optimizations.create(user, request))


@router.get(
    "",
    response_model=WalkForwardList,
    responses=error_responses(422),
    summary="List your walk-forwards",
    description="Newest first.",
)
def list_walk_forwards(
    user: CurrentUser, services: Services, page: Pagination, status: OptimizationStatus | None = None
) -> WalkForwardList:
    found = services.optimizations.list(user, page, status, walk_forwards=True)
    return WalkForwardList(data=[present(w) for w in found.items], meta=found.meta())


@router.get(
    "/{walk_forward_id}",
    response_model=WalkForwardOut,
    responses=error_responses(404, 422),
    summary="Get a walk-forward",
    description="With its windows and stitched out-of-sample run once completed.",
)
def get_walk_forward(walk_forward_id: UUID, user: CurrentUser, services: Services) -> WalkForwardOut:
    return present(*services.optimizations.walk_forward_result(user, str(walk_forward_id)))
