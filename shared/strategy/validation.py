"""JSON strategy (`entry_rules`, `exit_rules`, `config`) -> `Strategy`, or every problem found.

Every problem becomes a `FieldError` with a dotted path (`entry_rules.conditions[0].params.period`,
`config.position_sizing`); validation goes on after the first one so that a caller (the API's
422, the CLI) can report them all at once. Nothing but `ValidationFailed` escapes for any input.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

from shared.errors import FieldError, ValidationFailed
from shared.indicators import MAX_PERIOD, SOURCES, IndicatorSpec, Param, SeriesRef, find_indicator, series_ref
from shared.timeframes import TIMEFRAMES
from shared.strategy.model import StrategyConfig
from shared.strategy.rules import COMPARATORS, Condition, RuleGroup, canonical_comparator
from shared.strategy.strategy import Strategy

MAX_DEPTH = 8  # nested groups below the top-level one
MAX_CONDITIONS = 100  # per strategy: each may compute an indicator over millions of bars
DIRECTIONS = ("long", "short")
POSITION_SIZINGS = ("all_in", "percent_of_equity", "fixed_quantity", "fixed_notional", "risk_based")
# Percent of the entry price a stop may sit away, per direction. A long's stop loss or trailing
# stop below 100 % (price 0), a short's take profit likewise; the other side is bounded only to
# catch typos (1000 % = an 11x move).
_UNBOUNDED_MOVE = 1000.0
MAX_SLIPPAGE = 10.0
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_GROUP_KEYS = ("operator", "conditions")
_CONDITION_KEYS = ("indicator", "params", "comparator", "value")
_OPERAND_KEYS = ("indicator", "params")
_CONFIG_KEYS = (
    "direction",
    "position_sizing",
    "risk_percentage",
    "quantity",
    "notional",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "slippage",
    "parameters",
)


def validate_strategy(strategy: Mapping[str, Any]) -> Strategy:
    """The validated, parsed strategy; ValidationFailed listing every problem otherwise.

    Keys other than entry_rules / exit_rules / config (name, description, ...) are ignored, so
    a whole POST /strategies body can be passed.
    """
    return _Validator().strategy(strategy)


def _number(value: Any) -> float | None:
    """value as a finite float, or None if it is not a JSON number (bools are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _names(options: tuple[str, ...] | list[str]) -> str:
    return ", ".join(options)


class _Validator:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.parameters: dict[str, float] = {}
        self.conditions = 0

    def fail(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def unknown_keys(self, obj: Mapping[Any, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in obj:
            if key not in allowed:
                self.fail(f"{path}.{key}", f"unknown field (allowed: {_names(allowed)})")

    # -- strategy ---------------------------------------------------------------------------

    def strategy(self, strategy: Any) -> Strategy:
        if not isinstance(strategy, Mapping):
            raise ValidationFailed("invalid strategy", [FieldError("strategy", "must be an object")])
        config = self.config(strategy.get("config"))
        if strategy.get("entry_rules") is None:
            self.fail("entry_rules", "is required")
            entry = None
        else:
            entry = self.group(strategy["entry_rules"], "entry_rules", depth=0, may_be_empty=False)
        exit_rules = strategy.get("exit_rules")
        exit_ = None
        if exit_rules is not None and exit_rules != {}:
            exit_ = self.group(exit_rules, "exit_rules", depth=0, may_be_empty=True)
        if self.errors:
            raise ValidationFailed("invalid strategy", self.errors)
        assert config is not None and entry is not None  # no errors: both parsed
        return Strategy.from_rules(config, entry, exit_ if exit_ and exit_.conditions else None)

    # -- config -----------------------------------------------------------------------------

    def config(self, config: Any) -> StrategyConfig | None:
        if config is None:
            return StrategyConfig()
        if not isinstance(config, Mapping):
            self.fail("config", "must be an object")
            return None
        errors_before = len(self.errors)
        self.unknown_keys(config, _CONFIG_KEYS, "config")
        direction = self.choice(config, "direction", DIRECTIONS, "long")
        sizing = self.choice(config, "position_sizing", POSITION_SIZINGS, "all_in")
        short = direction == "short"
        values = {
            "risk_percentage": self.percent(config, "risk_percentage", maximum=100.0, inclusive=True),
            "quantity": self.positive(config, "quantity"),
            "notional": self.positive(config, "notional"),
            "stop_loss": self.percent(config, "stop_loss", *self.move_bound(adverse=True, short=short)),
            "take_profit": self.percent(config, "take_profit", *self.move_bound(adverse=False, short=short)),
            "trailing_stop": self.percent(config, "trailing_stop", *self.move_bound(adverse=True, short=short)),
        }
        slippage = self.slippage(config)
        self.parameters = self.parameter_values(config.get("parameters"))
        required = {
            "percent_of_equity": ("risk_percentage",),
            "fixed_quantity": ("quantity",),
            "fixed_notional": ("notional",),
            "risk_based": ("risk_percentage", "stop_loss"),
        }.get(sizing or "", ())
        for name in required:
            if config.get(name) is None:
                self.fail(f"config.{name}", f"is required when position_sizing is {sizing}")
        if len(self.errors) > errors_before:
            return None
        return StrategyConfig(
            direction=direction,
            position_sizing=sizing,
            slippage=slippage,
            parameters=dict(self.parameters),
            **values,
        )

    @staticmethod
    def move_bound(adverse: bool, short: bool) -> tuple[float, bool]:
        """(maximum, inclusive) percent for a stop: a move toward 0 stays below 100 %."""
        toward_zero = adverse != short  # a long's stop loss, a short's take profit
        return (100.0, False) if toward_zero else (_UNBOUNDED_MOVE, True)

    def choice(self, config: Mapping[str, Any], key: str, options: tuple[str, ...], default: str) -> str | None:
        value = config.get(key)
        if value is None:
            return default
        if isinstance(value, str) and value.strip().lower() in options:
            return value.strip().lower()
        self.fail(f"config.{key}", f"must be one of {_names(options)}")
        return None

    def positive(self, config: Mapping[str, Any], key: str) -> float | None:
        value = config.get(key)
        if value is None:
            return None
        number = _number(value)
        if number is None or number <= 0:
            self.fail(f"config.{key}", "must be a number greater than 0")
            return None
        return number

    def percent(self, config: Mapping[str, Any], key: str, maximum: float, inclusive: bool) -> float | None:
        value = config.get(key)
        if value is None:
            return None
        number = _number(value)
        in_range = number is not None and 0 < number and (number <= maximum if inclusive else number < maximum)
        if not in_range:
            bound = f"at most {maximum:g}" if inclusive else f"less than {maximum:g}"
            self.fail(f"config.{key}", f"must be a percentage greater than 0 and {bound}")
            return None
        return number

    def slippage(self, config: Mapping[str, Any]) -> float:
        value = config.get("slippage")
        if value is None:
            return 0.0
        number = _number(value)
        if number is None or not 0 <= number <= MAX_SLIPPAGE:
            self.fail("config.slippage", f"must be a percentage from 0 to {MAX_SLIPPAGE:g}")
            return 0.0
        return number

    def parameter_values(self, parameters: Any) -> dict[str, float]:
        if parameters is None:
            return {}
        if not isinstance(parameters, Mapping):
            self.fail("config.parameters", "must be an object of name: number")
            return {}
        values = {}
        for name, value in parameters.items():
            if not (isinstance(name, str) and _NAME.match(name)):
                self.fail(f"config.parameters.{name}", "must be letters, digits and _, not starting with a digit")
                continue
            number = _number(value)
            if number is None:
                self.fail(f"config.parameters.{name}", "must be a number")
                continue
            values[name] = number
        return values

    # -- rules ------------------------------------------------------------------------------

    def group(self, group: Any, path: str, depth: int, may_be_empty: bool) -> RuleGroup | None:
        if not isinstance(group, Mapping):
            self.fail(path, "must be an object with operator and conditions")
            return None
        self.unknown_keys(group, _GROUP_KEYS, path)
        operator = group.get("operator", "and")
        if not (isinstance(operator, str) and operator.strip().lower() in ("and", "or")):
            self.fail(f"{path}.operator", "must be 'and' or 'or'")
            operator = None
        conditions = group.get("conditions")
        if not isinstance(conditions, list):
            self.fail(f"{path}.conditions", "must be a list of conditions")
            return None
        if not conditions and not may_be_empty:
            self.fail(f"{path}.conditions", "must contain at least one condition")
            return None
        parsed = []
        for index, item in enumerate(conditions):
            item_path = f"{path}.conditions[{index}]"
            if isinstance(item, Mapping) and "conditions" in item and "indicator" not in item:
                if depth >= MAX_DEPTH:
                    self.fail(item_path, f"groups may nest at most {MAX_DEPTH} levels deep")
                    continue
                parsed.append(self.group(item, item_path, depth + 1, may_be_empty=False))
            else:
                parsed.append(self.condition(item, item_path))
        if operator is None or None in parsed:
            return None
        return RuleGroup(operator.strip().lower(), tuple(parsed))

    def condition(self, condition: Any, path: str) -> Condition | None:
        if not isinstance(condition, Mapping):
            self.fail(path, "must be a condition {indicator, params, comparator, value} or a group {operator, conditions}")
            return None
        self.conditions += 1
        if self.conditions == MAX_CONDITIONS + 1:
            self.fail(path, f"a strategy may have at most {MAX_CONDITIONS} conditions")
        self.unknown_keys(condition, _CONDITION_KEYS, path)
        left = self.indicator(condition, path)
        comparator = self.comparator(condition.get("comparator"), f"{path}.comparator")
        if "value" not in condition:
            self.fail(f"{path}.value", "is required")
            right = None
        else:
            right = self.operand(condition["value"], f"{path}.value")
        if left is None or comparator is None or right is None:
            return None
        return Condition(left, comparator, right)

    def comparator(self, comparator: Any, path: str) -> str | None:
        if comparator is None:
            self.fail(path, "is required")
            return None
        canonical = canonical_comparator(comparator) if isinstance(comparator, str) else None
        if canonical is None:
            self.fail(path, f"unknown comparator {comparator!r} (use {_names(COMPARATORS)} or their word forms)")
        return canonical

    def operand(self, value: Any, path: str) -> SeriesRef | float | None:
        """A condition's `value`: a number, a `$name`, a price field or an indicator object."""
        if isinstance(value, Mapping):
            self.unknown_keys(value, _OPERAND_KEYS, path)
            return self.indicator(value, path)
        if isinstance(value, str):
            if value.startswith("$"):
                return self.named_parameter(value, path)
            if value in SOURCES:
                return series_ref("price", {"source": value})
            self.fail(path, f"unknown price field {value!r} (use {_names(SOURCES)}, a number or an indicator object)")
            return None
        number = _number(value)
        if number is None:
            self.fail(path, "must be a number, a price field or an indicator object")
        return number

    def named_parameter(self, reference: str, path: str) -> float | None:
        name = reference[1:]
        if name not in self.parameters:
            known = _names(sorted(self.parameters)) or "none"
            self.fail(path, f"{reference} is not defined in config.parameters (defined: {known})")
            return None
        return self.parameters[name]

    def indicator(self, obj: Mapping[str, Any], path: str) -> SeriesRef | None:
        name = obj.get("indicator")
        if name is None:
            self.fail(f"{path}.indicator", "is required")
            return None
        spec = find_indicator(name) if isinstance(name, str) else None
        if spec is None:
            self.fail(f"{path}.indicator", f"unknown indicator {name!r} (GET /api/v1/indicators lists them)")
            return None
        params = obj.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            self.fail(f"{path}.params", "must be an object")
            return None
        return self.params(spec, params, f"{path}.params")

    def params(self, spec: IndicatorSpec, params: Mapping[Any, Any], path: str) -> SeriesRef | None:
        """Parameters by their canonical name or an alias (one alias may set several), each
        given once; `source`(`source1`), `output` (or an alias), `offset`, `timeframe`."""
        errors_before = len(self.errors)
        numeric = {p.name: p for p in spec.params}
        aliases = spec.param_aliases()
        sources = dict(spec.sources)
        accepted = list(numeric) + list(sources)
        accepted += (["output"] if len(spec.outputs) > 1 else []) + ["offset", "timeframe"]
        resolved: dict[str, float | str] = {}
        given_as: dict[str, str] = {}
        output = None
        offset = 0
        timeframe = None
        for key, value in params.items():
            field = f"{path}.{key}"
            if key in sources:
                if value in SOURCES:
                    resolved[key] = value
                else:
                    self.fail(field, f"must be one of {_names(SOURCES)}")
            elif key == "output" and len(spec.outputs) > 1:
                output = spec.output(value) if isinstance(value, str) else None
                if output is None:
                    self.fail(field, f"unknown output {value!r} of {spec.name} (outputs: {_names(spec.outputs)})")
            elif key == "offset":
                number = self.param_number(value, field)
                if number is not None:
                    if number == int(number) and 0 <= number <= MAX_PERIOD:
                        offset = int(number)
                    else:
                        self.fail(field, f"must be a whole number of bars from 0 to {MAX_PERIOD}{_origin(value)}")
            elif key == "timeframe":
                if value in TIMEFRAMES:
                    timeframe = value
                else:
                    self.fail(field, f"must be one of {_names(TIMEFRAMES)}")
            elif key in numeric or key in aliases:
                for name in (key,) if key in numeric else aliases[key]:
                    if name in given_as:
                        self.fail(field, f"sets {name}, already given as {given_as[name]}")
                        continue
                    given_as[name] = key
                    value_ = self.param_value(numeric[name], value, field)
                    if value_ is not None:
                        resolved[name] = value_
            else:
                self.fail(field, f"unknown parameter of {spec.name} (takes: {_names(accepted)})")
        if len(self.errors) > errors_before:
            return None
        ref = series_ref(spec.name, resolved, output, offset, timeframe)
        problem = spec.constraint(dict(ref.params))
        if problem:
            self.fail(path, problem)
            return None
        return ref

    def param_value(self, param: Param, value: Any, field: str) -> float | str | None:
        if param.choices:
            problem = param.problem(value) if isinstance(value, str) else f"must be one of {_names(param.choices)}"
            if problem:
                self.fail(field, problem)
                return None
            return str(value)
        number = self.param_number(value, field)
        if number is None:
            return None
        problem = param.problem(number)
        if problem:
            self.fail(field, problem + _origin(value))
            return None
        return int(number) if param.integer else number

    def param_number(self, value: Any, field: str) -> float | None:
        if isinstance(value, str) and value.startswith("$"):
            return self.named_parameter(value, field)
        number = _number(value)
        if number is None:
            self.fail(field, 'must be a number or a "$name" from config.parameters')
        return number


def _origin(value: Any) -> str:
    """Where a bad number came from, when it was a $name."""
    return f" (from {value})" if isinstance(value, str) else ""
