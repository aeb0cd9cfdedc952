"""Request and response bodies, and the API's two formatting rules.

- Datetimes: ISO-8601 in UTC with milliseconds and `Z` (`2024-01-01T00:00:00.000Z`, what
  JavaScript's `toISOString()` prints). Inputs must carry a timezone; they are converted to UTC.
- Decimals (prices, balances, quantities, pnl, ratios): JSON numbers, rounded to 12 significant
  digits (floats carry ~15.9; the rounding drops binary noise such as 0.30000000000000004 but
  never changes a value by more than 5e-13 relative). A value that is not a finite number (a
  ratio with nothing to divide by) is `null`. Percentages are in percent (2 = 2 %).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from fastapi import Query
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    create_model,
)

# The request contracts shared with the other functions, re-exported for the routes.
from adapters.contracts import BacktestCreate as BacktestCreate
from adapters.contracts import BacktestMetadataIn as BacktestMetadataIn
from adapters.contracts import Id as Id
from adapters.contracts import RequestBody as RequestBody
from adapters.contracts import Timeframe as Timeframe
from adapters.contracts import UtcDateTimeInput as UtcDateTimeInput
from shared.accounts import service as accounts
from shared.backtests.results import MAX_POINTS, MIN_POINTS
from shared.statuses import BACKTEST_STATUSES
from shared.strategies import service as strategies
from shared.times import iso_utc_ms

if TYPE_CHECKING:
    from shared.backtests.equity import SeriesPoints

SIGNIFICANT_DIGITS = 12


def round_decimal(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def round_numbers(document: Any) -> Any:
    """A JSON document with every float rounded as a decimal (ints, strings, bools unchanged)."""
    if isinstance(document, float):
        return round_decimal(document)
    if isinstance(document, dict):
        return {key: round_numbers(value) for key, value in document.items()}
    if isinstance(document, list):
        return [round_numbers(value) for value in document]
    return document


UtcDateTime = Annotated[
    datetime,
    PlainSerializer(iso_utc_ms, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2024-01-01T00:00:00.000Z"]}),
]
Decimal = Annotated[
    float | None,
    PlainSerializer(round_decimal, return_type=float | None, when_used="json"),
    WithJsonSchema({"type": ["number", "null"], "examples": [10432.17]}),
]
Status = Literal[BACKTEST_STATUSES]  # type: ignore[valid-type]
OrderDir = Literal["asc", "desc"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageMeta(BaseModel):
    page: int = Field(examples=[1])
    per_page: int = Field(examples=[20])
    total_pages: int = Field(examples=[3])
    total_count: int = Field(examples=[47])
    offset: int = Field(examples=[0])


# ------------------------------------------------------------------ users and sessions
class UserCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}]
        }
    )

    email: str = Field(max_length=accounts.MAX_EMAIL_LENGTH, pattern=accounts.EMAIL_PATTERN)
    password: str = Field(min_length=accounts.MIN_PASSWORD_LENGTH, max_length=accounts.MAX_PASSWORD_LENGTH)
    name: str = Field(min_length=1, max_length=accounts.MAX_NAME_LENGTH, pattern=accounts.NAME_PATTERN)


class SessionCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "ada@example.com", "password": "correct horse battery"}]}
    )

    email: str = Field(min_length=1, max_length=accounts.MAX_EMAIL_LENGTH)
    password: str = Field(max_length=accounts.MAX_PASSWORD_LENGTH)


class UserOut(_Out):
    id: UUID
    email: str = Field(examples=["ada@example.com"])
    name: str = Field(examples=["Ada"])
    created_at: UtcDateTime


class SessionOut(BaseModel):
    token: str = Field(
        description="Send it as `Authorization: Bearer <token>`.",
        examples=["q3J0c2VjcmV0LXRva2VuLWV4YW1wbGUtMzItYnl0ZXMtbG9uZw"],
    )
    expires_at: UtcDateTime
    user: UserOut


# ------------------------------------------------------------------ strategies
_RULES_EXAMPLE = {
    "operator": "and",
    "conditions": [
        {
            "indicator": "sma",
            "params": {"period": 10},
            "comparator": "crosses_above",
            "value": {"indicator": "sma", "params": {"period": 50}},
        }
    ],
}
_EXIT_EXAMPLE = {
    "operator": "or",
    "conditions": [
        {
            "indicator": "sma",
            "params": {"period": 10},
            "comparator": "crosses_below",
            "value": {"indicator": "sma", "params": {"period": 50}},
        }
    ],
}
_STRATEGY_EXAMPLE = {
    "name": "SMA 10/50 cross",
    "description": "Long when the fast average crosses above the slow one.",
    "strategy_type": "trend",
    "entry_rules": _RULES_EXAMPLE,
    "exit_rules": _EXIT_EXAMPLE,
    "config": {"position_sizing": "percent_of_equity", "risk_percentage": 50, "stop_loss": 2, "take_profit": 4},
    "is_active": True,
    "is_public": False,
}
Rules = Annotated[
    dict[str, Any],
    Field(description="A rule group: `{operator: and|or, conditions: [...]}`.", examples=[_RULES_EXAMPLE]),
]


class StrategyCreate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [_STRATEGY_EXAMPLE]})

    name: str = Field(min_length=1, max_length=strategies.MAX_NAME_LENGTH)
    description: str = Field("", max_length=strategies.MAX_DESCRIPTION_LENGTH)
    strategy_type: str | None = Field(
        None, max_length=strategies.MAX_TYPE_LENGTH, description="A free label to group and filter strategies by."
    )
    entry_rules: Rules
    exit_rules: Rules
    config: dict[str, Any] = Field(default_factory=dict, description="Sizing, stops (in percent), parameters.")
    short_entry_rules: Rules | None = Field(
        None,
        description="With config.direction both: the short side's entry "
        "rules (entry_rules/exit_rules are the long side's).",
    )
    short_exit_rules: Rules | None = Field(None, description="With config.direction both: the short side's exit rules.")
    is_active: bool = True
    is_public: bool = Field(False, description="Public strategies are readable (not writable) by every user.")


class StrategyUpdate(RequestBody):
    """Any subset of the fields of a new strategy; absent fields keep their value."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"is_active": False}, _STRATEGY_EXAMPLE]})

    name: str = Field(None, min_length=1, max_length=strategies.MAX_NAME_LENGTH)
    description: str | None = Field(None, max_length=strategies.MAX_DESCRIPTION_LENGTH)
    strategy_type: str | None = Field(None, max_length=strategies.MAX_TYPE_LENGTH)
    entry_rules: Rules = None
    exit_rules: Rules = None
    config: dict[str, Any] = None
    short_entry_rules: Rules | None = None
    short_exit_rules: Rules | None = None
    is_active: bool = None
    is_public: bool = None


class StrategySummaryOut(_Out):
    id: UUID
    owner_id: UUID
    name: str = Field(examples=["SMA 10/50 cross"])
    description: str
    strategy_type: str | None
    is_active: bool
    is_public: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime


class StrategyOut(StrategySummaryOut):
    entry_rules: dict[str, Any]
    exit_rules: dict[str, Any]
    config: dict[str, Any]
    short_entry_rules: dict[str, Any] | None = None
    short_exit_rules: dict[str, Any] | None = None


class StrategyList(BaseModel):
    data: list[StrategySummaryOut]
    meta: PageMeta


# ------------------------------------------------------------------ backtests
class SideSummary(BaseModel):
    """The closed trades of one side (long or short)."""

    trades: int
    win_rate: Decimal = None
    total_pnl: Decimal = None
    profit_factor: Decimal = None


class PerformanceSummary(BaseModel):
    """A backtest's performance: returns, drawdown, trade statistics and risk ratios (CAGR, Calmar,
    exposure, ...); ratios with nothing to divide by are null."""

    model_config = ConfigDict(extra="allow")

    total_trades: int | None = None
    winning_trades: int | None = None
    losing_trades: int | None = None
    win_rate: Decimal = None
    profit_factor: Decimal = None
    max_drawdown: Decimal = None
    max_drawdown_percentage: Decimal = None
    sharpe_ratio: Decimal = None
    sortino_ratio: Decimal = None
    total_pnl: Decimal = None
    total_pnl_percentage: Decimal = None
    ambiguous_bars: int | None = Field(
        None,
        description="Exits whose order inside one bar the bar's OHLC could not "
        "decide (same_bar_priority or the finer candles decided).",
    )
    funding_paid: Decimal = Field(None, description="Funding paid over the backtest (negative: received).")
    skipped_orders: int | None = Field(None, description="Orders skipped for being below the symbol's min notional.")
    gross_profit: Decimal = None
    gross_loss: Decimal = None
    largest_win: Decimal = None
    largest_loss: Decimal = None
    break_even_trades: int | None = None
    max_consecutive_wins: int | None = None
    average_trade: Decimal = None
    win_loss_ratio: Decimal = None
    commission_paid: Decimal = None
    average_bars_in_trade: Decimal = None
    average_bars_in_winning_trade: Decimal = None
    average_bars_in_losing_trade: Decimal = None
    average_trade_duration: Decimal = Field(None, description="Seconds.")
    recovery_factor: Decimal = None
    ulcer_index: Decimal = None
    sqn: Decimal = None
    kelly: Decimal = None
    max_run_up: Decimal = None
    max_run_up_percentage: Decimal = None
    average_drawdown_duration: Decimal = Field(None, description="Bars.")
    max_drawdown_duration: int | None = Field(None, description="Bars.")
    trades_per_day: Decimal = None
    long: SideSummary | None = None
    short: SideSummary | None = None
    buy_and_hold_outperformance: Decimal = None


class BacktestSummaryOut(_Out):
    id: UUID
    strategy_id: UUID
    strategy_name: str
    symbol: str = Field(examples=["BTCUSDT"])
    timeframe: str = Field(examples=["1h"])
    start_time: UtcDateTime
    end_time: UtcDateTime
    initial_balance: Decimal
    final_balance: Decimal
    status: Status
    progress: int = Field(ge=0, le=100, description="Percent done.")
    created_at: UtcDateTime
    updated_at: UtcDateTime


class BacktestOut(BacktestSummaryOut):
    metadata: dict[str, Any] = Field(examples=[{"leverage": 1, "commission": 0.1}])
    performance_summary: PerformanceSummary | None = Field(description="Present once the backtest completed.")
    error: str | None = Field(description="Why a failed backtest failed.")
    started_at: UtcDateTime | None
    completed_at: UtcDateTime | None


class BacktestList(BaseModel):
    data: list[BacktestSummaryOut]
    meta: PageMeta


class BacktestCancelled(_Out):
    id: UUID
    status: Status
    updated_at: UtcDateTime


# ------------------------------------------------------------------ trades
class TradeOut(_Out):
    id: UUID
    backtest_id: UUID
    entry_time: UtcDateTime
    entry_price: Decimal
    exit_time: UtcDateTime | None = Field(description="null while the trade is still open at the end.")
    exit_price: Decimal = Field(description="For a trade still open: the last close it is marked at.")
    quantity: Decimal
    side: Literal["long", "short"]
    pnl: Decimal
    pnl_percentage: Decimal
    fees: Decimal
    entry_reason: str = Field(examples=["signal"])
    exit_reason: str = Field(examples=["take_profit"])
    funding: Decimal = Field(0.0, description="Funding paid while open (negative: received), in the pnl.")
    leg: int = Field(1, ge=1, description="Which part of a position closed in parts (take-profit levels) this is.")
    created_at: UtcDateTime
    mae: Decimal = Field(
        None,
        description="Maximum adverse excursion in price (>= 0) while open; "
        "null for trades stored before it was recorded.",
    )
    mfe: Decimal = Field(None, description="Maximum favourable excursion in price (>= 0) while open.")
    mae_percentage: Decimal = Field(None, description="mae in percent of the entry price.")
    mfe_percentage: Decimal = Field(None, description="mfe in percent of the entry price.")
    bars: int | None = Field(None, description="Bars held: exit bar - entry bar (bars so far while open).")


class TradeList(BaseModel):
    data: list[TradeOut]
    meta: PageMeta


_STORED_TRADE_FIELDS = ("id", "backtest_id", "created_at")  # what a trade has as part of a stored backtest
# A trade of a run that is no stored backtest (an optimization's full result): TradeOut's other fields.
RunTradeOut = create_model(
    "RunTradeOut",
    __base__=_Out,
    **{
        name: (field.annotation, field)
        for name, field in TradeOut.model_fields.items()
        if name not in _STORED_TRADE_FIELDS
    },
)


class RunTradeList(BaseModel):
    data: list[RunTradeOut]  # type: ignore[valid-type]
    meta: PageMeta


# ------------------------------------------------------------------ result series
class EquityPoint(BaseModel):
    timestamp: UtcDateTime = Field(description="The candle's open time; equity is at its close.")
    equity: Decimal
    drawdown: Decimal = Field(description="Below the running peak of the full curve, in currency.")
    drawdown_percentage: Decimal = Field(description="Below the running peak, in percent of it.")
    benchmark: Decimal = Field(description="Buy-and-hold of the initial balance: bought at the first open, no fees.")


class EquityMeta(BaseModel):
    points: int = Field(description="Points served.", examples=[1000])
    total_points: int = Field(description="Candles in the full curve.", examples=[525600])


class EquityCurve(BaseModel):
    data: list[EquityPoint]
    meta: EquityMeta


EquityPoints = Annotated[int, Query(ge=MIN_POINTS, le=MAX_POINTS, description="Most points to serve.")]


def equity_curve(served: SeriesPoints) -> dict[str, Any]:
    """An EquityCurve as JSON, built directly: validating up to 10,000 points through the model
    costs more than the rest of the answer."""
    return {
        "data": round_numbers(served.records()),
        "meta": {"points": len(served.timestamps), "total_points": served.total_points},
    }


class DrawdownPeriodOut(BaseModel):
    start: UtcDateTime = Field(description="The peak's candle.")
    trough: UtcDateTime = Field(description="The first candle at the period's lowest equity.")
    recovery: UtcDateTime | None = Field(description="The first candle back at or above the peak; null if never.")
    depth: Decimal
    depth_percentage: Decimal


class DrawdownPeriodList(BaseModel):
    data: list[DrawdownPeriodOut]
    meta: PageMeta


class Health(BaseModel):
    status: Literal["ok"]
    version: str
