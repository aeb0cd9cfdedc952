"""What the backtest use-cases need from storage and infrastructure. The DynamoDB/S3/Step Functions
implementations live in `adapters`; tests may hand the services fakes of these."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.backtests.model import Backtest, BacktestSummary, Trade

if TYPE_CHECKING:
    from shared.market_data.funding import FundingRates
    from shared.market_data.symbol_rules import SymbolRules


class BacktestRepository(Protocol):
    """Status changes are conditional writes: each names the statuses it may leave, and raises
    `Conflict` when the backtest is in another one (`NotFound` when it is gone). So a cancelled
    backtest can never become completed, whatever order the writers run in."""

    def add(self, backtest: Backtest) -> None: ...

    def get(self, backtest_id: str) -> Backtest | None: ...

    def list_owned(self, owner_id: str) -> list[BacktestSummary]: ...

    def find_id_by_trade_key(self, trade_key: str) -> str | None: ...

    def delete(self, backtest_id: str) -> None: ...

    def set_execution(self, backtest_id: str, execution_arn: str, now: datetime) -> None: ...

    def mark_running(self, backtest_id: str, now: datetime) -> Backtest:
        """pending -> running."""

    def set_progress(self, backtest_id: str, progress: int, now: datetime) -> Backtest:
        """running -> running with `progress` percent."""

    def complete(self, backtest_id: str, final_balance: float, performance_summary: dict[str, Any],
                 now: datetime) -> Backtest:
        """running -> completed."""

    def fail(self, backtest_id: str, error: str, now: datetime) -> Backtest:
        """pending/running -> failed."""

    def cancel(self, backtest_id: str, now: datetime) -> Backtest:
        """pending/running -> cancelled."""


class TradeStore(Protocol):
    """A completed backtest's trades, in entry order, addressed by sequence number."""

    def save(self, backtest_id: str, trades: Any, created_at: datetime) -> int:
        """Store all trades of a backtest (the engine's columnar `Trades`), replacing any earlier
        save, so a re-run never duplicates; returns how many were stored."""

    def page(self, backtest_id: str, side: str | None, result: str | None, offset: int,
             limit: int) -> tuple[list[Trade], int]:
        """The trades matching the filters from `offset`, and how many match in total."""

    def get(self, backtest_id: str, seq: int) -> Trade | None: ...

    def delete(self, backtest_id: str) -> None:
        """Remove everything the backtest produced (trades, equity series and partial results)."""


class EquityStore(Protocol):
    """A completed backtest's equity series (`shared.backtests.equity.EquitySeries`), removed
    with its trades by `TradeStore.delete`."""

    def save(self, backtest_id: str, series: Any) -> None: ...

    def load(self, backtest_id: str) -> Any | None:
        """None when the backtest has no stored series."""


class MarketCatalog(Protocol):
    def timeframes(self, symbol: str) -> Sequence[str]:
        """Timeframes the market-data store can serve for `symbol`; empty for an unknown symbol."""

    def funding(self, symbol: str, start_ms: int, end_ms: int) -> FundingRates:
        """The stored funding rates with start_ms <= time <= end_ms (empty when none)."""

    def symbol_rules(self, symbol: str, exchange: str, market: str) -> SymbolRules | None:
        """The stored exchange rules of the symbol, None when none are stored."""


class BacktestLauncher(Protocol):
    def start(self, backtest_id: str) -> str:
        """Start computing the backtest; returns the execution's id (idempotent per backtest)."""

    def stop(self, execution_arn: str, cause: str) -> None:
        """Stop a running execution; nothing happens if it already ended."""
