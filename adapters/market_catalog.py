"""Which symbols and timeframes a backtest may use: those the candle store can serve."""

from __future__ import annotations

from functools import cached_property
from typing import Any


class CandleStoreCatalog:
    """`MarketCatalog` over the candle store: a symbol's stored series and every coarser
    timeframe they resample to, from one S3 LIST per call; its funding rates and exchange rules
    from the funding and symbol-rules stores in the same bucket. The store's modules (pyarrow, NumPy)
    load on the first call rather than at the API's cold start."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    @cached_property
    def _store(self) -> Any:
        from adapters.candle_store import S3CandleStore

        return S3CandleStore(self._s3, self._bucket)

    def timeframes(self, symbol: str) -> list[str]:
        from shared.market_data.query import derivable_timeframes

        stored = {timeframe for _, timeframe in self._store.list_series(symbol)}
        return derivable_timeframes(stored) if stored else []

    def funding(self, symbol: str, start_ms: int, end_ms: int) -> Any:
        from adapters.funding_store import S3FundingStore

        return S3FundingStore(self._s3, self._bucket).get_funding(symbol, start_ms, end_ms)

    def symbol_rules(self, symbol: str, exchange: str, market: str) -> Any:
        from adapters.symbol_rules_store import S3SymbolRulesStore

        return S3SymbolRulesStore(self._s3, self._bucket).get_rules(symbol, exchange, market)
