"""Optimizations: a strategy's parameter grid backtested over one range, ranked.

API side (`Optimizations`): create validates the request and the whole grid (422 naming the
field), snapshots the strategy, stores the optimization pending and starts its execution of the
optimization state machine (statemachine/optimization.asl.json); list/get/results read it back,
results ranked by the objective. Private to their owner, like backtests.

The workflow side (the state machine's steps) is `shared.optimizations.workflow`. This
module imports neither NumPy nor the engine until a request needs them (the API's cold start).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.accounts.model import User
from shared.backtests.ports import BacktestLauncher, MarketCatalog
from shared.backtests.service import RunRequest, check_condition_timeframes, check_market, start_execution
from shared.errors import Conflict, FieldError, NotFound, ValidationFailed
from shared.ids import new_id
from shared.optimizations.full_results import FULL_RESULTS
from shared.optimizations.model import Optimization
from shared.optimizations.ports import OptimizationRepository, OptimizationStore
from shared.optimizations.sweep import DIRECTIONS, MAX_COMBINATIONS, METHODS, default_direction
from shared.pagination import DESC, Page, PageRequest, ordered, paginate
from shared.statuses import COMPLETED, PENDING
from shared.strategies.model import Strategy
from shared.strategies.ports import StrategyRepository
from shared.strategies.service import Strategies
from shared.times import utc_now

if TYPE_CHECKING:
    from shared.backtests.equity import SeriesPoints
    from shared.engine import BacktestSettings

DEFAULT_MAX_COMBINATIONS = 1_000
DEFAULT_BATCH_SIZE = 10  # a Bayesian round's trials when the request names none
MAX_BATCH_SIZE = 1_000


@dataclass(frozen=True)
class OptimizationRequest(RunRequest):
    parameters: dict[str, Any]  # name or dotted path -> [values] | {start, stop, step}
    objective: str = "sharpe_ratio"
    leverage: float = 1.0
    commission: float = 0.1
    max_combinations: int = DEFAULT_MAX_COMBINATIONS
    method: str = "grid"  # grid | random | bayesian
    direction: str | None = None  # max | min; None: the objective's default (`default_direction`)
    constraints: tuple[str, ...] = ()
    min_trades: int = 0
    n_trials: int | None = None  # random and bayesian
    batch_size: int | None = None  # bayesian: trials per round
    seed: int | None = None  # random and bayesian (None: 0)
    walk_forward: dict[str, Any] | None = None  # {train, test, step, anchored}: a walk-forward


# ---------------------------------------------------------------- API side
@dataclass
class Optimizations:
    repository: OptimizationRepository
    strategies: StrategyRepository
    catalog: MarketCatalog
    launcher: BacktestLauncher
    store: OptimizationStore
    max_concurrency: int = 16  # the template's MapMaxConcurrency: batches at once (dry-run ETA)
    max_combinations: int = MAX_COMBINATIONS  # the template's MaxCombinations (at most MAX_COMBINATIONS)
    batch_memory_mb: int = 3008  # the optimization batch function's MemorySize (dry-run GB-seconds)
    clock: Callable[[], datetime] = utc_now

    def create(self, user: User, request: OptimizationRequest) -> Optimization:
        request, strategy, count = self._plan(user, request)
        now = self.clock()
        optimization = Optimization(
            id=new_id(),
            owner_id=user.id,
            strategy_id=strategy.id,
            strategy_name=strategy.name,
            strategy=strategy.definition(),
            symbol=request.symbol,
            timeframe=request.timeframe,
            start_time=request.start_time,
            end_time=request.end_time,
            initial_balance=request.initial_balance,
            metadata={"leverage": request.leverage, "commission": request.commission},
            parameters=request.parameters,
            objective=request.objective,
            max_combinations=request.max_combinations,
            combination_count=count,
            method=request.method,
            direction=request.direction or default_direction(request.objective),
            constraints=list(request.constraints),
            min_trades=request.min_trades,
            n_trials=request.n_trials,
            batch_size=request.batch_size,
            seed=request.seed,
            walk_forward=request.walk_forward,
            status=PENDING,
            progress=0,
            best=None,
            error=None,
            execution_arn=None,
            created_at=now,
            updated_at=now,
            started_at=None,
            completed_at=None,
        )
        self.repository.add(optimization)
        execution_arn = start_execution(
            self.repository, self.launcher, optimization.id, "optimization", now, self.clock
        )
        return replace(optimization, execution_arn=execution_arn)

    def estimate(self, user: User, request: OptimizationRequest) -> dict[str, Any]:
        """What `create` would run (a dry run): the same checks, then counts, Lambda GB-seconds,
        cost and ETA at the template's concurrency; nothing is stored or started."""
        from shared.optimizations.estimate import estimate_sweep
        from shared.optimizations.sweep import batch_count
        from shared.timeframes import timeframe_ms

        request, _, count = self._plan(user, request)
        bars = max(
            1, int((request.end_time - request.start_time).total_seconds() * 1000) // timeframe_ms(request.timeframe)
        )
        rounds = [count] if request.method != "bayesian" else _rounds(count, request.batch_size or count)
        return {"dry_run": True, "method": request.method, "combination_count": count} | estimate_sweep(
            [batch_count(trials, self.max_concurrency, bars) for trials in rounds],
            rounds,
            bars,
            self.max_concurrency,
            self.batch_memory_mb,
        )

    def heatmap(self, user: User, optimization_id: str, x: str, y: str, metric: str | None) -> dict[str, Any]:
        """A completed optimization's `metric` (default: its objective) over parameters x and y."""
        from shared.optimizations.heatmap import heatmap

        optimization = self.get(user, optimization_id)
        if optimization.status != COMPLETED:
            raise Conflict(f"the optimization is {optimization.status}: its heatmap comes once it completed")
        metric = metric or optimization.objective
        direction = optimization.direction if metric == optimization.objective else default_direction(metric)
        return heatmap(self.store.every_result(optimization_id), list(optimization.parameters), x, y, metric, direction)

    def _plan(self, user: User, request: OptimizationRequest) -> tuple[OptimizationRequest, Strategy, int]:
        """The checked request, its strategy and how many combinations it runs (422 naming the field)."""
        from shared.optimizations.sweep import sweep_combinations  # NumPy and the engine: not at the API's cold start

        request = replace(request, symbol=request.symbol.strip().upper(), seed=request.seed or 0)
        if request.method == "bayesian" and request.batch_size is None:
            request = replace(request, batch_size=min(request.n_trials or 1, DEFAULT_BATCH_SIZE))
        strategy = Strategies(self.strategies).get(user, request.strategy_id)
        definition = strategy.definition()
        self._check(request, definition)
        check_condition_timeframes(definition, request.timeframe)
        combos = sweep_combinations(
            definition,
            request.method,
            request.parameters,
            request.constraints,
            request.max_combinations,
            request.n_trials,
            request.seed,
        )
        per_window = len(combos) if combos is not None else request.n_trials or 0
        if request.walk_forward is None:
            return request, strategy, per_window
        from shared.optimizations.walk_forward import lay_out

        windows = lay_out(
            int(request.start_time.timestamp() * 1000), int(request.end_time.timestamp() * 1000), **request.walk_forward
        )
        return request, strategy, per_window * len(windows)

    def list(
        self, user: User, page: PageRequest, status: str | None = None, walk_forwards: bool = False
    ) -> Page[Optimization]:
        """The user's optimizations (or walk-forwards), newest first."""
        mine = [
            o
            for o in self.repository.list_owned(user.id)
            if (status is None or o.status == status) and (o.walk_forward is not None) == walk_forwards
        ]
        return paginate(ordered(mine, lambda o: o.created_at, DESC), page)

    def get(self, user: User, optimization_id: str, walk_forward: bool = False) -> Optimization:
        """The user's optimization (or walk-forward: the two are separate resources); NotFound otherwise."""
        optimization = self.repository.get(optimization_id)
        if (
            optimization is None
            or optimization.owner_id != user.id
            or (optimization.walk_forward is not None) != walk_forward
        ):
            raise NotFound("walk-forward not found" if walk_forward else "optimization not found")
        return optimization

    def walk_forward_result(self, user: User, walk_forward_id: str) -> tuple[Optimization, dict[str, Any] | None]:
        """A walk-forward and, once completed, its windows, stitched out-of-sample run and figures."""
        walk_forward = self.get(user, walk_forward_id, walk_forward=True)
        return walk_forward, self.store.walk_forward(walk_forward_id) if walk_forward.status == COMPLETED else None

    def results(self, user: User, optimization_id: str, page: PageRequest) -> Page[dict[str, Any]]:
        """The ranked results (best first; the best `sweep.RANKED_RESULTS`), once completed; Conflict before."""
        optimization = self.get(user, optimization_id)
        if optimization.status != COMPLETED:
            raise Conflict(f"the optimization is {optimization.status}: results come once it completed")
        return paginate(self.store.ranking(optimization_id) or [], page)

    def full_result(
        self, user: User, optimization_id: str, rank: int, trades: PageRequest, points: int
    ) -> tuple[dict[str, Any], Page[dict[str, Any]], SeriesPoints]:
        """Rank `rank` of a completed optimization run in full: its result (rank, params, objective
        value, final balance, summary), a page of its trades and its equity curve downsampled to
        at most `points` (as a backtest's). NotFound beyond the best FULL_RESULTS; Conflict before
        completion."""
        from shared.backtests.equity import downsample

        optimization = self.get(user, optimization_id)
        if optimization.status != COMPLETED:
            raise Conflict(f"the optimization is {optimization.status}: results come once it completed")
        found = self.store.full_result(optimization_id, rank, slice(trades.offset, trades.offset + trades.limit))
        if found is None:
            raise NotFound(
                f"rank {rank} has no full result: only the best {FULL_RESULTS} combinations keep their trades "
                'and equity curve; run any other combination as a backtest ("run as backtest")'
            )
        return (
            found.document,
            Page(found.trades, found.document["trade_count"], trades),
            downsample(found.equity, points),
        )

    def _check(self, request: OptimizationRequest, strategy: dict[str, Any]) -> None:
        from shared.optimizations.sweep import summary_metrics

        errors = []
        if request.end_time <= request.start_time:
            errors.append(FieldError("end_time", "must be after start_time"))
        metrics = summary_metrics(strategy)
        if request.objective not in metrics:
            errors.append(
                FieldError(
                    "objective",
                    f"must be a numeric metric of the performance summary (a "
                    f"sub-summary's by its dotted path): {', '.join(metrics)}",
                )
            )
        if request.method not in METHODS:
            errors.append(FieldError("method", f"must be one of {', '.join(METHODS)}"))
        if request.direction is not None and request.direction not in DIRECTIONS:
            errors.append(FieldError("direction", f"must be one of {', '.join(DIRECTIONS)}"))
        if not 1 <= request.max_combinations <= self.max_combinations:
            errors.append(FieldError("max_combinations", f"must be between 1 and {self.max_combinations}"))
        if request.method == "grid":
            errors += [
                FieldError(name, "only for the random and bayesian methods")
                for name in ("n_trials", "batch_size")
                if getattr(request, name) is not None
            ]
        elif request.n_trials is None or not 1 <= request.n_trials <= request.max_combinations:
            errors.append(
                FieldError(
                    "n_trials",
                    f"the {request.method} method needs 1 to max_combinations ({request.max_combinations}) trials",
                )
            )
        if request.method == "random" and request.batch_size is not None:
            errors.append(FieldError("batch_size", "only for the bayesian method"))
        if request.method == "bayesian" and not 1 <= (request.batch_size or 0) <= MAX_BATCH_SIZE:
            errors.append(FieldError("batch_size", f"must be between 1 and {MAX_BATCH_SIZE}"))
        if request.min_trades < 0:
            errors.append(FieldError("min_trades", "must be at least 0"))
        try:
            settings_of(request.initial_balance, request.commission, request.leverage, request.timeframe)
        except ValidationFailed as error:
            errors += error.errors
        check_market(self.catalog, request.symbol, request.timeframe, errors)
        if errors:
            raise ValidationFailed("invalid optimization", errors)


def _rounds(trials: int, batch_size: int) -> list[int]:
    """A Bayesian search's rounds: `batch_size` trials each, the last one what remains."""
    return [min(batch_size, trials - start) for start in range(0, trials, batch_size)]


def settings_of(initial_balance: float, commission: float, leverage: float, timeframe: str) -> BacktestSettings:
    """The engine's settings of an optimization (ValidationFailed naming `metadata.*` fields)."""
    from shared.engine import BacktestSettings

    return BacktestSettings(
        initial_balance=float(initial_balance),
        commission=float(commission),
        leverage=float(leverage),
        timeframe=timeframe,
    )
