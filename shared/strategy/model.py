"""Typed results of strategy validation that the execution engine consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from numpy.typing import NDArray


@dataclass(frozen=True)
class StrategyConfig:
    """A strategy's `config`, validated. Percentages are in percent (stop_loss 2 = 2 %)."""

    direction: str = "long"  # long | short
    position_sizing: str = "all_in"  # all_in | percent_of_equity | fixed_quantity | fixed_notional | risk_based
    risk_percentage: float | None = None  # percent of equity for percent_of_equity / risk_based
    quantity: float | None = None  # units, for fixed_quantity
    notional: float | None = None  # quote currency, for fixed_notional
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    slippage: float = 0.0
    parameters: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Signals:
    """Rule outcomes per bar, evaluated on each bar's close.

    entry[t] / exit[t] are True when the entry / exit rules hold at bar t (a NaN operand makes a
    condition False). `warmup` is the number of leading bars on which some indicator the rules use
    is still undefined.
    """

    entry: NDArray[Any]
    exit: NDArray[Any]
    warmup: int = 0
