"""Typed results of strategy validation that the execution engine consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from numpy.typing import NDArray


@dataclass(frozen=True)
class EntryOrder:
    """`config.entry_order`: how an entry signal at a bar's close becomes a fill.

    market: the next open. limit / stop: an order at close * (1 -/+ offset %) (a long's limit
    below, its stop above; mirrored for a short), live for `expire_bars` bars.
    """

    type: str = "market"  # market | limit | stop
    offset: float = 0.0  # percent of the signal bar's close
    expire_bars: int = 1


@dataclass(frozen=True)
class TakeProfitLevel:
    """One partial exit: `size` % of the position at entry * (1 + `percent` %) for a long."""

    percent: float
    size: float


@dataclass(frozen=True)
class Pyramiding:
    """`config.pyramiding`: up to `max_entries` entries per position; entry k commits `size[k]` %
    of what the position sizing would commit to a single entry."""

    max_entries: int
    size: tuple[float, ...]


@dataclass(frozen=True)
class StrategyConfig:
    """A strategy's `config`, validated. Percentages are in percent (stop_loss 2 = 2 %)."""

    direction: str = "long"  # long | short | both
    position_sizing: str = "all_in"  # all_in | percent_of_equity | fixed_quantity | fixed_notional | risk_based
    risk_percentage: float | None = None  # percent of equity for percent_of_equity / risk_based
    quantity: float | None = None  # units, for fixed_quantity
    notional: float | None = None  # quote currency, for fixed_notional
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    slippage: float = 0.0
    parameters: dict[str, float] = field(default_factory=dict)
    entry_order: EntryOrder = EntryOrder()
    take_profit_levels: tuple[TakeProfitLevel, ...] = ()
    break_even_after: int | None = None  # 1-based take-profit level after which the stop moves to the entry
    trailing_activation: float | None = None  # percent move in favour before the trailing stop starts
    pyramiding: Pyramiding | None = None


@dataclass(frozen=True)
class Signals:
    """Rule outcomes per bar, evaluated on each bar's close.

    entry[t] / exit[t] are True when the entry / exit rules hold at bar t (a NaN operand makes a
    condition False). `warmup` is the number of leading bars on which some indicator the rules use
    is still undefined. With `direction: both`, entry/exit are the long rules and
    short_entry/short_exit the short ones (None otherwise).
    """

    entry: NDArray[Any]
    exit: NDArray[Any]
    warmup: int = 0
    short_entry: NDArray[Any] | None = None
    short_exit: NDArray[Any] | None = None
