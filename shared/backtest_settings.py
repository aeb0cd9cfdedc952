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

SAME_BAR_PRIORITIES = ("stop_loss", "take_profit")


@dataclass(frozen=True)
class BacktestSettings:
    """Account and market settings of one backtest. Percentages are in percent (0.1 = 0.1 %); the
    engine turns them into fractions where it builds its rules (`shared.engine.rules.EngineRules.from_config`).

    Fees are charged per side on each fill's notional: `maker_fee` on limit fills (limit entries,
    take-profits), `taker_fee` on every other fill; each defaults to `commission`, the shorthand
    for both (default 0.1 %, a common spot taker fee). `maintenance_margin` is the share of a
    position's notional the exchange keeps in reserve; it only moves the liquidation price
    (see `EngineRules.liquidation_price`). `slippage_ticks`: market fills move that many price ticks
    adversely. `funding`: charge perpetual funding while a position is open. `intrabar_timeframe`:
    resolve fills inside a bar on candles of that finer timeframe; without it `same_bar_priority`
    decides which of two levels inside one bar fills first. Invalid values raise `ValidationFailed`
    naming the field as the API receives it (`metadata.leverage`, ...).
    """

    MIN_INITIAL_BALANCE: ClassVar[float] = 0.01  # a cent: DynamoDB refuses numbers below 1e-130 (a 500 before)
    MAX_INITIAL_BALANCE: ClassVar[float] = 1e15
    MIN_COMMISSION: ClassVar[float] = 0.0
    MAX_COMMISSION: ClassVar[float] = 10.0  # percent per side; anything above is a typo, not a fee schedule
    MIN_LEVERAGE: ClassVar[float] = 1.0
    MAX_LEVERAGE: ClassVar[float] = 125.0
    MAX_MAINTENANCE_MARGIN: ClassVar[float] = 50.0
    MAX_SLIPPAGE_TICKS: ClassVar[float] = 10_000.0

    initial_balance: float = 10_000.0
    commission: float = 0.1
    leverage: float = 1.0
    timeframe: str = "1h"
    maintenance_margin: float = 0.5
    maker_fee: float | None = None
    taker_fee: float | None = None
    slippage_ticks: float | None = None
    funding: bool = False
    intrabar_timeframe: str | None = None
    same_bar_priority: str = "stop_loss"

    @property
    def maker(self) -> float:
        """The maker fee in percent."""
        return self.commission if self.maker_fee is None else self.maker_fee

    @property
    def taker(self) -> float:
        """The taker fee in percent."""
        return self.commission if self.taker_fee is None else self.taker_fee

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
        check("metadata.maintenance_margin", self.maintenance_margin, 0.0, self.MAX_MAINTENANCE_MARGIN, low_open=False)
        for name in ("maker_fee", "taker_fee"):
            if getattr(self, name) is not None:
                check(
                    f"metadata.{name}", getattr(self, name), -self.MAX_COMMISSION, self.MAX_COMMISSION, low_open=False
                )
        if self.slippage_ticks is not None:
            check("metadata.slippage_ticks", self.slippage_ticks, 0.0, self.MAX_SLIPPAGE_TICKS, low_open=False)
        funding: object = self.funding  # from JSON: maybe not a bool at all
        if not isinstance(funding, bool):
            errors.append(FieldError("metadata.funding", "must be true or false"))
        if self.same_bar_priority not in SAME_BAR_PRIORITIES:
            errors.append(FieldError("metadata.same_bar_priority", f"must be one of {', '.join(SAME_BAR_PRIORITIES)}"))
        if self.timeframe not in TIMEFRAME_MS:
            errors.append(FieldError("timeframe", f"must be one of {', '.join(TIMEFRAMES)}"))
        elif self.intrabar_timeframe is not None:
            if self.intrabar_timeframe not in TIMEFRAME_MS:
                errors.append(FieldError("metadata.intrabar_timeframe", f"must be one of {', '.join(TIMEFRAMES)}"))
            elif (
                TIMEFRAME_MS[self.intrabar_timeframe] >= TIMEFRAME_MS[self.timeframe]
                or TIMEFRAME_MS[self.timeframe] % TIMEFRAME_MS[self.intrabar_timeframe]
            ):
                errors.append(
                    FieldError(
                        "metadata.intrabar_timeframe",
                        f"must be finer than the backtest's timeframe {self.timeframe} and divide it",
                    )
                )
        if errors:
            raise ValidationFailed("invalid backtest settings", errors)
