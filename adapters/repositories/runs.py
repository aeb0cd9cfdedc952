"""The lifecycle backtests and optimizations share, as conditional DynamoDB writes.

A run goes pending -> running -> completed | failed (or cancelled), carries the ARN of the Step
Functions execution doing it, and reports a progress that only rises (parallel steps finish out
of order). Each transition is one conditional update (`update_in_status`), so two concurrent
transitions can never both win.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from datetime import datetime
from typing import Any, Generic, TypeVar

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from adapters.repositories.binding import condition_failed, update_in_status
from shared.statuses import FAILED, PENDING, RUNNING

R = TypeVar("R")


class RunRepository(ABC, Generic[R]):
    noun: str  # what the runs are called in errors ("backtest", "optimization")

    def __init__(self, model: Any) -> None:
        self._model = model

    @abstractmethod
    def _record(self, item: Any) -> R:
        """The domain record of a stored item."""

    def get(self, run_id: str) -> R | None:
        try:
            return self._record(self._model.get(run_id, consistent_read=True))
        except DoesNotExist:
            return None

    def set_execution(self, run_id: str, execution_arn: str, now: datetime) -> None:
        model = self._model
        self._update(run_id, None, [model.execution_arn.set(execution_arn), model.updated_at.set(now)])

    def mark_running(self, run_id: str, now: datetime) -> R:
        model = self._model
        return self._update(
            run_id, {PENDING}, [model.status.set(RUNNING), model.started_at.set(now), model.updated_at.set(now)]
        )

    def advance_progress(self, run_id: str, progress: int, now: datetime) -> bool:
        """Raise a running run's progress; False (nothing written) when it is not running or
        already at or past `progress`."""
        model = self._model
        condition = (model.status == RUNNING) & (model.progress.does_not_exist() | (model.progress < progress))
        try:
            model(run_id).update(actions=[model.progress.set(progress), model.updated_at.set(now)], condition=condition)
        except UpdateError as error:
            if not condition_failed(error):
                raise
            return False
        return True

    def stale(self, before: datetime) -> list[str]:
        """Ids of the runs pending or running last updated before `before` (the run watchdog's
        sweep: a filtered Scan, read a page at a time; runs are few next to their trades)."""
        model = self._model
        condition = model.status.is_in(PENDING, RUNNING) & (model.updated_at < before)
        return [item.id for item in model.scan(condition, attributes_to_get=["id"])]

    def fail(self, run_id: str, error: str, now: datetime) -> R:
        model = self._model
        return self._update(
            run_id,
            {PENDING, RUNNING},
            [model.status.set(FAILED), model.error.set(error), model.completed_at.set(now), model.updated_at.set(now)],
        )

    def _update(self, run_id: str, from_statuses: Collection[str] | None, actions: list[Action]) -> R:
        """Apply `actions` if the run exists (and is in one of `from_statuses`, when given)."""
        item = update_in_status(self._model, run_id, from_statuses, actions, lambda: self.get(run_id), self.noun)
        return self._record(item)
