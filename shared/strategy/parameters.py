"""Setting a strategy's numbers by name: what a parameter sweep varies between runs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.errors import FieldError, ValidationFailed

_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


def with_parameters(strategy: Mapping[str, Any], overrides: Mapping[str, float]) -> dict[str, Any]:
    """The strategy dict with `overrides` applied; the input is left untouched.

    A bare name sets `config.parameters[name]` (which must already be declared there, so a typo
    cannot silently sweep nothing); a dotted path sets that field, e.g. "config.stop_loss" or
    "entry_rules.conditions[0].params.period" (every step but the last must exist). The result
    still has to go through `validate_strategy`. Raises ValidationFailed naming each bad key.

    Only the objects and lists on an overridden path are copied (a sweep makes one variant per
    combination); the rest is shared with the input, so neither may be changed in place later
    (`validate_strategy` only reads; a further `with_parameters` copies what it sets).
    """
    result = dict(strategy)
    copies = {id(result)}  # the containers this call made (alive in `result`: their ids stay unique)
    errors = []
    for key, value in overrides.items():
        problem = _apply(result, key, value, copies)
        if problem:
            errors.append(FieldError(key, problem))
    if errors:
        raise ValidationFailed("invalid parameter overrides", errors)
    return result


def _apply(strategy: dict[str, Any], key: str, value: float, copies: set[int]) -> str | None:
    if "." not in key and "[" not in key:
        parameters = (strategy.get("config") or {}).get("parameters")
        if not isinstance(parameters, dict) or key not in parameters:
            return f"is not declared in config.parameters (use a dotted path such as config.{key} for a field)"
        steps: list[str | int] | None = ["config", "parameters", key]
    else:
        steps = _steps(key)
    if steps is None:
        return "is not a valid path (write e.g. config.stop_loss or entry_rules.conditions[0].params.period)"
    node: Any = strategy
    for step in steps[:-1]:
        if _child(node, step) is None:
            return f"{_show(step)} does not exist in this strategy"
        node = _own_child(node, step, copies)
    last = steps[-1]
    if isinstance(last, int):
        if not (isinstance(node, list) and 0 <= last < len(node)):
            return f"{_show(last)} does not exist in this strategy"
    elif not isinstance(node, dict):
        return f"cannot set {_show(last)}: its parent is not an object"
    node[last] = value
    return None


def _own_child(node: Any, step: str | int, copies: set[int]) -> Any:
    """node[step], replaced in `node` (a container of this call's) by a copy of its own first when
    it is an object or a list shared with the input."""
    child = node[step]
    if id(child) not in copies and isinstance(child, (dict, list)):
        child = dict(child) if isinstance(child, dict) else list(child)
        node[step] = child
        copies.add(id(child))
    return child


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
