"""An exchange's trading rules for one symbol: what the engine rounds prices and quantities to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SymbolRules:
    """Price tick, quantity step and smallest order value (in quote currency) of a symbol.

    None means the exchange sets no such rule (or none is known): nothing is rounded or skipped.
    """

    tick_size: float | None = None
    lot_size: float | None = None
    min_notional: float | None = None
