"""The optimization record the use-cases read and write, as the repository returns it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Optimization:
    id: str
    owner_id: str
    strategy_id: str
    strategy_name: str
    strategy: dict[str, Any]  # the strategy's definition when the optimization was created
    symbol: str
    timeframe: str
    start_time: datetime
    end_time: datetime
    initial_balance: float
    metadata: dict[str, Any]  # leverage, commission
    parameters: dict[str, Any]
    objective: str
    max_combinations: int
    combination_count: int  # the grid's (or sample's) size; bayesian: n_trials
    method: str
    direction: str
    constraints: list[str]
    min_trades: int
    n_trials: int | None
    batch_size: int | None
    seed: int | None
    walk_forward: dict[str, Any] | None  # {train, test, step, anchored}: a walk-forward's windows
    status: str
    progress: int
    best: dict[str, Any] | None  # the top-ranked result once completed
    error: str | None
    execution_arn: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
