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

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import FieldError, ValidationFailed
from shared.optimizations.constraints import Constraints, parse_constraints

if TYPE_CHECKING:  # NumPy, pyarrow and the engine load on first use: the API imports this module
    from shared.candles import Candles
    from shared.engine import BacktestSettings

# Metrics where lower is better: their default direction is "min" (any other metric: "max").
LOWER_IS_BETTER = frozenset(
    {"max_drawdown", "max_drawdown_percentage", "max_consecutive_losses", "ulcer_index", "commission_paid"}
)
DIRECTIONS = ("max", "min")
METHODS = ("grid", "random", "bayesian")
MAX_COMBINATIONS = 100_000  # the hard cap (the template's MaxCombinations may only lower it)
MAX_VALUES_PER_PARAMETER = 1_000
# A grid with constraints is enumerated, then filtered: beyond this many points, sample it instead.
MAX_ENUMERATED = 1_000_000
# Bounds the series one batch keeps (a year of 1m bars is 4 MB per series): least recently used go.
BATCH_CACHE_BYTES = 512 * 2**20
# The ranking an optimization keeps (what GET /optimizations/{id}/results pages through, and all the
# dashboard reads of it: 100 pages of 100): the best RANKED_RESULTS, whatever the sweep's size. Every
# combination's summary stays in its batch's results object (the heatmap reads those).
RANKED_RESULTS = 10_000


def default_direction(metric: str) -> str:
    """Drawdowns (and any metric named like one) are minimised, every other metric maximised; a
    sub-summary's metric (`long.win_rate`) by its own name."""
    name = metric.rsplit(".", 1)[-1]
    return "min" if name in LOWER_IS_BETTER or "drawdown" in name else "max"


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
            raise ValidationFailed(
                "invalid parameter range", [FieldError(field, f"a range is {{start, stop, step}}: {problem}")]
            )
        start, stop, step = (_number(spec[key], f"{field}.{key}") for key in ("start", "stop", "step"))
        if step <= 0:
            raise ValidationFailed("invalid parameter range", [FieldError(f"{field}.step", "must be greater than 0")])
        if stop < start:
            raise ValidationFailed("invalid parameter range", [FieldError(f"{field}.stop", "must be at least start")])
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > MAX_VALUES_PER_PARAMETER:
            raise ValidationFailed(
                "invalid parameter range",
                [FieldError(field, f"the range has {count} values; at most {MAX_VALUES_PER_PARAMETER}")],
            )
        integral = all(float(value).is_integer() for value in (start, step))
        values = [int(start + i * step) if integral else round(start + i * step, 12) for i in range(count)]
    elif isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        if not spec:
            raise ValidationFailed("invalid parameter values", [FieldError(field, "must list at least one value")])
        if len(spec) > MAX_VALUES_PER_PARAMETER:
            raise ValidationFailed(
                "invalid parameter values",
                [FieldError(field, f"lists {len(spec)} values; at most {MAX_VALUES_PER_PARAMETER}")],
            )
        values = [_number(value, f"{field}[{i}]") for i, value in enumerate(spec)]
    else:
        raise ValidationFailed(
            "invalid parameter values", [FieldError(field, "must be a list of numbers or a range {start, stop, step}")]
        )
    return list(dict.fromkeys(values))


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationFailed("invalid parameter values", [FieldError(field, "must be a finite number")])
    return value


@dataclass(frozen=True)
class SearchSpace:
    """The swept parameters' values, in grid order (rule parameters first), and the constraints a
    combination must meet. Point `i` is the i-th of their cartesian product, the last parameter
    varying fastest (itertools.product's order), so a point is decoded without enumerating."""

    values: dict[str, list[float]]
    constraints: Constraints

    @property
    def size(self) -> int:
        return math.prod(len(options) for options in self.values.values())

    def point(self, index: int) -> Combination:
        params, rest = {}, index
        for name in reversed(self.values):
            rest, position = divmod(rest, len(self.values[name]))
            params[name] = self.values[name][position]
        return Combination(index, {name: params[name] for name in self.values})

    def index_of(self, params: Mapping[str, float]) -> int:
        index = 0
        for name, options in self.values.items():
            index = index * len(options) + options.index(params[name])
        return index


def search_space(
    strategy: Mapping[str, Any], parameters: Mapping[str, Any], constraints: Sequence[str] = ()
) -> SearchSpace:
    """The space of a sweep; ValidationFailed when a key is not a parameter of the strategy, a
    value is not a number, or a constraint is not valid (each named)."""
    from shared.strategy import with_parameters

    if not parameters:
        raise ValidationFailed("nothing to optimise", [FieldError("parameters", "name at least one parameter")])
    values = {name: parameter_values(name, spec) for name, spec in parameters.items()}
    errors = []
    for name, options in values.items():
        try:
            with_parameters(strategy, {name: options[0]})
        except ValidationFailed as error:
            errors += [FieldError(f"parameters.{e.field}", e.message) for e in error.errors]
    if errors:
        raise ValidationFailed("unknown parameters", errors)
    order = sorted(values, key=lambda name: not _reaches_the_rules(name))  # stable: request order within each
    return SearchSpace({name: values[name] for name in order}, parse_constraints(constraints, order))


def parameter_grid(
    strategy: Mapping[str, Any],
    parameters: Mapping[str, Any],
    max_combinations: int,
    constraints: Sequence[str] = (),
    check: bool = True,
) -> list[Combination]:
    """Every combination that meets the constraints, rule parameters varying slowest (see the
    module docstring). ValidationFailed as `search_space`, and when more than `max_combinations`
    remain or a combination makes the strategy invalid (named)."""
    space = search_space(strategy, parameters, constraints)
    if space.size > max(max_combinations, MAX_ENUMERATED if constraints else 0):
        raise ValidationFailed(
            "too many combinations",
            [
                FieldError(
                    "parameters",
                    f"the grid has {space.size} combinations, more than max_combinations ({max_combinations})",
                )
            ],
        )
    combos = [
        Combination(i, dict(zip(space.values, point)))
        for i, point in enumerate(itertools.product(*space.values.values()))
    ]
    combos = [combo for combo in combos if space.constraints.allows(combo.params)]
    if len(combos) > max_combinations:
        raise ValidationFailed(
            "too many combinations",
            [
                FieldError(
                    "parameters",
                    f"the grid has {len(combos)} combinations meeting the constraints, more than "
                    f"max_combinations ({max_combinations})",
                )
            ],
        )
    if check:
        _check_combinations(strategy, combos)
    return combos


def random_combinations(
    strategy: Mapping[str, Any],
    parameters: Mapping[str, Any],
    n_trials: int,
    seed: int,
    constraints: Sequence[str] = (),
    check: bool = True,
) -> list[Combination]:
    """`n_trials` distinct points of the grid that meet the constraints (all of them when fewer
    do), drawn by a generator seeded with `seed`: the same request samples the same points. They
    come back in grid order, so a batch's combinations still share their indicator series."""
    space = search_space(strategy, parameters, constraints)
    rng, chosen = random.Random(seed), []
    for index in _distinct_indices(rng, space.size, attempts=100 * n_trials):
        combo = space.point(index)
        if space.constraints.allows(combo.params):
            chosen.append(combo)
            if len(chosen) == n_trials:
                break
    if not chosen:
        raise ValidationFailed(
            "no combination meets the constraints",
            [FieldError("constraints", f"none of the {space.size} combinations tried meets every constraint")],
        )
    chosen.sort(key=lambda combo: combo.index)
    if check:
        _check_combinations(strategy, chosen)
    return chosen


def _distinct_indices(rng: random.Random, size: int, attempts: int) -> Iterator[int]:
    """Distinct indices in [0, size) in random order: a shuffle of them all when the grid is
    small enough, else rejection of repeats (rare there), giving up after `attempts` draws."""
    if size <= MAX_ENUMERATED:
        yield from rng.sample(range(size), size)
        return
    seen: set[int] = set()
    for _ in range(attempts):
        index = rng.randrange(size)
        if index not in seen:
            seen.add(index)
            yield index


def _reaches_the_rules(name: str) -> bool:
    """Bare names are `config.parameters` (only rules read them); paths into the rules too."""
    return "." not in name or name.startswith(("entry_rules", "exit_rules", "config.parameters"))


def _check_combinations(strategy: Mapping[str, Any], combos: list[Combination], shown: int = 3) -> None:
    """Every combination's variant validated (each indicator object the variants share with
    `strategy` once per distinct value of the parameters it reads: `VariantMemo`)."""
    from shared.strategy import VariantMemo, validate_strategy, with_parameters

    problems, memo = [], VariantMemo(strategy)
    for combo in combos:
        try:
            validate_strategy(with_parameters(strategy, combo.params), memo)
        except ValidationFailed as error:
            detail = "; ".join(f"{e.field}: {e.message}" for e in error.errors)
            problems.append(
                FieldError("parameters", f"combination {combo.params} makes the strategy invalid: {detail}")
            )
            if len(problems) == shown:
                break
    if problems:
        raise ValidationFailed("some combinations make the strategy invalid", problems)


def batches(combos: Sequence[Combination], count: int) -> list[list[Combination]]:
    """`count` contiguous batches of near-equal size (grid order keeps shared series together)."""
    bounds = [round(i * len(combos) / count) for i in range(count + 1)]
    return [list(combos[bounds[i] : bounds[i + 1]]) for i in range(count)]


# A batch's work in bar-combinations (bars of the range x combinations): at least MIN, so the
# candle read and the invocation stay small beside the engine (a year of 1m candles reads in about
# the time of ten SMA-cross backtests on it: 10 x 525,600), and at most MAX, one Lambda run of
# well under a minute (50 such backtests).
MIN_BATCH_WORK = 5_256_000
MAX_BATCH_WORK = 26_280_000


def batch_count(combinations: int, concurrency: int, bars: int) -> int:
    """How many batches: as many as can run at once, each of at least MIN_BATCH_WORK and at most
    MAX_BATCH_WORK bar-combinations (short ranges get many combinations per batch, so per-batch
    costs - a Map child execution, a candle read, result writes - do not dominate)."""
    least = max(1, math.ceil(MIN_BATCH_WORK / max(bars, 1)))
    most = max(least, MAX_BATCH_WORK // max(bars, 1))
    wanted = min(concurrency, math.ceil(combinations / least))
    return max(1, wanted, math.ceil(combinations / most))


@dataclass(frozen=True)
class BatchResult:
    results: list[dict[str, Any]]  # per combination: index, params, final_balance, performance_summary
    indicator_computations: int  # series computed for the whole batch


def evaluate_batch(
    strategy: Mapping[str, Any], combos: Sequence[Combination], candles: Candles, settings: BacktestSettings
) -> BatchResult:
    """Each combination's single pass over `candles`, all sharing one indicator cache (the trades'
    excursions left out: only the summary is kept)."""
    from shared.engine import simulate
    from shared.indicators import IndicatorCache
    from shared.strategy import VariantMemo, validate_strategy, with_parameters

    cache = IndicatorCache(candles, max_bytes=BATCH_CACHE_BYTES, timeframe=settings.timeframe)
    results, memo = [], VariantMemo(strategy)
    for combo in combos:
        variant = validate_strategy(with_parameters(strategy, combo.params), memo)
        result = simulate(candles, variant.signals(candles, cache), variant.config, settings, excursions=False)
        results.append(
            {
                "index": combo.index,
                "params": combo.params,
                "final_balance": result.final_balance,
                "performance_summary": result.performance_summary,
            }
        )
    return BatchResult(results, cache.computations)


def rank_key(
    objective: str, direction: str | None = None, min_trades: int = 0
) -> Callable[[Mapping[str, Any]], tuple[bool, bool, float, int]]:
    """The order of a ranking: by `objective` in `direction` ("max"/"min"; default
    `default_direction`), an undefined value (e.g. no Sharpe ratio) after every defined one, results
    with fewer than `min_trades` closed trades after all others, ties in grid order (the index:
    unique, so the order is total and any merge of ranked parts equals one sort of them all)."""
    maximize = (direction or default_direction(objective)) == "max"

    def key(result: Mapping[str, Any]) -> tuple[bool, bool, float, int]:
        summary = result["performance_summary"]
        value = objective_value(summary, objective)
        too_few = (summary.get("total_trades") or 0) < min_trades
        return (too_few, value is None, 0.0 if value is None else (-value if maximize else value), result["index"])

    return key


def rank(
    results: Sequence[Mapping[str, Any]], objective: str, direction: str | None = None, min_trades: int = 0
) -> list[dict[str, Any]]:
    """Results best first (`rank_key`), each with its 1-based `rank` and `objective_value`."""
    return _numbered(sorted(results, key=rank_key(objective, direction, min_trades)), objective)


def merge_ranked(
    ranked: Iterable[Iterable[Mapping[str, Any]]],
    objective: str,
    direction: str | None = None,
    min_trades: int = 0,
    limit: int = RANKED_RESULTS,
) -> list[dict[str, Any]]:
    """The best `limit` results of several sequences each already in `rank_key` order (one per
    batch), numbered as `rank` numbers them: a heap merge, which takes from each sequence only as
    many results as make the cut, so what it reads and holds is bounded by `limit` (plus one result
    per sequence), however many results the sequences hold. Equal to `rank(all)[:limit]`."""
    merged = heapq.merge(*ranked, key=rank_key(objective, direction, min_trades))
    return _numbered(itertools.islice(merged, limit), objective)


def _numbered(ordered: Iterable[Mapping[str, Any]], objective: str) -> list[dict[str, Any]]:
    return [
        dict(result) | {"rank": position, "objective_value": objective_value(result["performance_summary"], objective)}
        for position, result in enumerate(ordered, start=1)
    ]


def summary_value(summary: Mapping[str, Any], metric: str) -> Any:
    """A summary's entry by name, or by a dotted path into a sub-summary (`long.total_pnl`);
    None when there is no such entry."""
    value: Any = summary
    for name in metric.split("."):
        value = value.get(name) if isinstance(value, Mapping) else None
    return value


def objective_value(summary: Mapping[str, Any], metric: str) -> float | None:
    """A summary's metric (a name or a dotted path, see `summary_value`) as a number, None when
    it is undefined (or not a number at all)."""
    value = summary_value(summary, metric)
    return None if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) else value


def numeric_metrics(summary: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The names of a summary's numeric metrics (null counts: a metric undefined for this run),
    a sub-summary's as dotted paths (`long.win_rate`), in the summary's order."""
    names: list[str] = []
    for name, value in summary.items():
        if isinstance(value, Mapping):
            names += numeric_metrics(value, f"{prefix}{name}.")
        elif value is None or objective_value(summary, name) is not None:
            names.append(prefix + name)
    return names


def summary_metrics(strategy: Mapping[str, Any]) -> list[str]:
    """The numeric metrics of a performance summary (`numeric_metrics`), in the engine's order:
    whatever the metrics module computes today, read off a run of the strategy on three flat
    candles."""
    import numpy as np

    from shared.candles import Candles
    from shared.engine import BacktestSettings, run_backtest
    from shared.strategy import validate_strategy

    ts = np.arange(3, dtype=np.int64) * 3_600_000
    flat = np.full(3, 100.0)
    summary = run_backtest(
        validate_strategy(strategy),
        Candles(ts, flat, flat, flat, flat, flat),
        BacktestSettings(initial_balance=1_000.0, timeframe="1h"),
    ).performance_summary
    return numeric_metrics(summary)


def sweep_combinations(
    strategy: Mapping[str, Any],
    method: str,
    parameters: Mapping[str, Any],
    constraints: Sequence[str],
    max_combinations: int,
    n_trials: int | None,
    seed: int | None,
    check: bool = True,
) -> list[Combination] | None:
    """What a grid or random sweep runs, every combination checked (unless `check` is False: the
    request was checked when it was accepted, and the same request lays out the same
    combinations); None for a Bayesian search, whose combinations come round by round (its space
    and constraints are checked here)."""
    if method == "grid":
        return parameter_grid(strategy, parameters, max_combinations, constraints, check)
    if method == "random":
        return random_combinations(strategy, parameters, n_trials or 1, seed or 0, constraints, check)
    search_space(strategy, parameters, constraints)
    return None
