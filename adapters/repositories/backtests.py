"""Backtests in the backtests table, with their status changes as conditional updates."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from adapters.models.backtests import BacktestItem, OwnerIndex, TradeKeyIndex
from adapters.repositories.binding import condition_failed, update_in_status
from shared.services.records import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    Backtest,
    BacktestSummary,
)
from shared.services.trade_ids import trade_key

_SUMMARY_FIELDS = (
    "id", "owner_id", "strategy_id", "strategy_name", "symbol", "timeframe", "start_time", "end_time",
    "initial_balance", "final_balance", "status", "created_at", "updated_at",
)
_DETAIL_FIELDS = ("strategy", "metadata", "performance_summary", "error", "execution_arn", "started_at", "completed_at")


def _summary_values(item: BacktestItem) -> dict[str, Any]:
    return {name: getattr(item, name) for name in _SUMMARY_FIELDS} | {"progress": int(item.progress or 0)}


class DynamoBacktestRepository:
    def __init__(self, model: type[BacktestItem] = BacktestItem) -> None:
        self._model = model

    def add(self, backtest: Backtest) -> None:
        values = {name: getattr(backtest, name) for name in _SUMMARY_FIELDS + _DETAIL_FIELDS if name != "id"}
        item = self._model(backtest.id, trade_key=trade_key(backtest.id), progress=backtest.progress, **values)
        item.save(condition=self._model.id.does_not_exist())

    def get(self, backtest_id: str) -> Backtest | None:
        try:
            return self._backtest(self._model.get(backtest_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list_owned(self, owner_id: str) -> list[BacktestSummary]:
        items = self._model.query(owner_id, index_name=OwnerIndex.Meta.index_name)
        return [BacktestSummary(**_summary_values(item)) for item in items]

    def find_id_by_trade_key(self, key: str) -> str | None:
        found = next(iter(self._model.query(key, index_name=TradeKeyIndex.Meta.index_name, limit=1)), None)
        return found.id if found else None

    def delete(self, backtest_id: str) -> None:
        self._model(backtest_id).delete()

    def set_execution(self, backtest_id: str, execution_arn: str, now: datetime) -> None:
        model = self._model
        self._update(backtest_id, None, [model.execution_arn.set(execution_arn), model.updated_at.set(now)])

    def mark_running(self, backtest_id: str, now: datetime) -> Backtest:
        model = self._model
        return self._update(backtest_id, {PENDING}, [model.status.set(RUNNING), model.started_at.set(now),
                                                     model.updated_at.set(now)])

    def set_progress(self, backtest_id: str, progress: int, now: datetime) -> Backtest:
        model = self._model
        return self._update(backtest_id, {RUNNING}, [model.progress.set(progress), model.updated_at.set(now)])

    def advance_progress(self, backtest_id: str, progress: int, now: datetime) -> bool:
        """Raise a running backtest's progress; False (nothing written) when it is not running or
        already at or past `progress` (parallel chunks report out of order)."""
        model = self._model
        condition = model.status == RUNNING
        condition &= model.progress.does_not_exist() | (model.progress < progress)
        try:
            model(backtest_id).update(actions=[model.progress.set(progress), model.updated_at.set(now)],
                                      condition=condition)
        except UpdateError as error:
            if not condition_failed(error):
                raise
            return False
        return True

    def complete(self, backtest_id: str, final_balance: float, performance_summary: dict[str, Any],
                 now: datetime) -> Backtest:
        # completed -> completed too: a re-run of the persisting step writes the same result again.
        model = self._model
        return self._update(backtest_id, {RUNNING, COMPLETED}, [
            model.status.set(COMPLETED), model.progress.set(100), model.final_balance.set(final_balance),
            model.performance_summary.set(performance_summary), model.completed_at.set(now), model.updated_at.set(now),
        ])

    def fail(self, backtest_id: str, error: str, now: datetime) -> Backtest:
        model = self._model
        return self._update(backtest_id, {PENDING, RUNNING}, [model.status.set(FAILED), model.error.set(error),
                                                              model.completed_at.set(now), model.updated_at.set(now)])

    def cancel(self, backtest_id: str, now: datetime) -> Backtest:
        model = self._model
        return self._update(backtest_id, {PENDING, RUNNING}, [model.status.set(CANCELLED), model.completed_at.set(now),
                                                              model.updated_at.set(now)])

    def _update(self, backtest_id: str, from_statuses: Collection[str] | None, actions: list[Action]) -> Backtest:
        """Apply `actions` if the backtest exists (and is in one of `from_statuses`, when given)."""
        item = update_in_status(self._model, backtest_id, from_statuses, actions, lambda: self.get(backtest_id),
                                "backtest")
        return self._backtest(item)

    @staticmethod
    def _backtest(item: BacktestItem) -> Backtest:
        return Backtest(**_summary_values(item), **{name: getattr(item, name) for name in _DETAIL_FIELDS})
