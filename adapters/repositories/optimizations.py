"""Optimizations in the optimizations table, status changes as conditional updates (as backtests)."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from adapters.models.optimizations import OptimizationItem, OwnerIndex
from adapters.repositories.runs import RunRepository
from shared.optimizations.model import Optimization
from shared.statuses import COMPLETED, RUNNING

_FIELDS = tuple(field.name for field in fields(Optimization))
_INTEGERS = ("max_combinations", "combination_count", "progress", "min_trades")
_OPTIONAL_INTEGERS = ("n_trials", "batch_size", "seed")


class DynamoOptimizationRepository(RunRepository[Optimization]):
    noun = "optimization"

    def __init__(self, model: type[OptimizationItem] = OptimizationItem) -> None:
        super().__init__(model)

    def _record(self, item: OptimizationItem) -> Optimization:
        return _optimization(item)

    def add(self, optimization: Optimization) -> None:
        values = {name: getattr(optimization, name) for name in _FIELDS if name != "id"}
        self._model(optimization.id, **values).save(condition=self._model.id.does_not_exist())

    def list_owned(self, owner_id: str) -> list[Optimization]:
        return [_optimization(item) for item in self._model.query(owner_id, index_name=OwnerIndex.Meta.index_name)]

    def complete(self, optimization_id: str, best: dict[str, Any] | None, now: datetime) -> Optimization:
        model = self._model
        return self._update(
            optimization_id,
            {RUNNING, COMPLETED},
            [
                model.status.set(COMPLETED),
                model.progress.set(100),
                model.best.set(best),
                model.completed_at.set(now),
                model.updated_at.set(now),
            ],
        )


def _optimization(item: OptimizationItem) -> Optimization:
    values = {name: getattr(item, name) for name in _FIELDS}
    return Optimization(
        **values
        | {name: int(values[name] or 0) for name in _INTEGERS}
        | {name: None if values[name] is None else int(values[name]) for name in _OPTIONAL_INTEGERS}
    )
