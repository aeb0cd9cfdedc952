"""What the transaction use-cases need from storage, the secrets store and exchanges.
Implementations: `adapters.repositories.transactions`, `adapters.secrets`, `adapters.binance_account`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.transactions.jobs import ExchangeCredentials, ImportJob, ReplayRecord
from shared.transactions.model import Transaction


@dataclass(frozen=True)
class TransactionFilters:
    symbol: str | None = None
    side: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # inclusive


class TransactionRepository(Protocol):
    def add_new(self, transactions: Sequence[Transaction]) -> int:
        """Store every transaction not stored yet (same owner and id); returns how many were new.
        Atomic per transaction: two imports of one fill never store it twice."""

    def get_many(self, owner_id: str, ids: Collection[str]) -> dict[str, Transaction]:
        """The owner's transactions among `ids`, by id (others' and unknown ids are absent)."""

    def page(
        self, owner_id: str, filters: TransactionFilters, offset: int, limit: int
    ) -> tuple[list[Transaction], int]:
        """Matching transactions newest first from `offset`, and how many match in total."""

    def mark_replayed(self, owner_id: str, ids: Collection[str]) -> None: ...


class ImportJobRepository(Protocol):
    def add(self, job: ImportJob) -> None: ...

    def get(self, owner_id: str, import_id: str) -> ImportJob | None: ...

    def save(self, job: ImportJob) -> None: ...


class ReplayRecordRepository(Protocol):
    def add(self, record: ReplayRecord) -> None: ...

    def get(self, owner_id: str, replay_id: str) -> ReplayRecord | None: ...


class CredentialVault(Protocol):
    """Exchange credentials in the secrets store, referenced by id."""

    def store(self, owner_id: str, import_id: str, credentials: ExchangeCredentials) -> str:
        """Keep the credentials; returns their id."""

    def load(self, credentials_id: str) -> ExchangeCredentials: ...

    def delete(self, credentials_id: str) -> None: ...


class TradeHistorySource(Protocol):
    """An exchange's account trade history (adapters.binance_account.BinanceAccountClient)."""

    def my_trades(self, credentials: ExchangeCredentials, symbol: str, start_ms: int | None) -> list[dict[str, Any]]:
        """Every trade of the account in `symbol` (from `start_ms`, else all), oldest first, as
        the exchange returns them."""


class ReplayStore(Protocol):
    """A replay's input and comparison, kept with its backtest's results."""

    def put_input(self, backtest_id: str, content: bytes) -> None: ...

    def get_input(self, backtest_id: str) -> bytes: ...

    def put_comparison(self, backtest_id: str, comparison: dict[str, Any]) -> None: ...

    def get_comparison(self, backtest_id: str) -> dict[str, Any] | None: ...
