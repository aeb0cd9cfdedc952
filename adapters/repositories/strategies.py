"""Strategies in the strategies table; listings come from its owner and public indexes."""

from __future__ import annotations

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from adapters.models.strategies import PUBLIC_LISTING, OwnerIndex, PublicIndex, StrategyItem
from adapters.repositories.binding import condition_failed
from shared.errors import NotFound
from shared.strategies.model import Strategy, StrategySummary


def _summary(item: StrategyItem) -> StrategySummary:
    return StrategySummary(
        id=item.id,
        owner_id=item.owner_id,
        name=item.name,
        description=item.description or "",
        strategy_type=item.strategy_type,
        is_active=item.is_active,
        is_public=item.is_public,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


class DynamoStrategyRepository:
    def __init__(self, model: type[StrategyItem] = StrategyItem) -> None:
        self._model = model

    def add(self, strategy: Strategy) -> None:
        self._item(strategy).save(condition=self._model.id.does_not_exist())

    def get(self, strategy_id: str) -> Strategy | None:
        try:
            item = self._model.get(strategy_id, consistent_read=True)
        except DoesNotExist:
            return None
        summary = _summary(item)
        return Strategy(
            **vars(summary),
            entry_rules=item.entry_rules,
            exit_rules=item.exit_rules,
            config=item.config,
            short_entry_rules=item.short_entry_rules,
            short_exit_rules=item.short_exit_rules,
        )

    def replace(self, strategy: Strategy) -> None:
        try:
            self._item(strategy).save(condition=self._model.id.exists())
        except PutError as error:
            if condition_failed(error):
                raise NotFound("strategy not found") from None
            raise

    def delete(self, strategy_id: str) -> None:
        try:
            self._model(strategy_id).delete(condition=self._model.id.exists())
        except DeleteError as error:
            if condition_failed(error):
                raise NotFound("strategy not found") from None
            raise

    def list_owned(self, owner_id: str) -> list[StrategySummary]:
        return [_summary(item) for item in self._model.query(owner_id, index_name=OwnerIndex.Meta.index_name)]

    def list_public(self) -> list[StrategySummary]:
        return [_summary(item) for item in self._model.query(PUBLIC_LISTING, index_name=PublicIndex.Meta.index_name)]

    def _item(self, strategy: Strategy) -> StrategyItem:
        return self._model(
            strategy.id,
            owner_id=strategy.owner_id,
            name=strategy.name,
            description=strategy.description,
            strategy_type=strategy.strategy_type,
            entry_rules=strategy.entry_rules,
            exit_rules=strategy.exit_rules,
            config=strategy.config,
            short_entry_rules=strategy.short_entry_rules,
            short_exit_rules=strategy.short_exit_rules,
            is_active=strategy.is_active,
            is_public=strategy.is_public,
            public_listing=PUBLIC_LISTING if strategy.is_public else None,
            created_at=strategy.created_at,
            updated_at=strategy.updated_at,
        )
