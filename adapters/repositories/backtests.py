"""Backtests in the backtests table, with their status changes as conditional updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.models.backtests import BacktestItem, OwnerIndex, TradeKeyIndex
from adapters.repositories.runs import RunRepository
from shared.backtests.model import Backtest, BacktestSummary
from shared.backtests.trade_ids import trade_key
from shared.statuses import CANCELLED, COMPLETED, PENDING, RUNNING

_SUMMARY_FIELDS = (
    "id",
    "owner_id",
    "strategy_id",
    "strategy_name",
    "symbol",
    "timeframe",
    "start_time",
    "end_time",
    "initial_balance",
    "final_balance",
    "status",
    "created_at",
    "updated_at",
)
_DETAIL_FIELDS = ("strategy", "metadata", "performance_summary", "error", "execution_arn", "started_at", "completed_at")


def _summary_values(item: BacktestItem) -> dict[str, Any]:
    return {name: getattr(item, name) for name in _SUMMARY_FIELDS} | {"progress": int(item.progress or 0)}


class DynamoBacktestRepository(RunRepository[Backtest]):
    noun = "backtest"

    def __init__(self, model: type[BacktestItem] = BacktestItem) -> None:
        super().__init__(model)

    def add(self, backtest: Backtest) -> None:
        values = {name: getattr(backtest, name) for name in _SUMMARY_FIELDS + _DETAIL_FIELDS if name != "id"}
        item = self._model(backtest.id, trade_key=trade_key(backtest.id), progress=backtest.progress, **values)
        item.save(condition=self._model.id.does_not_exist())

    def list_owned(self, owner_id: str) -> list[BacktestSummary]:
        items = self._model.query(owner_id, index_name=OwnerIndex.Meta.index_name)
        return [BacktestSummary(**_summary_values(item)) for item in items]

    def find_id_by_trade_key(self, key: str) -> str | None:
        found = next(iter(self._model.query(key, index_name=TradeKeyIndex.Meta.index_name, limit=1)), None)
        return found.id if found else None

    def delete(self, backtest_id: str) -> None:
        self._model(backtest_id).delete()

    def set_progress(self, backtest_id: str, progress: int, now: datetime) -> Backtest:
        model = self._model
        return self._update(backtest_id, {RUNNING}, [model.progress.set(progress), model.updated_at.set(now)])

    def complete(
        self, backtest_id: str, final_balance: float, performance_summary: dict[str, Any], now: datetime
    ) -> Backtest:
        # completed -> completed too: a re-run of the persisting step writes the same result again.
        model = self._model
        return self._update(
            backtest_id,
            {RUNNING, COMPLETED},
            [
                model.status.set(COMPLETED),
                model.progress.set(100),
                model.final_balance.set(final_balance),
                model.performance_summary.set(performance_summary),
                model.completed_at.set(now),
                model.updated_at.set(now),
            ],
        )

    def cancel(self, backtest_id: str, now: datetime) -> Backtest:
        model = self._model
        return self._update(
            backtest_id,
            {PENDING, RUNNING},
            [model.status.set(CANCELLED), model.completed_at.set(now), model.updated_at.set(now)],
        )

    def _record(self, item: BacktestItem) -> Backtest:
        return Backtest(**_summary_values(item), **{name: getattr(item, name) for name in _DETAIL_FIELDS})
