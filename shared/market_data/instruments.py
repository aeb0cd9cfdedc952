"""Symbol rules as stored per (exchange, market, symbol), and the ports that fetch and keep them.

The rules come from the exchanges' instrument endpoints (Binance `exchangeInfo`, Bybit
`instruments-info`); the engine rounds prices and quantities with them (`SymbolRules`).
"""

from __future__ import annotations

from typing import Any

from shared.market_data.symbol_rules import SymbolRules


def rule_value(value: Any) -> float | None:
    """A rule as an exchange writes it (a decimal string); 0, empty or absent means no such rule."""
    number = float(value) if value not in (None, "") else 0.0
    return number if number > 0 else None


def symbol_rules_dict(symbol: str, exchange: str, market: str, rules: SymbolRules) -> dict[str, Any]:
    """The API's shape of a symbol's rules."""
    return {
        "symbol": symbol,
        "exchange": exchange,
        "market": market,
        "tick_size": rules.tick_size,
        "lot_size": rules.lot_size,
        "min_notional": rules.min_notional,
    }
