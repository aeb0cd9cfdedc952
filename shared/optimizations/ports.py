"""What the optimization use-cases need from storage. The DynamoDB/S3 implementations live in
`adapters` (`adapters.repositories.optimizations`, `adapters.optimization_store`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.optimizations.model import Optimization

if TYPE_CHECKING:
    from shared.optimizations.full_results import FullResult


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

    def put_batch(self, optimization_id: str, index: int, batch: dict[str, Any]) -> None:
        """Batch `index`: {"window": its train window, "combos": its combinations}."""

    def batch(self, optimization_id: str, index: int) -> dict[str, Any]: ...

    def put_items(self, optimization_id: str, items: list[dict[str, Any]], round_number: int = 0) -> str:
        """A round's distributed Map item list; returns its key (the ItemReader reads it)."""

    def put_study(self, optimization_id: str, logs: list[dict[str, Any]], window: int = 0) -> None: ...

    def study(self, optimization_id: str, window: int = 0) -> list[dict[str, Any]]:
        """A window's Bayesian study as journal logs ([] before the first round)."""

    def put_round(self, optimization_id: str, round_number: int, trials: dict[int, int], window: int = 0) -> None: ...

    def round(self, optimization_id: str, round_number: int, window: int = 0) -> dict[int, int]: ...

    def put_walk_forward(self, optimization_id: str, result: dict[str, Any]) -> None: ...

    def walk_forward(self, optimization_id: str) -> dict[str, Any] | None: ...

    def put_results(
        self, optimization_id: str, index: int, header: dict[str, Any], results: list[dict[str, Any]]
    ) -> None:
        """Batch `index`'s results, best first (`sweep.rank_key`), after a `header` (its window,
        combination count, timings). Kept until the optimization goes: the heatmap reads them."""

    def has_results(self, optimization_id: str, index: int) -> bool: ...

    def finished_batches(self, optimization_id: str) -> set[int]:
        """The indices of the batches with results."""

    def results(self, optimization_id: str, indices: Iterable[int]) -> list[dict[str, Any]]:
        """The results of batches `indices`, whole: each its header with `results`."""

    def ranked_results(self, optimization_id: str, index: int) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
        """Batch `index`'s header and its results best first, read as far as they are iterated."""

    def every_result(self, optimization_id: str) -> Iterator[dict[str, Any]]:
        """Every batch's results, one batch's object at a time."""

    def results_done(self, optimization_id: str) -> int: ...

    def put_ranking(self, optimization_id: str, ranking: list[dict[str, Any]]) -> None: ...

    def ranking(self, optimization_id: str) -> list[dict[str, Any]] | None: ...

    def put_full_result(self, optimization_id: str, result: FullResult) -> None:
        """One of the best combinations run in full (`shared.optimizations.full_results`), by its
        rank: written whole, so a retried Finish rewrites the same objects. Removed by `delete`."""

    def full_result(self, optimization_id: str, rank: int, trades: slice | None = None) -> FullResult | None:
        """Rank `rank`'s full result, its document with `trade_count`; only the trades of `trades`
        (a slice of the entry order; None: all), read no further than they go. None when that rank
        has none (beyond the best kept)."""

    def delete_intermediates(self, optimization_id: str) -> None: ...

    def delete(self, optimization_id: str) -> None:
        """Everything of the optimization, ranking included."""
