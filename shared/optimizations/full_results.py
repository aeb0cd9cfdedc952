"""The full results of a sweep's best combinations: their trades and equity curves.

A batch keeps only what ranking needs (each combination's params and summary), so the state and
the objects stay flat however large the sweep. Once ranked, Finish runs the best FULL_RESULTS
combinations again, one at a time, as single backtests on the same candles with the same
settings (what a backtest of that combination is), and stores each one's trades and equity
curve beside the ranking: time and memory grow with FULL_RESULTS, not with the sweep. Any other
combination is a backtest away ("run as backtest" on the dashboard).

The engine is imported on first use, keeping it off the API's cold start (the API reads
FULL_RESULTS for its route's description).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.backtests.equity import EquitySeries
    from shared.candles import Candles
    from shared.engine import BacktestSettings

FULL_RESULTS = 10  # how many of the best combinations keep their trades and equity curve


@dataclass(frozen=True, eq=False)
class FullResult:
    """One ranked combination run in full: `document` its rank, params, objective value, final
    balance and summary (and, as stored, `trade_count`); `trades` the engine's records in entry
    order (as read back: those asked for); `equity` its curve beside buy-and-hold."""

    document: dict[str, Any]
    trades: list[dict[str, Any]]
    equity: EquitySeries

    @property
    def rank(self) -> int:
        return int(self.document["rank"])


def full_results(
    strategy: Mapping[str, Any],
    ranking: Sequence[Mapping[str, Any]],
    candles: Candles,
    settings: BacktestSettings,
    keep: int = FULL_RESULTS,
) -> Iterator[FullResult]:
    """The best `keep` results of `ranking` (best first, each with rank, params and objective
    value) run again in full, one at a time (iterate to run the next)."""
    from shared.backtests.equity import EquitySeries
    from shared.engine import run_backtest
    from shared.strategy import validate_strategy, with_parameters

    for ranked in ranking[:keep]:
        result = run_backtest(validate_strategy(with_parameters(strategy, ranked["params"])), candles, settings)
        yield FullResult(
            {
                "rank": ranked["rank"],
                "params": ranked["params"],
                "objective_value": ranked["objective_value"],
                "final_balance": result.final_balance,
                "performance_summary": result.performance_summary,
            },
            result.trades.to_records(),
            EquitySeries.of(result.equity_curve, candles, settings.initial_balance),
        )
