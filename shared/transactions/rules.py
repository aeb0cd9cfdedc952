"""The replay request's small languages: durations ("4h", "2d") and alternative entry/exit rules.

Durations: a number and a unit, `ms` `s` `m` (minutes) `h` `d` `w`, e.g. `90m`, `4h`, `1.5d`;
`0` is no window. At most MAX_WINDOW_DAYS days.

alternative_exit: either a strategy id (its exit rules and its config's stops decide), or one or
more comma-separated rules, the first to trigger wins:
- `stop_loss:2`      exit when the price moves 2 % against the entry (percent, 0 < x < 100);
- `take_profit:4`    exit at 4 % in favour (0 < x <= 1000);
- `trailing_stop:1.5` exit 1.5 % behind the best price since the entry (0 < x < 100);
- `time:24h`         exit at the open of the first candle 24 h (a duration) after the entry.
alternative_entry: a strategy id (its entry rules decide when to enter around each actual entry).
An empty or absent value keeps the actual entry / exit.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

from shared.errors import FieldError

MAX_WINDOW_DAYS = 366
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
# The durations the API documents (whole numbers with a unit, or 0), a subset of what parses.
DURATION_PATTERN = r"^(0|[0-9]{1,6}(ms|s|m|h|d|w))$"
_PERCENT_LIMITS = {"stop_loss": (100.0, False), "take_profit": (1000.0, True), "trailing_stop": (100.0, False)}
EXIT_RULE_FORMS = "stop_loss:2, take_profit:4, trailing_stop:1.5, time:24h (comma-separated), or a strategy id"


class RuleError(ValueError):
    """A value that does not parse; `error` names the field and says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.error = FieldError(field, message)


def parse_duration(text: str, field: str) -> int:
    """Milliseconds of a duration such as `4h`; RuleError naming `field` otherwise."""
    match = _DURATION.match(text or "")
    if not match or (match[2] is None and float(match[1]) != 0):
        raise RuleError(field, f"{text!r} is not a duration such as 30m, 4h or 2d")
    milliseconds = float(match[1]) * _UNIT_MS[match[2] or "ms"]
    if milliseconds != math.floor(milliseconds):
        raise RuleError(field, f"{text!r} is not a whole number of milliseconds")
    if milliseconds > MAX_WINDOW_DAYS * _UNIT_MS["d"]:
        raise RuleError(field, f"{text!r} is longer than {MAX_WINDOW_DAYS} days")
    return int(milliseconds)


@dataclass(frozen=True)
class ExitRules:
    """Price and time exits; percentages in percent (2 = 2 %)."""

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    time_limit_ms: int | None = None

    def to_dict(self) -> dict[str, float | int]:
        return {name: value for name, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class Alternative:
    """What a replay compares the actual trades with."""

    entry_strategy_id: str | None = None
    exit_strategy_id: str | None = None
    exit_rules: ExitRules | None = None

    @property
    def is_empty(self) -> bool:
        return self.entry_strategy_id is None and self.exit_strategy_id is None and self.exit_rules is None


def strategy_id_of(text: str) -> str | None:
    """The canonical UUID when `text` is one, else None."""
    try:
        return str(uuid.UUID(text.strip()))
    except (ValueError, AttributeError):
        return None


def parse_alternative(entry_rule: str | None, exit_rule: str | None, field_prefix: str = "metadata") -> Alternative:
    """Both rules; RuleError for the first that does not parse."""
    entry_id = None
    if entry_rule is not None and entry_rule.strip():
        entry_id = strategy_id_of(entry_rule)
        if entry_id is None:
            raise RuleError(f"{field_prefix}.alternative_entry", f"{entry_rule!r} is not a strategy id")
    if exit_rule is None or not exit_rule.strip():
        return Alternative(entry_strategy_id=entry_id)
    exit_id = strategy_id_of(exit_rule)
    if exit_id is not None:
        return Alternative(entry_strategy_id=entry_id, exit_strategy_id=exit_id)
    rules = parse_exit_rules(exit_rule, f"{field_prefix}.alternative_exit")
    return Alternative(entry_strategy_id=entry_id, exit_rules=rules)


def parse_exit_rules(text: str, field: str) -> ExitRules:
    values: dict[str, Any] = {}  # ExitRules' fields
    for token in text.split(","):
        name, separator, argument = (part.strip() for part in token.partition(":"))
        if not separator or not argument:
            raise RuleError(field, f"{token.strip()!r} is not a rule; expected {EXIT_RULE_FORMS}")
        key = "time_limit_ms" if name == "time" else name
        if key in values:
            raise RuleError(field, f"{name} is given twice")
        if name == "time":
            values[key] = parse_duration(argument, field)
            if values[key] == 0:
                raise RuleError(field, "time must be longer than 0")
        elif name in _PERCENT_LIMITS:
            values[key] = _percent(name, argument, field)
        else:
            raise RuleError(field, f"unknown rule {name!r}; expected {EXIT_RULE_FORMS}")
    return ExitRules(**values)


def _percent(name: str, argument: str, field: str) -> float:
    high, inclusive = _PERCENT_LIMITS[name]
    try:
        value = float(argument)
    except ValueError:
        raise RuleError(field, f"{name}:{argument} needs a number (percent)") from None
    if not (math.isfinite(value) and value > 0 and (value <= high if inclusive else value < high)):
        bound = f"at most {high:g}" if inclusive else f"below {high:g}"
        raise RuleError(field, f"{name} must be greater than 0 and {bound} (percent), not {argument}")
    return value
