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
    short_entry_rules: dict[str, Any] | None = None  # config.direction both: the short side's rules
    short_exit_rules: dict[str, Any] | None = None

    def definition(self) -> dict[str, Any]:
        """The part the engine runs, as `validate_strategy` takes it and a backtest snapshots it."""
        return definition_of(self)


def definition_of(strategy: Any) -> dict[str, Any]:
    """entry_rules, exit_rules, config and the short side's rules when it has them."""
    definition = {"entry_rules": strategy.entry_rules, "exit_rules": strategy.exit_rules, "config": strategy.config}
    for name in ("short_entry_rules", "short_exit_rules"):
        if getattr(strategy, name) is not None:
            definition[name] = getattr(strategy, name)
    return definition
