"""Symbol rules in the candles bucket: one small JSON object per exchange, market and symbol.

symbol_rules/exchange=binance/market=spot/symbol=BTCUSDT.json   {tick_size, lot_size, min_notional, updated_at}
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from adapters.s3_objects import S3Objects
from shared.market_data.contract import MARKET_SPOT
from shared.market_data.symbol_rules import SymbolRules
from shared.times import iso_utc


def symbol_rules_key(symbol: str, exchange: str, market: str) -> str:
    return f"symbol_rules/exchange={exchange}/market={market}/symbol={symbol}.json"


class S3SymbolRulesStore:
    """The SymbolRulesStore port on S3 (boto3 client given)."""

    def __init__(self, s3_client: Any, bucket: str, clock: Callable[[], float] = time.time) -> None:
        self._objects = S3Objects(s3_client, bucket)
        self.clock = clock

    def get_rules(self, symbol: str, exchange: str, market: str = MARKET_SPOT) -> SymbolRules | None:
        document = self._objects.get_json(symbol_rules_key(symbol, exchange, market))
        if document is None:
            return None
        return SymbolRules(document["tick_size"], document["lot_size"], document["min_notional"])

    def put_rules(self, symbol: str, exchange: str, rules: SymbolRules, market: str = MARKET_SPOT) -> None:
        document = asdict(rules) | {"updated_at": iso_utc(int(self.clock() * 1000))}
        self._objects.put_json(symbol_rules_key(symbol, exchange, market), document)
