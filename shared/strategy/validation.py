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
from shared.indicators import (
    MAX_PERIOD,
    SOURCES,
    IndicatorSpec,
    Param,
    SeriesRef,
    exact_key,
    find_indicator,
    series_ref,
)
from shared.strategy.model import EntryOrder, Pyramiding, StrategyConfig, TakeProfitLevel
from shared.strategy.rules import COMPARATORS, Condition, RuleGroup, canonical_comparator
from shared.strategy.strategy import Strategy
from shared.timeframes import TIMEFRAMES

MAX_DEPTH = 8  # nested groups below the top-level one
MAX_CONDITIONS = 100  # per strategy: each may compute an indicator over millions of bars
DIRECTIONS = ("long", "short", "both")
ENTRY_ORDER_TYPES = ("market", "limit", "stop")
MAX_EXPIRE_BARS = 10_000
MAX_TAKE_PROFIT_LEVELS = 10
MAX_PYRAMID_ENTRIES = 20
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
    "entry_order",
    "take_profit_levels",
    "break_even_after",
    "trailing_activation",
    "pyramiding",
)
_ENTRY_ORDER_KEYS = ("type", "offset", "expire_bars")
_LEVEL_KEYS = ("percent", "size")
_PYRAMIDING_KEYS = ("max_entries", "size")


def validate_strategy(strategy: Mapping[str, Any], variants_of: VariantMemo | None = None) -> Strategy:
    """The validated, parsed strategy; ValidationFailed listing every problem otherwise.

    Keys other than entry_rules / exit_rules / config (name, description, ...) are ignored, so
    a whole POST /strategies body can be passed. `variants_of`: a memo of the strategy this one
    is a `with_parameters` variant of (a sweep validates one per combination), same result.
    """
    return _Validator(variants_of).strategy(strategy)


# Results a VariantMemo keeps at most (beyond them it still answers what it has).
MAX_MEMO_RESULTS = 100_000


class VariantMemo:
    """What validating an indicator object of `base` gave, for the variants of `base` a sweep
    validates one after another (`with_parameters` shares every object it does not set).

    Validating an indicator object (`{indicator, params}`, its nested series objects included)
    reads nothing but that object, its path and the `config.parameters` entries its `$names`
    look up (the names declared, and the values of those it reads). So an object of `base`
    itself - unchanged, as `base` is never changed in place, and alive while this memo holds
    `base`, so no other object shares its id - validated again at the same path with the same
    parameter names and the same values of the names it read gives the same reference and the
    same errors. Objects a variant copied (those on an overridden path) are validated afresh.
    """

    def __init__(self, base: Mapping[str, Any]) -> None:
        self._base = base  # keeps every object below alive: their ids stay theirs
        self._objects = {id(obj) for obj in _objects_in(base)}
        self._reads: dict[tuple[int, str], tuple[str, ...]] = {}
        self._results: dict[tuple[Any, ...], tuple[SeriesRef | None, tuple[FieldError, ...]]] = {}

    def knows(self, obj: Mapping[str, Any]) -> bool:
        return id(obj) in self._objects

    def reads(self, obj: Mapping[str, Any], path: str) -> tuple[str, ...] | None:
        """The $names validating `obj` at `path` read, once it has been validated."""
        return self._reads.get((id(obj), path))

    def result(self, key: tuple[Any, ...]) -> tuple[SeriesRef | None, tuple[FieldError, ...]] | None:
        return self._results.get(key)

    def remember(
        self, obj: Mapping[str, Any], path: str, reads: tuple[str, ...], key: tuple[Any, ...], result: Any
    ) -> None:
        self._reads[(id(obj), path)] = reads
        if len(self._results) < MAX_MEMO_RESULTS:
            self._results[key] = result


def _objects_in(value: Any) -> list[Any]:
    """Every object and list inside `value`, itself included."""
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (Mapping, list)):
            found.append(item)
            stack.extend(item.values() if isinstance(item, Mapping) else item)
    return found


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
    def __init__(self, memo: VariantMemo | None = None) -> None:
        self.errors: list[FieldError] = []
        self.parameters: dict[str, float] = {}
        self.conditions = 0
        self.memo = memo
        self.reads: list[str] = []  # the $names looked up, in order (see VariantMemo)

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
        exit_ = self.exit_group(strategy, "exit_rules")
        both = config is not None and config.direction == "both"
        short_entry = short_exit = None
        if both and strategy.get("short_entry_rules") is None:
            self.fail("short_entry_rules", "is required when config.direction is both")
        elif both:
            short_entry = self.group(strategy["short_entry_rules"], "short_entry_rules", depth=0, may_be_empty=False)
            short_exit = self.exit_group(strategy, "short_exit_rules")
        elif config is not None:
            for key in ("short_entry_rules", "short_exit_rules"):
                if strategy.get(key) not in (None, {}):
                    self.fail(key, "is only used when config.direction is both")
        if self.errors:
            raise ValidationFailed("invalid strategy", self.errors)
        assert config is not None and entry is not None  # no errors: both parsed
        return Strategy.from_rules(config, entry, exit_, short_entry, short_exit)

    def exit_group(self, strategy: Mapping[str, Any], key: str) -> RuleGroup | None:
        """An exit rule group, None when absent or empty (positions then close by stops only)."""
        rules = strategy.get(key)
        if rules is None or rules == {}:
            return None
        group = self.group(rules, key, depth=0, may_be_empty=True)
        return group if group and group.conditions else None

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
        sides = {"long": (False,), "short": (True,)}.get(direction or "", (False, True))
        values = {
            "risk_percentage": self.percent(config, "risk_percentage", maximum=100.0, inclusive=True),
            "quantity": self.positive(config, "quantity"),
            "notional": self.positive(config, "notional"),
            "stop_loss": self.move_percent(config, "stop_loss", adverse=True, sides=sides),
            "take_profit": self.move_percent(config, "take_profit", adverse=False, sides=sides),
            "trailing_stop": self.move_percent(config, "trailing_stop", adverse=True, sides=sides),
            "trailing_activation": self.move_percent(config, "trailing_activation", adverse=False, sides=sides),
        }
        slippage = self.slippage(config)
        entry_order = self.entry_order(config.get("entry_order"), sides)
        levels = self.take_profit_levels(config.get("take_profit_levels"), sides)
        break_even_after = self.break_even_after(config.get("break_even_after"), levels)
        pyramiding = self.pyramiding(config.get("pyramiding"))
        if pyramiding is not None and levels:
            self.fail("config.take_profit_levels", "cannot be combined with config.pyramiding")
        if values["trailing_activation"] is not None and config.get("trailing_stop") is None:
            self.fail("config.trailing_activation", "needs config.trailing_stop")
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
        if len(self.errors) > errors_before or direction is None or sizing is None:  # None: failed
            return None
        return StrategyConfig(
            direction=direction,
            position_sizing=sizing,
            slippage=slippage,
            parameters=dict(self.parameters),
            entry_order=entry_order,
            take_profit_levels=levels,
            break_even_after=break_even_after,
            pyramiding=pyramiding,
            **values,
        )

    def move_percent(self, config: Mapping[str, Any], key: str, adverse: bool, sides: tuple[bool, ...]) -> float | None:
        """A stop's percentage (None when not set), within `move_bound`."""
        if config.get(key) is None:
            return None
        return self.percent(config, key, *self.move_bound(adverse=adverse, sides=sides))

    @staticmethod
    def move_bound(adverse: bool, sides: tuple[bool, ...]) -> tuple[float, bool]:
        """(maximum, inclusive) percent for a stop on every traded side (short = True): a move
        toward 0 stays below 100 %."""
        toward_zero = any(adverse != short for short in sides)  # a long's stop loss, a short's take profit
        return (100.0, False) if toward_zero else (_UNBOUNDED_MOVE, True)

    def entry_order(self, order: Any, sides: tuple[bool, ...]) -> EntryOrder:
        path = "config.entry_order"
        if order is None:
            return EntryOrder()
        if not isinstance(order, Mapping):
            self.fail(path, "must be an object {type, offset, expire_bars}")
            return EntryOrder()
        self.unknown_keys(order, _ENTRY_ORDER_KEYS, path)
        kind = order.get("type", "market")
        if kind not in ENTRY_ORDER_TYPES:
            self.fail(f"{path}.type", f"must be one of {_names(ENTRY_ORDER_TYPES)}")
            return EntryOrder()
        if kind == "market":
            for key in ("offset", "expire_bars"):
                if order.get(key) is not None:
                    self.fail(f"{path}.{key}", "is only used by limit and stop orders")
            return EntryOrder()
        # A long's limit (a short's stop) sits below the close: it must stay above 0.
        below = any((kind == "limit") != short for short in sides)
        offset = _number(order.get("offset", 0.0))
        if offset is None or offset < 0 or (below and offset >= 100) or offset > _UNBOUNDED_MOVE:
            bound = "less than 100" if below else f"at most {_UNBOUNDED_MOVE:g}"
            self.fail(f"{path}.offset", f"must be a percentage from 0, {bound}")
            offset = 0.0
        expire = order.get("expire_bars", 1)
        if isinstance(expire, bool) or not isinstance(expire, int) or not 1 <= expire <= MAX_EXPIRE_BARS:
            self.fail(f"{path}.expire_bars", f"must be a whole number of bars from 1 to {MAX_EXPIRE_BARS}")
            expire = 1
        return EntryOrder(kind, offset, expire)

    def take_profit_levels(self, levels: Any, sides: tuple[bool, ...]) -> tuple[TakeProfitLevel, ...]:
        path = "config.take_profit_levels"
        if levels is None:
            return ()
        if not isinstance(levels, list) or not 1 <= len(levels) <= MAX_TAKE_PROFIT_LEVELS:
            self.fail(path, f"must be a list of 1 to {MAX_TAKE_PROFIT_LEVELS} levels {{percent, size}}")
            return ()
        maximum, inclusive = self.move_bound(adverse=False, sides=sides)
        parsed: list[TakeProfitLevel] = []
        for index, level in enumerate(levels):
            item = f"{path}[{index}]"
            if not isinstance(level, Mapping):
                self.fail(item, "must be an object {percent, size}")
                continue
            self.unknown_keys(level, _LEVEL_KEYS, item)
            percent, size = _number(level.get("percent")), _number(level.get("size"))
            if percent is None or percent <= 0 or (percent > maximum if inclusive else percent >= maximum):
                self.fail(
                    f"{item}.percent",
                    f"must be a percentage greater than 0 and {'at most' if inclusive else 'less than'} {maximum:g}",
                )
            elif parsed and percent <= parsed[-1].percent:
                self.fail(f"{item}.percent", "must be greater than the previous level's")
            if size is None or not 0 < size <= 100:
                self.fail(f"{item}.size", "must be a percentage of the position greater than 0 and at most 100")
            if percent is not None and size is not None:
                parsed.append(TakeProfitLevel(percent, size))
        if len(parsed) == len(levels) and sum(level.size for level in parsed) > 100 + 1e-9:
            self.fail(path, "sizes must sum to at most 100 (percent of the position)")
        return tuple(parsed)

    def break_even_after(self, value: Any, levels: tuple[TakeProfitLevel, ...]) -> int | None:
        if value is None:
            return None
        if not levels:
            self.fail("config.break_even_after", "needs config.take_profit_levels")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= len(levels):
            self.fail("config.break_even_after", f"must be a take-profit level number from 1 to {len(levels)}")
            return None
        return value

    def pyramiding(self, pyramiding: Any) -> Pyramiding | None:
        path = "config.pyramiding"
        if pyramiding is None:
            return None
        if not isinstance(pyramiding, Mapping):
            self.fail(path, "must be an object {max_entries, size}")
            return None
        self.unknown_keys(pyramiding, _PYRAMIDING_KEYS, path)
        count = pyramiding.get("max_entries")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PYRAMID_ENTRIES:
            self.fail(f"{path}.max_entries", f"must be a whole number from 1 to {MAX_PYRAMID_ENTRIES}")
            return None
        sizes = pyramiding.get("size")
        if sizes is None:
            return Pyramiding(count, tuple([100.0 / count] * count))
        if not isinstance(sizes, list) or len(sizes) != count:
            self.fail(f"{path}.size", f"must be a list of {count} percentages (one per entry)")
            return None
        numbers = [_number(size) for size in sizes]
        for index, number in enumerate(numbers):
            if number is None or not 0 < number <= 100:
                self.fail(f"{path}.size[{index}]", "must be a percentage greater than 0 and at most 100")
        sized = [number for number in numbers if number is not None]
        if len(sized) < len(numbers):
            return None
        if sum(sized) > 100 + 1e-9:
            self.fail(f"{path}.size", "must sum to at most 100 (percent of a single entry's size)")
        return Pyramiding(count, tuple(sized))

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
        in_range = number is not None and number > 0 and (number <= maximum if inclusive else number < maximum)
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
        parsed: list[Condition | RuleGroup | None] = []
        for index, item in enumerate(conditions):
            item_path = f"{path}.conditions[{index}]"
            if isinstance(item, Mapping) and "conditions" in item and "indicator" not in item:
                if depth >= MAX_DEPTH:
                    self.fail(item_path, f"groups may nest at most {MAX_DEPTH} levels deep")
                    continue
                parsed.append(self.group(item, item_path, depth + 1, may_be_empty=False))
            else:
                parsed.append(self.condition(item, item_path))
        members = [member for member in parsed if member is not None]
        if operator is None or len(members) < len(parsed):
            return None
        return RuleGroup(operator.strip().lower(), tuple(members))

    def condition(self, condition: Any, path: str) -> Condition | None:
        if not isinstance(condition, Mapping):
            self.fail(
                path, "must be a condition {indicator, params, comparator, value} or a group {operator, conditions}"
            )
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
        self.reads.append(name)
        if name not in self.parameters:
            known = _names(sorted(self.parameters)) or "none"
            self.fail(path, f"{reference} is not defined in config.parameters (defined: {known})")
            return None
        return self.parameters[name]

    def indicator(self, obj: Mapping[str, Any], path: str) -> SeriesRef | None:
        memo = self.memo
        if memo is None or not memo.knows(obj):
            return self.indicator_object(obj, path)
        names = tuple(self.parameters)
        reads = memo.reads(obj, path)
        if reads is not None:
            known = memo.result((id(obj), path, names, tuple(exact_key(self.parameters.get(name)) for name in reads)))
            if known is not None:
                self.reads += reads
                self.errors += known[1]
                return known[0]
        first_read, errors_before = len(self.reads), len(self.errors)
        ref = self.indicator_object(obj, path)
        reads = tuple(self.reads[first_read:])
        key = (id(obj), path, names, tuple(exact_key(self.parameters.get(name)) for name in reads))
        memo.remember(obj, path, reads, key, (ref, tuple(self.errors[errors_before:])))
        return ref

    def indicator_object(self, obj: Mapping[str, Any], path: str) -> SeriesRef | None:
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
        given once; `source`(`source1`), `output` (or an alias), `offset`, `timeframe`; a series
        parameter (mavp's `periods`) as a condition's `value`: a price field, a number, a `$name`
        or an indicator object."""
        errors_before = len(self.errors)
        numeric, aliases, sources = spec.params_by_name, spec.param_aliases(), spec.source_defaults
        resolved: dict[str, float | str | SeriesRef] = {}
        given_as: dict[str, str] = {}
        output = None
        offset = 0
        timeframe = None
        for key, value in params.items():
            field = f"{path}.{key}"
            if key in spec.series_params:
                operand = self.operand(value, field)
                if operand is not None:
                    resolved[key] = operand
            elif key in sources:
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
                self.fail(field, f"unknown parameter of {spec.name} (takes: {_names(_accepted(spec))})")
        for name in spec.series_params:
            if name not in params:
                self.fail(
                    f"{path}.{name}",
                    "is required: the series it reads, a price field, a number or an indicator "
                    "object {indicator, params}",
                )
            elif timeframe is not None and any(ref.timeframe for ref in _nested(resolved.get(name))):
                self.fail(
                    f"{path}.{name}", f"is computed on {spec.name}'s timeframe {timeframe}: it may not set its own"
                )
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


def _accepted(spec: IndicatorSpec) -> list[str]:
    """The keys an indicator's params take, for the message naming an unknown one."""
    accepted = [*spec.series_params, *spec.params_by_name, *spec.source_defaults]
    return accepted + (["output"] if len(spec.outputs) > 1 else []) + ["offset", "timeframe"]


def _nested(operand: Any) -> list[SeriesRef]:
    """The references a series parameter's operand reads, at any depth (none for a number)."""
    return list(operand.refs()) if isinstance(operand, SeriesRef) else []


def _origin(value: Any) -> str:
    """Where a bad number came from, when it was a $name."""
    return f" (from {value})" if isinstance(value, str) else ""
