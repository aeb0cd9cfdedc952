"""What the backtest use-cases need from storage and infrastructure. The DynamoDB/S3/Step Functions
implementations live in `adapters`; tests may hand the services fakes of these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.backtests.model import Backtest, BacktestSummary, Trade

if TYPE_CHECKING:
    from shared.backtests.equity import EquitySeries
    from shared.engine.chunks import ChunkResult
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

    def advance_progress(self, backtest_id: str, progress: int, now: datetime) -> bool:
        """Raise a running backtest's progress to `progress`; False (and no write) when it is not
        running or already at or past it: parallel chunks report out of order."""

    def complete(
        self, backtest_id: str, final_balance: float, performance_summary: dict[str, Any], now: datetime
    ) -> Backtest:
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

    def page(
        self, backtest_id: str, side: str | None, result: str | None, offset: int, limit: int
    ) -> tuple[list[Trade], int]:
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


class ExecutionRecords(Protocol):
    """What starting a run's execution writes (`shared.backtests.service.start_execution`): the
    backtest repository's, and the optimization repository's, two methods."""

    def set_execution(self, run_id: str, execution_arn: str, now: datetime, /) -> None: ...

    def fail(self, run_id: str, error: str, now: datetime, /) -> object: ...


class BatchInbox(Protocol):
    """Batch files in the imports bucket (`shared.backtests.batches`): read one, write its status object."""

    def read(self, key: str) -> bytes: ...

    def put_status(self, key: str, status: dict[str, Any]) -> None: ...


class RunStore(Protocol):
    """A run's intermediate objects (partials/<backtest_id>/ in the results bucket)."""

    def put_plan(self, backtest_id: str, plan: bytes) -> None: ...

    def plan(self, backtest_id: str) -> bytes:
        """NotFound when the run has no plan (it was cancelled and cleaned up)."""

    def put_chunk(self, backtest_id: str, chunk: ChunkResult, seconds: float) -> None: ...

    def chunk(self, backtest_id: str, index: int) -> tuple[ChunkResult, float]:
        """A chunk's result and the seconds its computation took."""

    def delete_chunk(self, backtest_id: str, index: int) -> None: ...

    def chunks_done(self, backtest_id: str) -> int: ...

    def put_stitched(self, backtest_id: str, trades: Any, document: dict[str, Any]) -> None:
        """The stitched trades (`shared.engine.Trades`) and a JSON document (balance, summary, metrics)."""

    def stitched(self, backtest_id: str) -> tuple[Any, dict[str, Any]]: ...

    def put_equity(self, backtest_id: str, series: EquitySeries) -> None: ...

    def equity(self, backtest_id: str) -> EquitySeries: ...

    def delete(self, backtest_id: str) -> None:
        """Remove every intermediate object of the run."""


# ---------------------------------------------------------------- what a kind answers each step
@dataclass(frozen=True)
class Planned:
    """Prepare's outcome: how many chunks the Map runs, the plan the later steps read (None when
    the kind needs none), and the progress message."""

    chunks: int
    message: str
    plan: bytes | None = None


@dataclass(frozen=True)
class Computed:
    """A Compute's outcome: its figures for the execution history, and how many of the run's
    chunks are done (progress 10-90 follows from it)."""

    done: int
    of: int
    message: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stitched:
    """Stitch's outcome (the stitched trades and document are in the `RunStore`)."""

    trades: int
    final_balance: float
    chunk_seconds: tuple[float, ...] = ()
    stitch_seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        return {
            "trades": self.trades,
            "final_balance": self.final_balance,
            "chunk_seconds": [round(seconds, 6) for seconds in self.chunk_seconds],
            "stitch_seconds": round(self.stitch_seconds, 6),
        }


class RunKind(Protocol):
    """A kind of backtest run (`shared.backtests.runs`): what Prepare, Compute and Stitch do for
    the backtests it claims. Implementations: `shared.backtests.runs.ChunkedRun` (a strategy over
    candles) and `shared.transactions.replays.ReplayRun` (a replay of the user's transactions)."""

    def claims(self, backtest: Backtest) -> bool:
        """Whether the backtest is a run of this kind."""

    def plan(self, backtest: Backtest) -> Planned:
        """Prepare: check the backtest can run and plan it; nothing is written yet (ValidationFailed)."""

    def compute(self, backtest: Backtest, index: int) -> Computed:
        """Compute chunk `index` and store its result; NotFound when the run's plan is gone."""

    def discard(self, backtest_id: str, index: int, now: Backtest | None) -> None:
        """Remove what `compute` wrote when the backtest stopped running meanwhile (`now`: its state)."""

    def stitch(self, backtest: Backtest) -> Stitched:
        """Store the run's trades, document and equity for Persist and Notify (NotFound: plan gone)."""
