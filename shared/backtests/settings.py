"""Backtest-level settings (the request's `initial_balance`, `timeframe` and `metadata`): their
defaults and limits, for the API, the batch files, the CLI, the workflow and the engine alike.

Light on purpose (no NumPy): the API validates requests and documents them with these at cold start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from shared.errors import FieldError, ValidationFailed
from shared.timeframes import TIMEFRAME_MS, TIMEFRAMES


@dataclass(frozen=True)
class BacktestSettings:
    """Account and market settings of one backtest. Percentages are in percent (0.1 = 0.1 %); the
    engine turns them into fractions where it builds its rules (`ExitRules.from_config`).

    `commission` is charged per side on each fill's notional (default 0.1 %, a common spot taker
    fee). `maintenance_margin` is the share of a position's notional the exchange keeps in reserve;
    it only moves the liquidation price (see `ExitRules.liquidation_price`). Invalid values raise
    `ValidationFailed` naming the field as the API receives it (`metadata.leverage`, ...).
    """

    MAX_INITIAL_BALANCE: ClassVar[float] = 1e15
    MIN_COMMISSION: ClassVar[float] = 0.0
    MAX_COMMISSION: ClassVar[float] = 10.0  # percent per side; anything above is a typo, not a fee schedule
    MIN_LEVERAGE: ClassVar[float] = 1.0
    MAX_LEVERAGE: ClassVar[float] = 125.0
    MAX_MAINTENANCE_MARGIN: ClassVar[float] = 50.0

    initial_balance: float = 10_000.0
    commission: float = 0.1
    leverage: float = 1.0
    timeframe: str = "1h"
    maintenance_margin: float = 0.5

    def __post_init__(self) -> None:
        errors = []

        def check(field: str, value: object, low: float, high: float, low_open: bool) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                errors.append(FieldError(field, "must be a finite number"))
            elif value < low or (low_open and value == low) or value > high:
                bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
                errors.append(FieldError(field, f"must be {bound} and at most {high:g}"))

        check("initial_balance", self.initial_balance, 0.0, self.MAX_INITIAL_BALANCE, low_open=True)
        check("metadata.commission", self.commission, self.MIN_COMMISSION, self.MAX_COMMISSION, low_open=False)
        check("metadata.leverage", self.leverage, self.MIN_LEVERAGE, self.MAX_LEVERAGE, low_open=False)
        check("metadata.maintenance_margin", self.maintenance_margin, 0.0, self.MAX_MAINTENANCE_MARGIN,
              low_open=False)
        if self.timeframe not in TIMEFRAME_MS:
            errors.append(FieldError("timeframe", f"must be one of {', '.join(TIMEFRAMES)}"))
        if errors:
            raise ValidationFailed("invalid backtest settings", errors)
