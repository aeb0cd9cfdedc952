"""Parsed rules (conditions and and/or groups) and their evaluation into per-bar booleans.

Semantics, evaluated on each bar's close:
- `a > b`, `a >= b`, `a < b`, `a <= b`: IEEE comparisons; a NaN operand (warm-up) gives False.
- `a == b`: equal within 1e-9 relative, |a - b| <= 1e-9 * max(|a|, |b|) (exact for 0): the
  indicators are accurate to that, and exact float equality of computed values is luck.
- `a crosses_above b` at bar t: a <= b at t-1 and a > b at t, all four values defined
  (never on the first bar). `crosses_below` mirrors it.
- An `and` group holds when all its conditions hold, an `or` group when any does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.indicators import IndicatorCache, SeriesRef

EQUALITY_RTOL = 1e-9
CROSSES = ("crosses_above", "crosses_below")
COMPARATORS = (">", ">=", "<", "<=", "==", *CROSSES)
# Word forms accepted for each comparator (case-insensitive).
COMPARATOR_WORDS: dict[str, str] = {
    "greater_than": ">",
    "gt": ">",
    "greater_than_or_equal": ">=",
    "greater_than_or_equal_to": ">=",
    "gte": ">=",
    "less_than": "<",
    "lt": "<",
    "less_than_or_equal": "<=",
    "less_than_or_equal_to": "<=",
    "lte": "<=",
    "equal": "==",
    "equals": "==",
    "eq": "==",
    "crosses_above": "crosses_above",
    "cross_above": "crosses_above",
    "crossover": "crosses_above",
    "crosses_below": "crosses_below",
    "cross_below": "crosses_below",
    "crossunder": "crosses_below",
}


def canonical_comparator(text: str) -> str | None:
    """The comparator `text` names (symbol or word form), or None."""
    text = text.strip()
    if text in COMPARATORS:
        return text
    return COMPARATOR_WORDS.get(text.lower())


@dataclass(frozen=True)
class Condition:
    """`left comparator right`; right is a series or a constant."""

    left: SeriesRef
    comparator: str
    right: SeriesRef | float

    def operands(self) -> Iterator[SeriesRef]:
        yield self.left
        if isinstance(self.right, SeriesRef):
            yield self.right

    def evaluate(self, cache: IndicatorCache) -> NDArray[Any]:
        right = cache.series(self.right) if isinstance(self.right, SeriesRef) else self.right
        return compare(cache.series(self.left), self.comparator, right)


@dataclass(frozen=True)
class RuleGroup:
    operator: str  # "and" | "or"
    conditions: tuple[Condition | RuleGroup, ...]

    def operands(self) -> Iterator[SeriesRef]:
        for condition in self.conditions:
            yield from condition.operands()

    def leaf_conditions(self) -> Iterator[Condition]:
        for condition in self.conditions:
            if isinstance(condition, RuleGroup):
                yield from condition.leaf_conditions()
            else:
                yield condition

    def evaluate(self, cache: IndicatorCache) -> NDArray[Any]:
        combine = np.logical_and if self.operator == "and" else np.logical_or
        first, *rest = self.conditions
        result = first.evaluate(cache)
        for condition in rest:
            combine(result, condition.evaluate(cache), out=result)
        return result


def compare(a: NDArray[Any], comparator: str, b: NDArray[Any] | float) -> NDArray[Any]:
    """Bar-by-bar `a comparator b` as a fresh boolean array (see the module docstring)."""
    if comparator == ">":
        return np.greater(a, b)
    if comparator == ">=":
        return np.greater_equal(a, b)
    if comparator == "<":
        return np.less(a, b)
    if comparator == "<=":
        return np.less_equal(a, b)
    if comparator == "==":
        scale = np.maximum(np.abs(a), np.abs(b))
        return np.abs(np.subtract(a, b)) <= EQUALITY_RTOL * scale
    if comparator in CROSSES:
        after, before = (np.greater, np.less_equal) if comparator == "crosses_above" else (np.less, np.greater_equal)
        b_now, b_then = (b[1:], b[:-1]) if isinstance(b, np.ndarray) else (b, b)
        result = np.zeros(len(a), dtype=bool)
        before(a[:-1], b_then, out=result[1:])
        result[1:] &= after(a[1:], b_now)
        return result
    raise ValueError(f"unknown comparator {comparator!r}")
