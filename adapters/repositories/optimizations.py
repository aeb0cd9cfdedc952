"""Optimizations in the optimizations table, status changes as conditional updates (as backtests)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from adapters.models.optimizations import OptimizationItem, OwnerIndex
from adapters.repositories.binding import condition_failed, update_in_status
from shared.services.optimizations import Optimization
from shared.services.records import COMPLETED, FAILED, PENDING, RUNNING

_FIELDS = tuple(field.name for field in fields(Optimization))
_INTEGERS = ("max_combinations", "combination_count", "progress")


class DynamoOptimizationRepository:
    def __init__(self, model: type[OptimizationItem] = OptimizationItem) -> None:
        self._model = model

    def add(self, optimization: Optimization) -> None:
        values = {name: getattr(optimization, name) for name in _FIELDS if name != "id"}
        self._model(optimization.id, **values).save(condition=self._model.id.does_not_exist())

    def get(self, optimization_id: str) -> Optimization | None:
        try:
            return _optimization(self._model.get(optimization_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list_owned(self, owner_id: str) -> list[Optimization]:
        return [_optimization(item) for item in self._model.query(owner_id, index_name=OwnerIndex.Meta.index_name)]

    def set_execution(self, optimization_id: str, execution_arn: str, now: datetime) -> None:
        model = self._model
        self._update(optimization_id, None, [model.execution_arn.set(execution_arn), model.updated_at.set(now)])

    def mark_running(self, optimization_id: str, now: datetime) -> Optimization:
        model = self._model
        return self._update(optimization_id, {PENDING}, [model.status.set(RUNNING), model.started_at.set(now),
                                                        model.updated_at.set(now)])

    def advance_progress(self, optimization_id: str, progress: int, now: datetime) -> bool:
        model = self._model
        condition = (model.status == RUNNING) & (model.progress.does_not_exist() | (model.progress < progress))
        try:
            model(optimization_id).update(actions=[model.progress.set(progress), model.updated_at.set(now)],
                                          condition=condition)
        except UpdateError as error:
            if not condition_failed(error):
                raise
            return False
        return True

    def complete(self, optimization_id: str, best: dict[str, Any] | None, now: datetime) -> Optimization:
        model = self._model
        return self._update(optimization_id, {RUNNING, COMPLETED}, [
            model.status.set(COMPLETED), model.progress.set(100), model.best.set(best), model.completed_at.set(now),
            model.updated_at.set(now)])

    def fail(self, optimization_id: str, error: str, now: datetime) -> Optimization:
        model = self._model
        return self._update(optimization_id, {PENDING, RUNNING}, [
            model.status.set(FAILED), model.error.set(error), model.completed_at.set(now), model.updated_at.set(now)])

    def _update(self, optimization_id: str, from_statuses: Collection[str] | None, actions: list[Action]) -> Optimization:
        item = update_in_status(self._model, optimization_id, from_statuses, actions,
                                lambda: self.get(optimization_id), "optimization")
        return _optimization(item)


def _optimization(item: OptimizationItem) -> Optimization:
    values = {name: getattr(item, name) for name in _FIELDS}
    return Optimization(**values | {name: int(values[name] or 0) for name in _INTEGERS})
