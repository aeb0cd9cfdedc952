"""What the strategy use-cases need from storage (DynamoDB implementation in `adapters.repositories`)."""

from __future__ import annotations

from typing import Protocol

from shared.strategies.model import Strategy, StrategySummary


class StrategyRepository(Protocol):
    def add(self, strategy: Strategy) -> None: ...

    def get(self, strategy_id: str) -> Strategy | None: ...

    def replace(self, strategy: Strategy) -> None:
        """Overwrite an existing strategy; `NotFound` when it no longer exists."""

    def delete(self, strategy_id: str) -> None:
        """`NotFound` when it does not exist."""

    def list_owned(self, owner_id: str) -> list[StrategySummary]: ...

    def list_public(self) -> list[StrategySummary]: ...
