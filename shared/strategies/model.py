"""The strategy records, as the strategy repository returns them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StrategySummary:
    """What strategy listings show: everything but the rules."""

    id: str
    owner_id: str
    name: str
    description: str
    strategy_type: str | None
    is_active: bool
    is_public: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Strategy(StrategySummary):
    entry_rules: dict[str, Any]
    exit_rules: dict[str, Any]
    config: dict[str, Any]

    def definition(self) -> dict[str, Any]:
        """The part the engine runs, as `validate_strategy` takes it and a backtest snapshots it."""
        return {"entry_rules": self.entry_rules, "exit_rules": self.exit_rules, "config": self.config}
