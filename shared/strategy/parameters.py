"""Setting a strategy's numbers by name: what a parameter sweep varies between runs."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from shared.errors import FieldError, ValidationFailed

_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


def with_parameters(strategy: Mapping[str, Any], overrides: Mapping[str, float]) -> dict[str, Any]:
    """A deep copy of the strategy dict with `overrides` applied; the input is left untouched.

    A bare name sets `config.parameters[name]` (which must already be declared there, so a typo
    cannot silently sweep nothing); a dotted path sets that field, e.g. "config.stop_loss" or
    "entry_rules.conditions[0].params.period" (every step but the last must exist). The result
    still has to go through `validate_strategy`. Raises ValidationFailed naming each bad key.
    """
    result = copy.deepcopy(dict(strategy))
    errors = []
    for key, value in overrides.items():
        problem = _apply(result, key, value)
        if problem:
            errors.append(FieldError(key, problem))
    if errors:
        raise ValidationFailed("invalid parameter overrides", errors)
    return result


def _apply(strategy: dict[str, Any], key: str, value: float) -> str | None:
    if "." not in key and "[" not in key:
        parameters = (strategy.get("config") or {}).get("parameters")
        if not isinstance(parameters, dict) or key not in parameters:
            return f"is not declared in config.parameters (use a dotted path such as config.{key} for a field)"
        parameters[key] = value
        return None
    steps = _steps(key)
    if steps is None:
        return "is not a valid path (write e.g. config.stop_loss or entry_rules.conditions[0].params.period)"
    node: Any = strategy
    for step in steps[:-1]:
        node = _child(node, step)
        if node is None:
            return f"{_show(step)} does not exist in this strategy"
    last = steps[-1]
    if isinstance(last, int):
        if not (isinstance(node, list) and 0 <= last < len(node)):
            return f"{_show(last)} does not exist in this strategy"
    elif not isinstance(node, dict):
        return f"cannot set {_show(last)}: its parent is not an object"
    node[last] = value
    return None


def _steps(path: str) -> list[str | int] | None:
    """ "a.b[0].c" -> ["a", "b", 0, "c"], or None when malformed."""
    steps: list[str | int] = []
    for part in path.split("."):
        match = _SEGMENT.fullmatch(part)
        if match is None:
            return None
        steps.append(match.group(1))
        steps.extend(int(index) for index in re.findall(r"\[(\d+)\]", match.group(2)))
    return steps


def _show(step: str | int) -> str:
    return f"[{step}]" if isinstance(step, int) else repr(step)


def _child(node: Any, step: str | int) -> Any:
    if isinstance(step, int):
        return node[step] if isinstance(node, list) and 0 <= step < len(node) else None
    return node.get(step) if isinstance(node, dict) else None
