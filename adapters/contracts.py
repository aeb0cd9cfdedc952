"""The request bodies the service accepts from its users, as pydantic models, wherever they arrive:
the REST API validates its bodies with them (`functions/api/api/schemas.py` re-exports them into
the OpenAPI document) and so does every function that reads the same requests from S3 (a backtest
batch's entries, `adapters.backtest_batches`). Here rather than in `shared/`, which stays free of
pydantic, or in the API's package, which no other function ships; `shared` receives the domain
requests (`BacktestRequest`) they convert to.

Rules of every body: no unknown fields and no type coercion (`RequestBody`); date-times are RFC
3339 text with a timezone, converted to UTC milliseconds; a UUID arrives as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from shared.backtest_settings import BacktestSettings
from shared.backtests import service as backtests
from shared.backtests.service import BacktestMetadata, BacktestRequest
from shared.errors import FieldError, ValidationFailed
from shared.timeframes import TIMEFRAMES
from shared.times import to_millisecond

# RFC 3339, what the document's `format: date-time` promises (pydantic alone would also take epoch numbers).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339_text(value: Any) -> Any:
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise PydanticCustomError(
            "datetime_format", "must be an ISO-8601 date-time with a timezone, such as 2024-01-01T00:00:00Z"
        )
    return value


UtcDateTimeInput = Annotated[
    AwareDatetime, Field(strict=False), BeforeValidator(_rfc3339_text), AfterValidator(to_millisecond)
]
Id = Annotated[UUID, Field(strict=False)]  # a UUID arrives as JSON text: the one lax type of a request body
Timeframe = Literal[TIMEFRAMES]  # type: ignore[valid-type]


class RequestBody(BaseModel):
    """A JSON request body: no unknown fields and no type coercion ("5" is not a number, "false"
    not a boolean), so what validation accepts is exactly what the OpenAPI document describes."""

    model_config = ConfigDict(extra="forbid", strict=True)


# ------------------------------------------------------------------ backtests
class RunCostsIn(RequestBody):
    # The leverage and commission every run over candles takes: a backtest's metadata adds its
    # fills and data options, an optimization's (`api.routes.optimizations`) is these alone.
    leverage: float = Field(
        BacktestSettings.leverage,
        ge=BacktestSettings.MIN_LEVERAGE,
        le=BacktestSettings.MAX_LEVERAGE,
        allow_inf_nan=False,
    )
    commission: float = Field(
        BacktestSettings.commission,
        ge=BacktestSettings.MIN_COMMISSION,
        le=BacktestSettings.MAX_COMMISSION,
        allow_inf_nan=False,
        description="Percent of notional charged on each side.",
    )


class BacktestMetadataIn(RunCostsIn):
    chunks: int | None = Field(
        None,
        ge=1,
        le=backtests.MAX_CHUNKS,
        description="Force the number of parallel chunks (default: planned from the data size).",
    )
    maker_fee: float | None = Field(
        None,
        ge=-BacktestSettings.MAX_COMMISSION,
        le=BacktestSettings.MAX_COMMISSION,
        allow_inf_nan=False,
        description="Percent of notional on limit fills (limit entries, take-profits); default: commission.",
    )
    taker_fee: float | None = Field(
        None,
        ge=-BacktestSettings.MAX_COMMISSION,
        le=BacktestSettings.MAX_COMMISSION,
        allow_inf_nan=False,
        description="Percent of notional on market and stop fills; default: commission.",
    )
    slippage_ticks: float | None = Field(
        None,
        ge=0,
        le=BacktestSettings.MAX_SLIPPAGE_TICKS,
        allow_inf_nan=False,
        description="Market fills move this many price ticks adversely (needs `exchange` rules with a tick size).",
    )
    funding: bool | None = Field(
        None,
        description="Charge perpetual funding while a position is open, from the "
        "stored funding rates (422 when the range has none).",
    )
    intrabar_timeframe: Timeframe | None = Field(
        None, description="Resolve fills inside a bar on stored candles of this finer timeframe."
    )
    same_bar_priority: Literal["stop_loss", "take_profit"] | None = Field(
        None,
        description="Without intrabar data, which of a stop and a target inside one bar fills first "
        "(default stop_loss).",
    )
    exchange: Literal["binance", "bybit"] | None = Field(
        None, description="Apply the symbol's stored rules on this exchange (tick size, lot size, min notional)."
    )
    market: Literal["spot", "linear"] | None = Field(None, description="The exchange's market (default spot).")


class BacktestRun(RequestBody):
    """What every run over candles names: the strategy, the series, the range and the balance
    (a backtest's body; an optimization's and a walk-forward's add their search)."""

    strategy_id: Id
    symbol: str = Field(min_length=1, max_length=30)
    timeframe: Timeframe
    start_time: UtcDateTimeInput
    end_time: UtcDateTimeInput
    initial_balance: float = Field(
        ge=BacktestSettings.MIN_INITIAL_BALANCE, le=BacktestSettings.MAX_INITIAL_BALANCE, allow_inf_nan=False
    )


# The documented example of a backtest's body; an optimization's (`api.routes.optimizations`) adds its search.
BACKTEST_EXAMPLE = {
    "strategy_id": "0b7e3c1e-4f5a-4d8b-9c1e-2f3a4b5c6d7e",
    "symbol": "BTCUSDT",
    "timeframe": "1h",
    "start_time": "2024-01-01T00:00:00Z",
    "end_time": "2024-07-01T00:00:00Z",
    "initial_balance": 10000,
    "metadata": {"leverage": 1, "commission": 0.1},
}


class BacktestCreate(BacktestRun):
    model_config = ConfigDict(json_schema_extra={"examples": [BACKTEST_EXAMPLE]})

    metadata: BacktestMetadataIn = Field(default_factory=BacktestMetadataIn)


def to_backtest_request(body: BacktestCreate) -> BacktestRequest:
    """The domain's request for a validated body."""
    return BacktestRequest(
        strategy_id=str(body.strategy_id),
        symbol=body.symbol,
        timeframe=body.timeframe,
        start_time=body.start_time,
        end_time=body.end_time,
        initial_balance=body.initial_balance,
        metadata=BacktestMetadata(**body.metadata.model_dump()),
    )


def backtest_request(document: Any, path: str = "") -> BacktestRequest:
    """A parsed JSON document as a BacktestRequest, validated exactly as POST /api/v1/backtests
    validates its body; ValidationFailed naming every bad field under `path` (`backtests[3].symbol`)."""
    try:
        return to_backtest_request(BacktestCreate.model_validate(document))
    except ValidationError as error:
        raise ValidationFailed("invalid backtest", field_errors(error, path, document)) from None


# The discriminators of the bodies that are unions (`source`: a transaction import's file | exchange).
DISCRIMINATORS = ("source",)
_TAG_ERRORS = ("union_tag_invalid", "union_tag_not_found")


def field_errors(error: ValidationError, path: str = "", body: Any = None) -> list[FieldError]:
    """pydantic's problems as the service's field errors, each under `path`."""
    errors = []
    for problem in error.errors():
        name = problem_field(problem, body)
        if path:
            name = path if name == "body" else f"{path}{'' if name.startswith('[') else '.'}{name}"
        errors.append(FieldError(name, problem["msg"]))
    return errors


def problem_field(problem: Mapping[str, Any], body: Any = None) -> str:
    """The field a pydantic problem is about. In a body that is a union told apart by a
    discriminator, pydantic puts the member's tag in the location ("body", "file", "file_content"):
    the field is "file_content"; and a missing or unknown tag is the discriminator's problem."""
    location = tuple(problem["loc"])
    if problem["type"] in _TAG_ERRORS:
        return field_name((*location, str(problem.get("ctx", {}).get("discriminator", "")).strip("'")))
    inner = location[1:] if location[:1] == ("body",) else location
    if len(inner) > 1 and isinstance(body, Mapping) and any(inner[0] == body.get(key) for key in DISCRIMINATORS):
        location = location[: len(location) - len(inner)] + inner[1:]
    return field_name(location)


def field_name(location: Sequence[Any]) -> str:
    """pydantic's error location as the API's dotted field path: ("body", "config", "x") -> "config.x",
    ("query", "per_page") -> "per_page", list positions as `[i]`."""
    parts = list(location[1:]) if location and location[0] in ("body", "query", "path", "header") else list(location)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or str(location[0] if location else "body")
