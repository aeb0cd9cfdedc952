"""Backtests: created pending and handed to the state machine; read, cancelled and deleted by their owner.

A backtest snapshots its strategy's definition when it is created, so editing or deleting the
strategy later changes neither a queued run nor a finished result. Backtests are private: any
other user gets 404 (see `shared.strategies.service` for the visibility rule).

Lifecycle: pending -> running -> completed | failed, and pending/running -> cancelled. Every
transition is a conditional write in the repository, so a cancelled backtest stays cancelled
even if its execution's last step races the cancel (`record_results` then discards its trades).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from shared.accounts.model import User
from shared.backtest_settings import BacktestSettings
from shared.backtests.model import Backtest, BacktestSummary
from shared.backtests.ports import BacktestLauncher, BacktestRepository, ExecutionRecords, MarketCatalog, TradeStore
from shared.errors import Conflict, FieldError, NotFound, ValidationFailed
from shared.ids import new_id
from shared.pagination import DESC, Page, PageRequest, ordered, paginate
from shared.statuses import ACTIVE_STATUSES, PENDING
from shared.strategies.ports import StrategyRepository
from shared.strategies.service import Strategies
from shared.times import epoch_ms, utc_now

MAX_CHUNKS = 1000
EXECUTION_FIELDS = (
    "maker_fee",
    "taker_fee",
    "slippage_ticks",
    "funding",
    "intrabar_timeframe",
    "same_bar_priority",
    "exchange",
    "market",
)
ORDER_FIELDS = ("created_at", "updated_at", "start_time", "end_time", "symbol", "status", "final_balance")


@dataclass(frozen=True)
class BacktestMetadata:
    """Account, cost and execution settings (see `shared.backtest_settings.BacktestSettings` and the README's
    execution conventions); None: not set."""

    leverage: float = BacktestSettings.leverage
    commission: float = BacktestSettings.commission
    chunks: int | None = None  # force the number of parallel chunks (otherwise planned from the data size)
    maker_fee: float | None = None  # percent; default: commission
    taker_fee: float | None = None
    slippage_ticks: float | None = None
    funding: bool | None = None
    intrabar_timeframe: str | None = None
    same_bar_priority: str | None = None
    exchange: str | None = None  # whose stored symbol rules apply (tick, lot, min notional)
    market: str | None = None  # spot | linear


@dataclass(frozen=True)
class RunRequest:
    """What every run over candles names (a backtest's request; an optimization's adds its search)."""

    strategy_id: str
    symbol: str
    timeframe: str
    start_time: datetime
    end_time: datetime
    initial_balance: float


@dataclass(frozen=True)
class BacktestRequest(RunRequest):
    metadata: BacktestMetadata = BacktestMetadata()


@dataclass(frozen=True)
class BacktestFilters:
    strategy_id: str | None = None
    status: str | None = None
    symbol: str | None = None
    order_by: str = "created_at"
    order_dir: str = DESC


@dataclass
class Backtests:
    repository: BacktestRepository
    strategies: StrategyRepository
    catalog: MarketCatalog
    launcher: BacktestLauncher
    trades: TradeStore
    clock: Callable[[], datetime] = utc_now

    def create(self, user: User, request: BacktestRequest, backtest_id: str | None = None) -> Backtest:
        """`backtest_id`: a caller-chosen id (S3 batches derive one per entry, so a redelivered
        batch finds the backtests it already created); a new one by default."""
        request = replace(request, symbol=request.symbol.strip().upper())
        self._check(request)
        strategy = Strategies(self.strategies).get(user, request.strategy_id)
        check_condition_timeframes(strategy.definition(), request.timeframe)
        now = self.clock()
        backtest = Backtest(
            id=backtest_id or new_id(),
            owner_id=user.id,
            strategy_id=strategy.id,
            strategy_name=strategy.name,
            symbol=request.symbol,
            timeframe=request.timeframe,
            start_time=request.start_time,
            end_time=request.end_time,
            initial_balance=request.initial_balance,
            final_balance=None,
            status=PENDING,
            progress=0,
            created_at=now,
            updated_at=now,
            strategy=strategy.definition(),
            metadata={k: v for k, v in asdict(request.metadata).items() if v is not None},
            performance_summary=None,
            error=None,
            execution_arn=None,
            started_at=None,
            completed_at=None,
        )
        self.repository.add(backtest)
        execution_arn = start_execution(self.repository, self.launcher, backtest.id, "backtest", now, self.clock)
        return replace(backtest, execution_arn=execution_arn)

    def list(self, user: User, filters: BacktestFilters, page: PageRequest) -> Page[BacktestSummary]:
        symbol = filters.symbol.strip().upper() if filters.symbol else None
        matching = [
            b
            for b in self.repository.list_owned(user.id)
            if (filters.strategy_id is None or b.strategy_id == filters.strategy_id)
            and (filters.status is None or b.status == filters.status)
            and (symbol is None or b.symbol == symbol)
        ]
        return paginate(ordered(matching, lambda b: getattr(b, filters.order_by), filters.order_dir), page)

    def get(self, user: User, backtest_id: str) -> Backtest:
        backtest = self.repository.get(backtest_id)
        if backtest is None or backtest.owner_id != user.id:
            raise NotFound("backtest not found")
        return backtest

    def cancel(self, user: User, backtest_id: str) -> Backtest:
        self.get(user, backtest_id)
        try:
            cancelled = self.repository.cancel(backtest_id, self.clock())
        except Conflict:
            status = self.get(user, backtest_id).status
            raise ValidationFailed(
                f"a {status} backtest cannot be cancelled",
                [FieldError("status", "only pending or running backtests can be cancelled")],
            ) from None
        if cancelled.execution_arn:
            self.launcher.stop(cancelled.execution_arn, "cancelled by its owner")
        self.trades.delete(backtest_id)
        return cancelled

    def delete(self, user: User, backtest_id: str) -> None:
        """Stop it if it runs, then remove its results and trades, then the backtest itself."""
        backtest = self.get(user, backtest_id)
        if backtest.status in ACTIVE_STATUSES and backtest.execution_arn:
            self.launcher.stop(backtest.execution_arn, "deleted by its owner")
        self.trades.delete(backtest_id)
        self.repository.delete(backtest_id)

    def _check(self, request: BacktestRequest) -> None:
        errors = []
        if request.end_time <= request.start_time:
            errors.append(FieldError("end_time", "must be after start_time"))
        if not 0 < request.initial_balance <= BacktestSettings.MAX_INITIAL_BALANCE:
            errors.append(
                FieldError(
                    "initial_balance", f"must be greater than 0 and at most {BacktestSettings.MAX_INITIAL_BALANCE:g}"
                )
            )
        metadata = request.metadata
        if not BacktestSettings.MIN_LEVERAGE <= metadata.leverage <= BacktestSettings.MAX_LEVERAGE:
            errors.append(
                FieldError(
                    "metadata.leverage",
                    f"must be between {BacktestSettings.MIN_LEVERAGE:g} and {BacktestSettings.MAX_LEVERAGE:g}",
                )
            )
        if not BacktestSettings.MIN_COMMISSION <= metadata.commission <= BacktestSettings.MAX_COMMISSION:
            errors.append(
                FieldError(
                    "metadata.commission",
                    f"must be between {BacktestSettings.MIN_COMMISSION:g} and {BacktestSettings.MAX_COMMISSION:g} (percent per side)",
                )
            )
        if metadata.chunks is not None and not 1 <= metadata.chunks <= MAX_CHUNKS:
            errors.append(FieldError("metadata.chunks", f"must be between 1 and {MAX_CHUNKS}"))
        available = check_market(self.catalog, request.symbol, request.timeframe, errors)
        if errors:
            raise ValidationFailed("invalid backtest", errors)
        self._check_execution(request, available)

    def _check_execution(self, request: BacktestRequest, available: Sequence[str]) -> None:
        """Costs and market data the metadata asks for: valid, and stored for the range. (Only
        then are the engine's modules loaded: plain backtests keep NumPy out of the API.)"""
        if all(getattr(request.metadata, name) is None for name in EXECUTION_FIELDS):
            return
        from shared.backtests import execution

        metadata = {k: v for k, v in asdict(request.metadata).items() if v is not None}
        settings = execution.backtest_settings(request.initial_balance, request.timeframe, metadata)
        execution.symbol_rules(request.symbol, metadata, self.catalog.symbol_rules)
        execution.check_intrabar(request.symbol, settings, list(available))
        if settings.funding:
            start_ms, end_ms = epoch_ms(request.start_time), epoch_ms(request.end_time)
            execution.checked_funding(
                request.symbol, self.catalog.funding(request.symbol, start_ms, end_ms), start_ms, end_ms
            )


def check_market(catalog: MarketCatalog, symbol: str, timeframe: str, errors: list[FieldError]) -> Sequence[str]:
    """The timeframes stored for `symbol`; adds to `errors` when there are none or `timeframe` is not one."""
    available = catalog.timeframes(symbol)
    if not available:
        errors.append(FieldError("symbol", f"no market data for {symbol}"))
    elif timeframe not in available:
        errors.append(FieldError("timeframe", f"not available for {symbol}; available: {', '.join(available)}"))
    return available


def start_execution(
    records: ExecutionRecords,
    launcher: BacktestLauncher,
    run_id: str,
    noun: str,
    now: datetime,
    clock: Callable[[], datetime],
) -> str:
    """Start the state machine's execution of a run just stored pending, and record it. A run that
    cannot be started is failed and the error raised: never left pending that nothing will run."""
    try:
        execution_arn = launcher.start(run_id)
    except Exception:
        records.fail(run_id, f"the {noun} could not be started", clock())
        raise
    records.set_execution(run_id, execution_arn, now)
    return execution_arn


def check_condition_timeframes(definition: dict[str, Any], timeframe: str) -> None:
    """Conditions on another timeframe (`params.timeframe`) need a coarser one the backtest's
    candles resample to. Loads the engine (on first use: the API's cold start stays without it)."""
    from shared.strategy import validate_strategy

    problems = validate_strategy(definition).timeframe_problems(timeframe)
    if problems:
        raise ValidationFailed("invalid backtest", [FieldError("timeframe", problem) for problem in problems])


def record_results(
    repository: BacktestRepository,
    trades: TradeStore,
    backtest_id: str,
    *,
    final_balance: float,
    performance_summary: dict[str, Any],
    trade_columns: Any,
    now: datetime,
) -> Backtest:
    """Persist a finished run: its trades, then the completion. Safe to repeat (the same trades
    replace themselves, completed -> completed is allowed). If the backtest was cancelled,
    failed or deleted meanwhile, the trades just written are removed and Conflict/NotFound raised."""
    trades.save(backtest_id, trade_columns, now)
    try:
        return repository.complete(backtest_id, final_balance, performance_summary, now)
    except (Conflict, NotFound):
        trades.delete(backtest_id)
        raise
