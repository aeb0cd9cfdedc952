"""What the market-data use-cases need from storage and the exchanges. The S3, DynamoDB and
exchange implementations live in `adapters`; tests hand fakes of the exchanges (tests/fakes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from shared.market_data.contract import MARKET_SPOT

if TYPE_CHECKING:
    from shared.candles import Candles
    from shared.market_data.funding import FundingRates
    from shared.market_data.funding_history import FundingMerge
    from shared.market_data.imports import ImportStatus
    from shared.market_data.parsing import RawCandles
    from shared.market_data.store import Partition, SeriesManifest
    from shared.market_data.symbol_rules import SymbolRules


class CandleStore(Protocol):
    """Where candles live. Implementations: adapters.candle_store.S3CandleStore."""

    def list_series(self, symbol: str | None = None) -> list[tuple[str, str]]:
        """(symbol, timeframe) of every stored series (of one symbol when given), sorted."""

    def manifest(self, symbol: str, timeframe: str) -> SeriesManifest | None:
        """The series' current manifest, or None when nothing is stored for it."""

    def read_partitions(self, partitions: Sequence[Partition], start_ms: int | None, end_ms: int | None) -> Candles:
        """Candles of the given partitions with start_ms <= ts < end_ms, reading nothing else."""

    def commit(
        self, symbol: str, timeframe: str, base: SeriesManifest | None, months: Mapping[str, Candles]
    ) -> SeriesManifest:
        """Store each month's complete new content and swap the manifest, atomically with respect
        to `base`: raises ConcurrentUpdate if the manifest is no longer `base`."""


class FundingStore(Protocol):
    """Funding-rate history per symbol. Implementation: adapters.funding_store.S3FundingStore."""

    def has_funding(self, symbol: str) -> bool:
        """Whether any funding rate is stored for the symbol."""

    def get_funding(self, symbol: str, start_ms: int | None = None, end_ms: int | None = None) -> FundingRates:
        """The stored rates with start_ms <= time <= end_ms (bounds optional; empty when none)."""

    def put_funding(self, symbol: str, rates: FundingRates) -> FundingMerge:
        """Merge `rates` into the symbol's series (see merge_funding), safe against concurrent puts."""


class SymbolRulesStore(Protocol):
    """Stored symbol rules. Implementation: adapters.symbol_rules_store.S3SymbolRulesStore."""

    def get_rules(self, symbol: str, exchange: str, market: str = MARKET_SPOT) -> SymbolRules | None:
        """The symbol's rules on that exchange and market, or None when none are stored."""

    def put_rules(self, symbol: str, exchange: str, rules: SymbolRules, market: str = MARKET_SPOT) -> None: ...


class InstrumentSource(Protocol):
    """An exchange's instrument endpoint. Implementations: adapters.binance, adapters.bybit."""

    def fetch_symbol_rules(self, symbol: str, market: str) -> SymbolRules:
        """The symbol's rules as the exchange lists them; NotFound when it does not list the symbol."""


class KlineSource(Protocol):
    """An exchange's historical klines. Implementation: adapters.binance.BinanceClient."""

    def fetch_klines(self, symbol: str, timeframe: str, start_ms: int, end_ms: int, market: str = "spot") -> RawCandles:
        """Every kline with open time in [start_ms, end_ms) of the market (spot | linear), as read
        (validation comes after)."""


class ExchangeSource(KlineSource, InstrumentSource, Protocol):
    """An exchange's public market data. Implementations: adapters.binance.BinanceClient,
    adapters.bybit.BybitClient."""

    def fetch_funding(self, symbol: str, start_ms: int, end_ms: int) -> FundingRates:
        """The linear perpetual's funding rates with funding time in [start_ms, end_ms)."""


class ImportRecords(Protocol):
    """Status records. Implementation: adapters.models.market_data.DynamoImportRecords."""

    def create(self, status: ImportStatus) -> bool:
        """Store a new record; False (and nothing written) when the id exists already."""

    def get(self, import_id: str) -> ImportStatus | None: ...

    def save(self, status: ImportStatus) -> None: ...

    def list_by_owner(self, owner_id: str, limit: int) -> list[ImportStatus]:
        """The owner's imports, newest first."""


class ImportInbox(Protocol):
    """The imports bucket. Implementation: adapters.candle_store.S3ImportInbox."""

    def put(self, key: str, content: bytes) -> None: ...

    def presign_put(self, key: str, expires_in: int) -> str:
        """A URL anyone holding it may PUT the object `key` to, for `expires_in` seconds."""

    def read(self, key: str, max_bytes: int) -> bytes:
        """The object's bytes; ValidationFailed when it is larger than `max_bytes` or gone."""
