"""A validated strategy: its config, its parsed rules, and their evaluation on candles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.candles import Candles
from shared.indicators import IndicatorCache, SeriesRef
from shared.market_data.resample import can_resample
from shared.strategy.model import Signals, StrategyConfig
from shared.strategy.rules import CROSSES, Condition, RuleGroup
from shared.timeframes import timeframe_ms


@dataclass(frozen=True)
class Strategy:
    """Built by `validate_strategy`, never from raw input.

    `warmup`: leading bars on which some condition cannot be evaluated yet (an operand still
    NaN, or, for a cross, its previous bar). `lookback`: bars of history a chunked executor must
    read before a chunk for every series to equal its full-history value (recursive filters: to
    1e-12 of their scale); None when some series depends on all history (OBV).
    """

    config: StrategyConfig
    entry: RuleGroup
    exit: RuleGroup | None  # None: positions close only by stops
    warmup: int
    lookback: int | None
    short_entry: RuleGroup | None = None  # direction both: the short side's rules
    short_exit: RuleGroup | None = None

    @classmethod
    def from_rules(
        cls,
        config: StrategyConfig,
        entry: RuleGroup,
        exit: RuleGroup | None,
        short_entry: RuleGroup | None = None,
        short_exit: RuleGroup | None = None,
    ) -> Strategy:
        groups = [group for group in (entry, exit, short_entry, short_exit) if group is not None]
        conditions = [condition for group in groups for condition in group.leaf_conditions()]
        memories = [_condition_memory(c) for c in conditions]
        known = [memory for memory in memories if memory is not None]
        return cls(
            config=config,
            entry=entry,
            exit=exit,
            warmup=max(_condition_warmup(c) for c in conditions),
            lookback=max(known) if len(known) == len(memories) else None,
            short_entry=short_entry,
            short_exit=short_exit,
        )

    def groups(self) -> tuple[RuleGroup, ...]:
        return tuple(group for group in (self.entry, self.exit, self.short_entry, self.short_exit) if group)

    def timeframes(self) -> set[str]:
        """The coarser timeframes conditions compute on (`params.timeframe`)."""
        return {ref.timeframe for series in self.series() for ref in series.refs() if ref.timeframe is not None}

    def timeframe_problems(self, timeframe: str) -> list[str]:
        """Why this strategy cannot run on `timeframe` candles: a condition's timeframe that is not
        coarser than it, or not a whole number of its candles."""
        return [
            f"condition timeframe {other} must be coarser than the backtest's {timeframe} and a whole number of "
            f"its candles"
            for other in sorted(self.timeframes())
            if other != timeframe
            and not (timeframe_ms(other) > timeframe_ms(timeframe) and can_resample(timeframe, other))
        ]

    def series(self) -> tuple[SeriesRef, ...]:
        """Every distinct series the rules read, in first-use order."""
        return tuple(dict.fromkeys(ref for group in self.groups() for ref in group.operands()))

    def signals(self, candles: Candles, cache: IndicatorCache | None = None, timeframe: str | None = None) -> Signals:
        """Entry/exit rule outcomes per bar. Pass a `cache` built on these same candles to share
        indicator series with other evaluations (a parameter sweep); `timeframe` (the candles')
        is needed by conditions on a coarser timeframe."""
        if cache is None:
            cache = IndicatorCache(candles, timeframe=timeframe)
        elif cache.candles is not candles:
            raise ValueError("the indicator cache belongs to other candles")

        def outcome(group: RuleGroup | None) -> NDArray[Any]:
            return group.evaluate(cache) if group else np.zeros(len(candles), dtype=bool)

        both = self.config.direction == "both"
        return Signals(
            entry=self.entry.evaluate(cache),
            exit=outcome(self.exit),
            warmup=min(self.warmup, len(candles)),
            short_entry=outcome(self.short_entry) if both else None,
            short_exit=outcome(self.short_exit) if both else None,
        )


def _condition_warmup(condition: Condition) -> int:
    """Max warm-up of a condition's operands, one more for a cross's previous bar."""
    return max(ref.warmup for ref in condition.operands()) + _cross_bar(condition)


def _condition_memory(condition: Condition) -> int | None:
    """Max memory of a condition's operands (None: unbounded), one more for a cross's previous bar."""
    memories = [ref.memory for ref in condition.operands()]
    known = [memory for memory in memories if memory is not None]
    return max(known) + _cross_bar(condition) if len(known) == len(memories) else None


def _cross_bar(condition: Condition) -> int:
    return 1 if condition.comparator in CROSSES else 0
