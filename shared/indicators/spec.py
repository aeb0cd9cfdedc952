"""How the strategy language describes one indicator: its parameters, outputs, warm-up, memory.

Both halves of the registry build these: `talib_specs` (every TA-Lib function, computed by
TA-Lib) and `custom` (the indicators TA-Lib lacks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.candles import Candles
from shared.indicators._kernels import WindowSums

# Price series an indicator can read (`params.source`) or a condition can compare with.
SOURCES: tuple[str, ...] = ("open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4")
MAX_PERIOD = 100_000  # TA-Lib's bound for every period

Params = Mapping[str, float | str]


@dataclass(frozen=True)
class Param:
    """An indicator parameter: a whole number or a real in [minimum, maximum], or one of
    `choices` (a word). `aliases`: the project's older names for it."""

    name: str
    default: float | str
    minimum: float = 2
    maximum: float = MAX_PERIOD
    integer: bool = True
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()

    def problem(self, value: float | str) -> str | None:
        """Why `value` is not acceptable, or None."""
        if self.choices:
            return None if value in self.choices else f"must be one of {', '.join(self.choices)}"
        if isinstance(value, str):
            return "must be a number"
        if self.integer and value != int(value):
            return f"must be a whole number, got {value:g}"
        if not self.minimum <= value <= self.maximum:
            return f"must be between {self.minimum:g} and {self.maximum:g}, got {value:g}"
        return None

    def describe(self) -> dict[str, object]:
        """The catalogue's entry for this parameter."""
        if self.choices:
            kind: dict[str, object] = {"type": "choice", "choices": list(self.choices)}
        else:
            kind = {"type": "integer" if self.integer else "number", "minimum": self.minimum, "maximum": self.maximum}
        return {"name": self.name, "default": self.default, **kind, "aliases": list(self.aliases)}


def period(default: int, minimum: int = 2, name: str = "timeperiod", aliases: tuple[str, ...] = ("period",)) -> Param:
    return Param(name, default, minimum, aliases=aliases)


class Inputs:
    """What an indicator computation reads: the candles' columns, derived sources, shared sums,
    and the series its series parameters name (`series`: name -> values, see `with_series`)."""

    def __init__(self, candles: Candles) -> None:
        self.candles = candles
        self._sources: dict[str, NDArray[Any]] = {}
        self._window_sums: dict[str, WindowSums] = {}
        self.series: Mapping[str, NDArray[Any]] = {}

    def with_series(self, series: Mapping[str, NDArray[Any]]) -> Inputs:
        """These inputs (sharing their derived sources and sums) with `series` given."""
        bound = Inputs(self.candles)
        bound._sources, bound._window_sums, bound.series = self._sources, self._window_sums, series
        return bound

    @property
    def ts(self) -> NDArray[Any]:
        return self.candles.ts

    @property
    def open(self) -> NDArray[Any]:
        return self.candles.open

    @property
    def high(self) -> NDArray[Any]:
        return self.candles.high

    @property
    def low(self) -> NDArray[Any]:
        return self.candles.low

    @property
    def close(self) -> NDArray[Any]:
        return self.candles.close

    @property
    def volume(self) -> NDArray[Any]:
        return self.candles.volume

    def source(self, name: str) -> NDArray[Any]:
        series = self._sources.get(name)
        if series is None:
            series = _source_series(self.candles, name)
            self._sources[name] = series
        return series

    def window_sums(self, source: str) -> WindowSums:
        sums = self._window_sums.get(source)
        if sums is None:
            sums = WindowSums(self.source(source))
            self._window_sums[source] = sums
        return sums


def _source_series(candles: Candles, name: str) -> NDArray[Any]:
    c = candles
    if name == "hl2":
        return (c.high + c.low) / 2
    if name == "hlc3":
        return (c.high + c.low + c.close) / 3
    if name == "ohlc4":
        return (c.open + c.high + c.low + c.close) / 4
    series: NDArray[Any] = getattr(c, name)
    return series


@dataclass(frozen=True)
class IndicatorSpec:
    """An indicator as the strategy language sees it.

    `compute(inputs, params)` returns one array per output (in `outputs` order), NaN during the
    warm-up; `warmup(params)` is its number of leading NaN bars; `memory(params)` the number of
    trailing bars a value depends on bit for bit (None: every bar since the first, as for a
    recursive filter or a running sum), which a chunked executor must read before a chunk to
    reproduce values. `output_aliases` / `param_aliases` map older project names to the
    canonical ones (one alias may set several parameters: bbands' std_dev sets nbdevup and
    nbdevdn). `sources`: the parameters naming price series (`source`, `source1`) with defaults.
    `series_params`: required parameters naming any series a condition's `value` can (a price
    field, a number, an indicator object); `compute` reads them from `inputs.series`, and
    `warmup` counts from the first bar they are all defined (mavp's `periods`).
    """

    name: str
    group: str
    params: tuple[Param, ...]
    compute: Callable[[Inputs, Params], tuple[NDArray[Any], ...]]
    warmup: Callable[[Params], int]
    memory: Callable[[Params], int | None]
    outputs: tuple[str, ...] = ("value",)  # in the order `compute` returns them
    default_output: str = "value"
    sources: tuple[tuple[str, str], ...] = (("source", "close"),)
    constraint: Callable[[Params], str | None] = field(default=lambda p: None)
    output_aliases: Mapping[str, str] = field(default_factory=dict)
    series_params: tuple[str, ...] = ()
    reference: str = "TA-Lib"
    description: str = ""

    @property
    def default_source(self) -> str | None:
        return self.sources[0][1] if self.sources else None

    # Validation and `series_ref` look these up for every indicator of every strategy variant (a
    # sweep makes one per combination): each is built once per indicator, read-only.

    def defaults(self) -> dict[str, float | str]:
        """Every parameter's and source's default (a fresh dict)."""
        return dict(self._defaults)

    @cached_property
    def _defaults(self) -> Mapping[str, float | str]:
        values: dict[str, float | str] = {p.name: p.default for p in self.params}
        values.update(self.sources)
        return MappingProxyType(values)

    @cached_property
    def params_by_name(self) -> Mapping[str, Param]:
        return MappingProxyType({param.name: param for param in self.params})

    @cached_property
    def source_defaults(self) -> Mapping[str, str]:
        """The parameters naming price series, with their defaults."""
        return MappingProxyType(dict(self.sources))

    def param_aliases(self) -> Mapping[str, tuple[str, ...]]:
        """alias -> the canonical parameters it sets."""
        return self._param_aliases

    @cached_property
    def _param_aliases(self) -> Mapping[str, tuple[str, ...]]:
        aliases: dict[str, tuple[str, ...]] = {}
        for param in self.params:
            for alias in param.aliases:
                aliases[alias] = (*aliases.get(alias, ()), param.name)
        return MappingProxyType(aliases)

    def output(self, name: str) -> str | None:
        """The canonical output `name` designates (itself or an alias), or None."""
        return name if name in self.outputs else self.output_aliases.get(name)


def finite(warmup: Callable[[Params], int]) -> Callable[[Params], int]:
    """memory of a finite-window indicator: its window, one bar more than its warm-up."""
    return lambda p: warmup(p) + 1


def unbounded(p: Params) -> None:
    """memory of an indicator whose value depends on every earlier bar."""
    return


def after_warmup(values: NDArray[Any], warmup: int) -> NDArray[Any]:
    """values (a fresh array the caller owns) as float64 with its first `warmup` bars NaN, in
    place when it is float64 already (TA-Lib leaves 0 there for integer outputs such as
    candlestick patterns, which are converted)."""
    out = np.asarray(values, dtype=np.float64)
    out[:warmup] = np.nan
    return out
