"""Parameter sweeps: the grid of combinations, their evaluation with shared indicators, the ranking.

A sweep names strategy numbers by `with_parameters` keys: a bare name is a `config.parameters`
entry (what rules reference as "$name"), a dotted path any other field ("config.stop_loss",
"entry_rules.conditions[0].params.period"). Each takes a list of values or an inclusive range
{start, stop, step}. The grid is their cartesian product, capped.

Combinations are evaluated in batches, each over the whole range (every combination is an
ordinary single pass: nothing to stitch). Inside a batch one `IndicatorCache` serves every
combination, so an indicator series several combinations share is computed once per batch; the
grid is ordered so that the parameters that reach the rules vary slowest and consecutive
combinations (a batch) differ first in config values (stops, sizing) that need no new series.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import FieldError, ValidationFailed

if TYPE_CHECKING:  # NumPy, pyarrow and the engine load on first use: the API imports this module
    from shared.candles import Candles
    from shared.engine import BacktestSettings

# Objective -> True when larger is better. Every one is a key of the performance summary.
OBJECTIVES: dict[str, bool] = {
    "sharpe_ratio": True, "sortino_ratio": True, "total_pnl": True, "total_pnl_percentage": True,
    "profit_factor": True, "win_rate": True, "cagr": True, "calmar_ratio": True, "expectancy": True,
    "max_drawdown": False, "max_drawdown_percentage": False,
}
MAX_COMBINATIONS = 10_000  # the hard cap; a request's max_combinations may only lower it
MAX_VALUES_PER_PARAMETER = 1_000
# Bounds the series one batch keeps (a year of 1m bars is 4 MB per series): least recently used go.
BATCH_CACHE_BYTES = 512 * 2**20


@dataclass(frozen=True)
class Combination:
    """One point of the grid: its position in grid order and its parameter values."""

    index: int
    params: dict[str, float]


def parameter_values(name: str, spec: Any) -> list[float]:
    """A parameter's values from a list or an inclusive {start, stop, step} range, in order,
    without duplicates. ValidationFailed names `parameters.<name>`."""
    field = f"parameters.{name}"
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"start", "stop", "step"})
        missing = [key for key in ("start", "stop", "step") if key not in spec]
        if unknown or missing:
            problem = f"unknown keys {unknown}" if unknown else f"missing {', '.join(missing)}"
            raise ValidationFailed("invalid parameter range", [FieldError(field, f"a range is {{start, stop, step}}: {problem}")])
        start, stop, step = (_number(spec[key], f"{field}.{key}") for key in ("start", "stop", "step"))
        if step <= 0:
            raise ValidationFailed("invalid parameter range", [FieldError(f"{field}.step", "must be greater than 0")])
        if stop < start:
            raise ValidationFailed("invalid parameter range", [FieldError(f"{field}.stop", "must be at least start")])
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > MAX_VALUES_PER_PARAMETER:
            raise ValidationFailed("invalid parameter range", [FieldError(
                field, f"the range has {count} values; at most {MAX_VALUES_PER_PARAMETER}")])
        integral = all(float(value).is_integer() for value in (start, step))
        values = [int(start + i * step) if integral else round(start + i * step, 12) for i in range(count)]
    elif isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        if not spec:
            raise ValidationFailed("invalid parameter values", [FieldError(field, "must list at least one value")])
        if len(spec) > MAX_VALUES_PER_PARAMETER:
            raise ValidationFailed("invalid parameter values", [FieldError(
                field, f"lists {len(spec)} values; at most {MAX_VALUES_PER_PARAMETER}")])
        values = [_number(value, f"{field}[{i}]") for i, value in enumerate(spec)]
    else:
        raise ValidationFailed("invalid parameter values", [FieldError(
            field, "must be a list of numbers or a range {start, stop, step}")])
    return list(dict.fromkeys(values))


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationFailed("invalid parameter values", [FieldError(field, "must be a finite number")])
    return value


def parameter_grid(strategy: Mapping[str, Any], parameters: Mapping[str, Any], max_combinations: int) -> list[Combination]:
    """Every combination, rule parameters varying slowest (see the module docstring).

    ValidationFailed when a key is not a parameter of the strategy, a value is not a number, the
    grid exceeds `max_combinations`, or a combination makes the strategy invalid (each named).
    """
    from shared.strategy import with_parameters

    if not parameters:
        raise ValidationFailed("nothing to optimise", [FieldError("parameters", "name at least one parameter")])
    values = {name: parameter_values(name, spec) for name, spec in parameters.items()}
    size = math.prod(len(options) for options in values.values())
    if size > max_combinations:
        raise ValidationFailed("too many combinations", [FieldError(
            "parameters", f"the grid has {size} combinations, more than max_combinations ({max_combinations})")])
    errors = []
    for name, options in values.items():
        try:
            with_parameters(strategy, {name: options[0]})
        except ValidationFailed as error:
            errors += [FieldError(f"parameters.{e.field}", e.message) for e in error.errors]
    if errors:
        raise ValidationFailed("unknown parameters", errors)
    order = sorted(values, key=lambda name: not _reaches_the_rules(name))  # stable: request order within each
    combos = [Combination(i, dict(zip(order, point))) for i, point in enumerate(itertools.product(*(values[n] for n in order)))]
    _check_combinations(strategy, combos)
    return combos


def _reaches_the_rules(name: str) -> bool:
    """Bare names are `config.parameters` (only rules read them); paths into the rules too."""
    return "." not in name or name.startswith(("entry_rules", "exit_rules", "config.parameters"))


def _check_combinations(strategy: Mapping[str, Any], combos: list[Combination], shown: int = 3) -> None:
    from shared.strategy import validate_strategy, with_parameters

    problems = []
    for combo in combos:
        try:
            validate_strategy(with_parameters(strategy, combo.params))
        except ValidationFailed as error:
            detail = "; ".join(f"{e.field}: {e.message}" for e in error.errors)
            problems.append(FieldError("parameters", f"combination {combo.params} makes the strategy invalid: {detail}"))
            if len(problems) == shown:
                break
    if problems:
        raise ValidationFailed("some combinations make the strategy invalid", problems)


def batches(combos: Sequence[Combination], count: int) -> list[list[Combination]]:
    """`count` contiguous batches of near-equal size (grid order keeps shared series together)."""
    bounds = [round(i * len(combos) / count) for i in range(count + 1)]
    return [list(combos[bounds[i]:bounds[i + 1]]) for i in range(count)]


def batch_count(combinations: int, concurrency: int, least_per_batch: int = 10, most_per_batch: int = 50) -> int:
    """How many batches: as many as can run at once, but each with at least `least_per_batch`
    combinations (every batch reads the whole range once: a year of 1m candles takes about as
    long as ten SMA-cross backtests on it) and none above `most_per_batch` (one Lambda run each)."""
    wanted = min(concurrency, math.ceil(combinations / least_per_batch))
    return max(1, wanted, math.ceil(combinations / most_per_batch))


@dataclass(frozen=True)
class BatchResult:
    results: list[dict[str, Any]]  # per combination: index, params, final_balance, performance_summary
    indicator_computations: int  # series computed for the whole batch


def evaluate_batch(strategy: Mapping[str, Any], combos: Sequence[Combination], candles: Candles,
                   settings: BacktestSettings) -> BatchResult:
    """Each combination's single pass over `candles`, all sharing one indicator cache."""
    from shared.engine import simulate
    from shared.indicators import IndicatorCache
    from shared.strategy import validate_strategy, with_parameters

    cache = IndicatorCache(candles, max_bytes=BATCH_CACHE_BYTES, timeframe=settings.timeframe)
    results = []
    for combo in combos:
        variant = validate_strategy(with_parameters(strategy, combo.params))
        result = simulate(candles, variant.signals(candles, cache), variant.config, settings)
        results.append({"index": combo.index, "params": combo.params, "final_balance": result.final_balance,
                        "performance_summary": result.performance_summary})
    return BatchResult(results, cache.computations)


def rank(results: Sequence[Mapping[str, Any]], objective: str) -> list[dict[str, Any]]:
    """Results best first by `objective` (an undefined value, e.g. no Sharpe ratio, last; ties in
    grid order), each with its 1-based `rank` and `objective_value`."""
    maximize = OBJECTIVES[objective]

    def key(result: Mapping[str, Any]) -> tuple:
        value = result["performance_summary"].get(objective)
        return (value is None, 0.0 if value is None else (-value if maximize else value), result["index"])

    ordered = sorted(results, key=key)
    return [dict(result) | {"rank": position, "objective_value": result["performance_summary"].get(objective)}
            for position, result in enumerate(ordered, start=1)]
