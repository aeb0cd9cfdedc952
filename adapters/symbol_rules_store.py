"""Symbol rules in the candles bucket: one small JSON object per exchange, market and symbol.

    symbol_rules/exchange=binance/market=spot/symbol=BTCUSDT.json   {tick_size, lot_size, min_notional, updated_at}
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError

from adapters.candle_store import _is_missing
from shared.market_data.contract import MARKET_SPOT
from shared.market_data.symbol_rules import SymbolRules
from shared.times import iso_utc


def symbol_rules_key(symbol: str, exchange: str, market: str) -> str:
    return f"symbol_rules/exchange={exchange}/market={market}/symbol={symbol}.json"


class S3SymbolRulesStore:
    """The SymbolRulesStore port on S3 (boto3 client given)."""

    def __init__(self, s3_client: Any, bucket: str, clock: Callable[[], float] = time.time) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.clock = clock

    def get_rules(self, symbol: str, exchange: str, market: str = MARKET_SPOT) -> SymbolRules | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=symbol_rules_key(symbol, exchange, market))
        except ClientError as error:
            if _is_missing(error):
                return None
            raise
        document = json.loads(response["Body"].read())
        return SymbolRules(document["tick_size"], document["lot_size"], document["min_notional"])

    def put_rules(self, symbol: str, exchange: str, rules: SymbolRules, market: str = MARKET_SPOT) -> None:
        document = asdict(rules) | {"updated_at": iso_utc(int(self.clock() * 1000))}
        self.s3.put_object(
            Bucket=self.bucket,
            Key=symbol_rules_key(symbol, exchange, market),
            Body=json.dumps(document).encode(),
            ContentType="application/json",
        )
