"""The strategy the suites and the benches trade: a simple moving-average crossover."""

from __future__ import annotations

from typing import Any


def sma_cross(fast: int | str = 10, slow: int | str = 50, **config: Any) -> dict[str, Any]:
    """Enter when SMA(fast) crosses above SMA(slow), exit when it crosses below; `fast` and `slow`
    may name `config.parameters` (`"$fast"`). Keyword arguments are the strategy's config."""

    def cross(comparator: str) -> dict[str, Any]:
        return {
            "indicator": "sma",
            "params": {"period": fast},
            "comparator": comparator,
            "value": {"indicator": "sma", "params": {"period": slow}},
        }

    strategy: dict[str, Any] = {
        "entry_rules": {"operator": "and", "conditions": [cross("crosses_above")]},
        "exit_rules": {"operator": "or", "conditions": [cross("crosses_below")]},
    }
    return strategy | ({"config": config} if config else {})
