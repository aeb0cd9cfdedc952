"""The backtest records the use-cases read and write, as the repositories return them.

Times are timezone-aware UTC datetimes truncated to milliseconds (the precision the API prints);
ids are UUID strings; money, prices and quantities are floats (see the README's decimal rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

LONG, SHORT = "long", "short"
WIN, LOSS = "win", "loss"


@dataclass(frozen=True)
class BacktestSummary:
    """What backtest listings show."""

    id: str
    owner_id: str
    strategy_id: str
    strategy_name: str
    symbol: str
    timeframe: str
    start_time: datetime
    end_time: datetime
    initial_balance: float
    final_balance: float | None
    status: str
    progress: int  # percent, 0-100
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Backtest(BacktestSummary):
    strategy: dict[str, Any]  # the strategy's definition() when the backtest was created
    metadata: dict[str, Any]  # leverage, commission (percent per side), optional chunks
    performance_summary: dict[str, Any] | None
    error: str | None  # why a failed backtest failed
    execution_arn: str | None
    started_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class Trade:
    """One trade of a completed backtest; `seq` is its 0-based position in entry order. A trade
    still open at the end has no exit_time, exit_reason "open" and exit_price the last close.
    `leg`: which part of a position closed in parts (take-profit levels) this is, from 1;
    `funding`: the funding it paid (negative: received), included in its pnl."""

    id: str
    backtest_id: str
    seq: int
    entry_time: datetime
    entry_price: float
    exit_time: datetime | None
    exit_price: float | None
    quantity: float
    side: str
    pnl: float
    pnl_percentage: float
    fees: float
    entry_reason: str
    exit_reason: str
    created_at: datetime
    funding: float = 0.0
    leg: int = 1
    # Maximum adverse / favourable excursion (price, and percent of the entry price) and bars
    # held; None for trades stored before they were recorded.
    mae: float | None = None
    mfe: float | None = None
    mae_percentage: float | None = None
    mfe_percentage: float | None = None
    bars: int | None = None


MONTE_CARLO_METHODS = ("trade_permutation", "trade_bootstrap", "block_bootstrap")
MAX_SIMULATIONS = 10_000


@dataclass(frozen=True)
class MonteCarloRequest:
    """A Monte Carlo analysis of a completed backtest (`shared.backtests.analyses`)."""

    method: str
    simulations: int
    seed: int = 0
    block: int = 20  # block_bootstrap: bars per block
    ruin_threshold: float = 0.5  # ruin: equity below this fraction of the initial balance
