"""Strategies: owned by their creator, optionally public.

Visibility rule (the same for every resource of the API): a resource the caller may not read
answers 404 exactly like one that does not exist, so ids of other users' private strategies and
backtests cannot be probed. A public strategy is readable by every user; changing or deleting
it is the owner's alone, and others get 403 (they can see it, so hiding it would be a lie).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from shared.accounts.model import User
from shared.errors import FieldError, Forbidden, NotFound, ValidationFailed
from shared.ids import new_id
from shared.pagination import DESC, Page, PageRequest, ordered, paginate
from shared.strategies.model import Strategy, StrategySummary, definition_of
from shared.strategies.ports import StrategyRepository
from shared.times import utc_now

MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
MAX_TYPE_LENGTH = 64
MAX_DEFINITION_BYTES = 64 * 1024  # entry_rules + exit_rules + config as JSON; DynamoDB items stop at 400 KB
ORDER_FIELDS = ("created_at", "updated_at", "name")
SCOPE_OWN, SCOPE_PUBLIC = "own", "public"


def validate_definition(definition: dict[str, Any]) -> None:
    """The engine's validation of entry_rules / exit_rules / config (ValidationFailed with details)."""
    # Imported on first use: the strategy language pulls NumPy, which the API's cold start avoids.
    from shared.strategy import validate_strategy

    validate_strategy(definition)


@dataclass(frozen=True)
class StrategyDraft:
    """A strategy's editable fields, as a client sends them."""

    name: str
    entry_rules: dict[str, Any]
    exit_rules: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    strategy_type: str | None = None
    is_active: bool = True
    is_public: bool = False
    short_entry_rules: dict[str, Any] | None = None
    short_exit_rules: dict[str, Any] | None = None


_EDITABLE = tuple(f.name for f in fields(StrategyDraft))


@dataclass(frozen=True)
class StrategyFilters:
    scope: str = SCOPE_OWN
    is_active: bool | None = None
    strategy_type: str | None = None
    order_by: str = "created_at"
    order_dir: str = DESC


@dataclass
class Strategies:
    repository: StrategyRepository
    validate: Callable[[dict[str, Any]], None] = validate_definition
    clock: Callable[[], datetime] = utc_now

    def list(self, user: User, filters: StrategyFilters, page: PageRequest) -> Page[StrategySummary]:
        found = self.repository.list_public() if filters.scope == SCOPE_PUBLIC else self.repository.list_owned(user.id)
        matching = [
            s
            for s in found
            if (filters.is_active is None or s.is_active == filters.is_active)
            and (filters.strategy_type is None or s.strategy_type == filters.strategy_type)
        ]
        return paginate(ordered(matching, lambda s: getattr(s, filters.order_by), filters.order_dir), page)

    def create(self, user: User, draft: StrategyDraft) -> Strategy:
        draft = self._checked(draft)
        now = self.clock()
        strategy = Strategy(
            id=new_id(),
            owner_id=user.id,
            created_at=now,
            updated_at=now,
            **{name: getattr(draft, name) for name in _EDITABLE},
        )
        self.repository.add(strategy)
        return strategy

    def get(self, user: User, strategy_id: str) -> Strategy:
        """The strategy if the user may read it (own or public); NotFound otherwise."""
        strategy = self.repository.get(strategy_id)
        if strategy is None or not (strategy.owner_id == user.id or strategy.is_public):
            raise NotFound("strategy not found")
        return strategy

    def update(self, user: User, strategy_id: str, changes: dict[str, Any]) -> Strategy:
        """Apply `changes` (any subset of the editable fields) and validate the result as a whole."""
        current = self._owned(user, strategy_id)
        unknown = set(changes) - set(_EDITABLE)
        if unknown:
            raise ValidationFailed(
                "unknown fields", [FieldError(name, "is not an editable field") for name in sorted(unknown)]
            )
        merged = self._checked(replace(self._draft_of(current), **changes))
        updated = replace(current, updated_at=self.clock(), **{name: getattr(merged, name) for name in _EDITABLE})
        self.repository.replace(updated)
        return updated

    def delete(self, user: User, strategy_id: str) -> None:
        self._owned(user, strategy_id)
        self.repository.delete(strategy_id)

    def _owned(self, user: User, strategy_id: str) -> Strategy:
        strategy = self.get(user, strategy_id)
        if strategy.owner_id != user.id:
            raise Forbidden("only the owner may change this strategy")
        return strategy

    @staticmethod
    def _draft_of(strategy: Strategy) -> StrategyDraft:
        return StrategyDraft(**{name: getattr(strategy, name) for name in _EDITABLE})

    def _checked(self, draft: StrategyDraft) -> StrategyDraft:
        """The draft with surrounding blanks trimmed, or ValidationFailed naming every bad field."""
        draft = replace(
            draft,
            name=draft.name.strip(),
            description=(draft.description or "").strip(),
            strategy_type=(draft.strategy_type or "").strip() or None,
        )
        errors = []
        if not 1 <= len(draft.name) <= MAX_NAME_LENGTH:
            errors.append(FieldError("name", f"must be 1 to {MAX_NAME_LENGTH} characters"))
        if len(draft.description) > MAX_DESCRIPTION_LENGTH:
            errors.append(FieldError("description", f"must be at most {MAX_DESCRIPTION_LENGTH} characters"))
        if draft.strategy_type is not None and len(draft.strategy_type) > MAX_TYPE_LENGTH:
            errors.append(FieldError("strategy_type", f"must be at most {MAX_TYPE_LENGTH} characters"))
        definition = definition_of(draft)
        if len(json.dumps(definition)) > MAX_DEFINITION_BYTES:
            errors.append(FieldError("entry_rules", f"rules and config exceed {MAX_DEFINITION_BYTES // 1024} KiB"))
        else:
            try:
                self.validate(definition)
            except ValidationFailed as failed:
                errors.extend(failed.errors)
        if errors:
            raise ValidationFailed("invalid strategy", errors)
        return draft
