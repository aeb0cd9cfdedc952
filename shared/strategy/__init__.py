"""The strategy language: JSON rules -> validated `Strategy` -> entry/exit signals."""

from shared.strategy.model import Signals, StrategyConfig
from shared.strategy.parameters import with_parameters
from shared.strategy.rules import COMPARATORS, Condition, RuleGroup
from shared.strategy.strategy import Strategy
from shared.strategy.validation import VariantMemo, validate_strategy

__all__ = [
    "COMPARATORS",
    "Condition",
    "RuleGroup",
    "Signals",
    "Strategy",
    "StrategyConfig",
    "VariantMemo",
    "validate_strategy",
    "with_parameters",
]
