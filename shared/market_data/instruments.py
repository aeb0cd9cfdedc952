"""Symbol rules as stored per (exchange, market, symbol), and the ports that fetch and keep them.

The rules come from the exchanges' instrument endpoints (Binance `exchangeInfo`, Bybit
`instruments-info`); the engine rounds prices and quantities with them (`SymbolRules`).
"""

from __future__ import annotations

from typing import Any, Protocol

from shared.market_data.contract import MARKET_SPOT
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


class SymbolRulesStore(Protocol):
    """Stored symbol rules. Implementation: adapters.symbol_rules_store.S3SymbolRulesStore."""

    def get_rules(self, symbol: str, exchange: str, market: str = MARKET_SPOT) -> SymbolRules | None:
        """The symbol's rules on that exchange and market, or None when none are stored."""

    def put_rules(self, symbol: str, exchange: str, rules: SymbolRules, market: str = MARKET_SPOT) -> None: ...


class InstrumentSource(Protocol):
    """An exchange's instrument endpoint. Implementations: adapters.binance, adapters.bybit."""

    def fetch_symbol_rules(self, symbol: str, market: str) -> SymbolRules:
        """The symbol's rules as the exchange lists them; NotFound when it does not list the symbol."""
