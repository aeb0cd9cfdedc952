"""Optimizations (Level-2): a strategy's parameter grid backtested over one range, ranked.

API side (`Optimizations`): create validates the request and the whole grid (422 naming the
field), snapshots the strategy, stores the optimization pending and starts its execution of the
optimization state machine (statemachine/optimization.asl.json); list/get/results read it back,
results ranked by the objective. Private to their owner, like backtests.

The workflow side (the state machine's steps) is `shared.services.optimization_workflow`. This
module imports neither NumPy nor the engine until a request needs them (the API's cold start).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.errors import Conflict, FieldError, NotFound, ValidationFailed
from shared.optimization import MAX_COMBINATIONS, OBJECTIVES
from shared.services.backtests import check_condition_timeframes
from shared.services.pagination import DESC, Page, PageRequest, ordered, paginate
from shared.services.ports import BacktestLauncher, MarketCatalog, StrategyRepository
from shared.services.records import COMPLETED, PENDING, User, new_id, utc_now
from shared.services.strategies import Strategies

if TYPE_CHECKING:
    from shared.engine import BacktestSettings

DEFAULT_MAX_COMBINATIONS = 1_000


@dataclass(frozen=True)
class OptimizationRequest:
    strategy_id: str
    symbol: str
    timeframe: str
    start_time: datetime
    end_time: datetime
    initial_balance: float
    parameters: dict[str, Any]  # name or dotted path -> [values] | {start, stop, step}
    objective: str = "sharpe_ratio"
    leverage: float = 1.0
    commission: float = 0.1
    max_combinations: int = DEFAULT_MAX_COMBINATIONS


@dataclass(frozen=True)
class Optimization:
    id: str
    owner_id: str
    strategy_id: str
    strategy_name: str
    strategy: dict[str, Any]  # the strategy's definition when the optimization was created
    symbol: str
    timeframe: str
    start_time: datetime
    end_time: datetime
    initial_balance: float
    metadata: dict[str, Any]  # leverage, commission
    parameters: dict[str, Any]
    objective: str
    max_combinations: int
    combination_count: int
    status: str
    progress: int
    best: dict[str, Any] | None  # the top-ranked result once completed
    error: str | None
    execution_arn: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


# ---------------------------------------------------------------- ports
class OptimizationRepository(Protocol):
    """Status changes are conditional writes, as for backtests (`Conflict` from another status)."""

    def add(self, optimization: Optimization) -> None: ...

    def get(self, optimization_id: str) -> Optimization | None: ...

    def list_owned(self, owner_id: str) -> list[Optimization]: ...

    def set_execution(self, optimization_id: str, execution_arn: str, now: datetime) -> None: ...

    def mark_running(self, optimization_id: str, now: datetime) -> Optimization:
        """pending -> running (running -> running: a re-run Prepare)."""

    def advance_progress(self, optimization_id: str, progress: int, now: datetime) -> bool:
        """Raise a running optimization's progress; False when not running or already past it."""

    def complete(self, optimization_id: str, best: dict[str, Any] | None, now: datetime) -> Optimization:
        """running -> completed (completed -> completed: a re-run Finish)."""

    def fail(self, optimization_id: str, error: str, now: datetime) -> Optimization:
        """pending/running -> failed."""


class OptimizationStore(Protocol):
    """An optimization's objects in the results bucket."""

    bucket: str

    def put_plan(self, optimization_id: str, plan: dict[str, Any]) -> None: ...

    def plan(self, optimization_id: str) -> dict[str, Any]: ...

    def put_batch(self, optimization_id: str, index: int, combos: list[dict[str, Any]]) -> None: ...

    def batch(self, optimization_id: str, index: int) -> list[dict[str, Any]]: ...

    def put_items(self, optimization_id: str, items: list[dict[str, Any]]) -> str:
        """The distributed Map's item list; returns its key (the ItemReader reads it)."""

    def put_results(self, optimization_id: str, index: int, results: dict[str, Any]) -> None: ...

    def results(self, optimization_id: str) -> list[dict[str, Any]]:
        """Every batch's results document written so far."""

    def results_done(self, optimization_id: str) -> int: ...

    def put_ranking(self, optimization_id: str, ranking: list[dict[str, Any]]) -> None: ...

    def ranking(self, optimization_id: str) -> list[dict[str, Any]] | None: ...

    def delete_intermediates(self, optimization_id: str) -> None: ...

    def delete(self, optimization_id: str) -> None:
        """Everything of the optimization, ranking included."""


# ---------------------------------------------------------------- API side
@dataclass
class Optimizations:
    repository: OptimizationRepository
    strategies: StrategyRepository
    catalog: MarketCatalog
    launcher: BacktestLauncher
    store: OptimizationStore
    clock: Callable[[], datetime] = utc_now

    def create(self, user: User, request: OptimizationRequest) -> Optimization:
        from shared.optimization import parameter_grid  # NumPy and the engine: not at the API's cold start

        request = replace(request, symbol=request.symbol.strip().upper())
        strategy = Strategies(self.strategies).get(user, request.strategy_id)
        self._check(request)
        definition = strategy.definition()
        check_condition_timeframes(definition, request.timeframe)
        combos = parameter_grid(definition, request.parameters, request.max_combinations)
        now = self.clock()
        optimization = Optimization(
            id=new_id(), owner_id=user.id, strategy_id=strategy.id, strategy_name=strategy.name, strategy=definition,
            symbol=request.symbol, timeframe=request.timeframe, start_time=request.start_time,
            end_time=request.end_time, initial_balance=request.initial_balance,
            metadata={"leverage": request.leverage, "commission": request.commission},
            parameters=request.parameters, objective=request.objective, max_combinations=request.max_combinations,
            combination_count=len(combos), status=PENDING, progress=0, best=None, error=None, execution_arn=None,
            created_at=now, updated_at=now, started_at=None, completed_at=None,
        )
        self.repository.add(optimization)
        try:
            execution_arn = self.launcher.start(optimization.id)
        except Exception:
            self.repository.fail(optimization.id, "the optimization could not be started", self.clock())
            raise
        self.repository.set_execution(optimization.id, execution_arn, now)
        return replace(optimization, execution_arn=execution_arn)

    def list(self, user: User, page: PageRequest, status: str | None = None) -> Page[Optimization]:
        mine = [o for o in self.repository.list_owned(user.id) if status is None or o.status == status]
        return paginate(ordered(mine, lambda o: o.created_at, DESC), page)

    def get(self, user: User, optimization_id: str) -> Optimization:
        optimization = self.repository.get(optimization_id)
        if optimization is None or optimization.owner_id != user.id:
            raise NotFound("optimization not found")
        return optimization

    def results(self, user: User, optimization_id: str, page: PageRequest) -> Page[dict[str, Any]]:
        """The ranked results (best first), once completed; Conflict before."""
        optimization = self.get(user, optimization_id)
        if optimization.status != COMPLETED:
            raise Conflict(f"the optimization is {optimization.status}: results come once it completed")
        return paginate(self.store.ranking(optimization_id) or [], page)

    def _check(self, request: OptimizationRequest) -> None:
        errors = []
        if request.end_time <= request.start_time:
            errors.append(FieldError("end_time", "must be after start_time"))
        if request.objective not in OBJECTIVES:
            errors.append(FieldError("objective", f"must be one of {', '.join(OBJECTIVES)}"))
        if not 1 <= request.max_combinations <= MAX_COMBINATIONS:
            errors.append(FieldError("max_combinations", f"must be between 1 and {MAX_COMBINATIONS}"))
        try:
            settings_of(request.initial_balance, request.commission, request.leverage, request.timeframe)
        except ValidationFailed as error:
            errors += error.errors
        available = self.catalog.timeframes(request.symbol)
        if not available:
            errors.append(FieldError("symbol", f"no market data for {request.symbol}"))
        elif request.timeframe not in available:
            errors.append(FieldError("timeframe", f"not available for {request.symbol}; available: {', '.join(available)}"))
        if errors:
            raise ValidationFailed("invalid optimization", errors)


def settings_of(initial_balance: float, commission: float, leverage: float, timeframe: str) -> BacktestSettings:
    """The engine's settings of an optimization (ValidationFailed naming `metadata.*` fields)."""
    from shared.engine import BacktestSettings

    return BacktestSettings(initial_balance=float(initial_balance), commission=float(commission),
                            leverage=float(leverage), timeframe=timeframe)
