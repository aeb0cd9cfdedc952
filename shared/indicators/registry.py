"""One table of every indicator the strategy language offers, and a cache to compute them once.

The registry is the single truth that validation (which names, parameters, outputs exist) and
evaluation (how to compute them, how many bars they need) share. `IndicatorCache` memoises the
series of one set of candles by (name, resolved parameters incl. source), every output of a
multi-output indicator from one computation, and the prefix sums behind every SMA of a source:
one signals evaluation computes each distinct series once, and a parameter sweep on the same
candles shares all of it.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.candles import Candles
from shared.indicators.custom import CUSTOM_SPECS
from shared.indicators.spec import IndicatorSpec, Inputs
from shared.indicators.talib_specs import INDICATOR_ALIASES, talib_specs
from shared.market_data.resample import resample
from shared.timeframes import timeframe_ms

REGISTRY: dict[str, IndicatorSpec] = {spec.name: spec for spec in (*talib_specs(), *CUSTOM_SPECS)}


def find_indicator(name: str) -> IndicatorSpec | None:
    """The indicator `name` designates (its own name or an alias), or None."""
    return REGISTRY.get(INDICATOR_ALIASES.get(name, name))


@dataclass(frozen=True)
class SeriesRef:
    """One series a rule reads: an indicator with every parameter resolved (defaults filled in,
    `$names` substituted), the output it picks, and how many bars back it looks (`offset`).
    `series`: the series parameters (mavp's `periods`), each another SeriesRef or a constant.

    Hashable and canonical, so equal references computed from differently written rules (a
    default spelled out or not, params in another order) share one cache entry.
    """

    indicator: str
    params: tuple[tuple[str, float | str], ...]
    output: str
    offset: int = 0  # bars of `timeframe` (of the backtest's when None)
    timeframe: str | None = None  # a coarser timeframe to compute on (see IndicatorCache)
    series: tuple[tuple[str, SeriesRef | float], ...] = ()

    @property
    def spec(self) -> IndicatorSpec:
        return REGISTRY[self.indicator]

    @property
    def inputs(self) -> tuple[SeriesRef, ...]:
        """The series parameters that are series (not constants)."""
        return tuple(value for _, value in self.series if isinstance(value, SeriesRef))

    @cached_property
    def warmup(self) -> int:
        """Leading undefined bars (on a coarser `timeframe`: that timeframe's bars, a lower bound);
        an indicator of series parameters warms up once they are defined."""
        after = max((ref.warmup for ref in self.inputs), default=0)
        return after + self.spec.warmup(dict(self.params)) + self.offset

    @cached_property
    def memory(self) -> int | None:
        """Bars a value depends on; unbounded on a coarser timeframe (the buckets are anchored to
        UTC boundaries, not to the first bar a chunk reads)."""
        bars = self.spec.memory(dict(self.params))
        inputs = [ref.memory for ref in self.inputs]
        if bars is None or self.timeframe is not None or None in inputs:
            return None
        known = [memory for memory in inputs if memory is not None]
        return bars + max(known, default=1) - 1 + self.offset

    def refs(self) -> Iterator[SeriesRef]:
        """This reference and those its series parameters read, at any depth."""
        yield self
        for ref in self.inputs:
            yield from ref.refs()

    def at_own_timeframe(self) -> SeriesRef:
        return replace(self, timeframe=None)

    def describe(self) -> str:
        shown = ", ".join(
            [f"{k}={v}" for k, v in self.params]
            + [f"{k}={v.describe() if isinstance(v, SeriesRef) else f'{v:g}'}" for k, v in self.series]
        )
        output = "" if self.output == self.spec.default_output else f".{self.output}"
        offset = f"[{self.offset} bars ago]" if self.offset else ""
        timeframe = f"@{self.timeframe}" if self.timeframe else ""
        return f"{self.indicator}({shown}){output}{offset}{timeframe}"


def series_ref(
    indicator: str,
    params: Mapping[str, float | str | SeriesRef],
    output: str | None = None,
    offset: int = 0,
    timeframe: str | None = None,
) -> SeriesRef:
    """A canonical SeriesRef: canonical names (aliases resolved), defaults filled in, parameters
    sorted. A series parameter (mavp's `periods`) is a SeriesRef, a price field or a number.
    Assumes validated input.

    Equal arguments give the same (immutable) reference: a sweep's variants name the same few
    series over and over, and each reference computes its warm-up and memory once."""
    try:
        return _known_series_ref(
            indicator, tuple((name, exact_key(value)) for name, value in params.items()), output, offset, timeframe
        )
    except TypeError:  # an unhashable value (not validated input): nothing to share
        return _series_ref(indicator, params, output, offset, timeframe)


def exact_key(value: Any) -> Any:
    """`value` as a dict key that only an identical value matches: with its type (10 and 10.0
    are equal but read differently) and, for a zero, its sign (0.0 and -0.0 are equal too)."""
    return (type(value), value, math.copysign(1.0, value) if isinstance(value, float) and value == 0.0 else 0.0)


@lru_cache(maxsize=4096)
def _known_series_ref(
    indicator: str,
    params: tuple[tuple[str, tuple[type, Any, float]], ...],
    output: str | None,
    offset: int,
    timeframe: str | None,
) -> SeriesRef:
    return _series_ref(indicator, {name: value for name, (_, value, _) in params}, output, offset, timeframe)


def _series_ref(
    indicator: str,
    params: Mapping[str, float | str | SeriesRef],
    output: str | None,
    offset: int,
    timeframe: str | None,
) -> SeriesRef:
    spec = find_indicator(indicator)
    if spec is None:
        raise KeyError(indicator)
    aliases = spec.param_aliases()
    resolved = spec.defaults()
    series: dict[str, SeriesRef | float] = {}
    for name, value in params.items():
        if name in spec.series_params:
            series[name] = series_ref("price", {"source": value}) if isinstance(value, str) else value
        elif isinstance(value, SeriesRef):
            raise TypeError(f"{name} of {spec.name} is not a series parameter")
        else:
            resolved.update(dict.fromkeys(aliases.get(name, (name,)), value))
    missing = [name for name in spec.series_params if name not in series]
    if missing:
        raise KeyError(f"{spec.name} needs {', '.join(missing)}")
    canonical_output = spec.output(output) if output else spec.default_output
    return SeriesRef(
        spec.name,
        tuple(sorted(resolved.items())),
        canonical_output or output or "",
        offset,
        timeframe,
        tuple(sorted(series.items())),
    )


class IndicatorCache:
    """Indicator series of one set of candles, each computed once.

    `computations` counts indicator evaluations (a multi-output indicator counts once for all
    its outputs); tests and a sweep's statistics read it. `max_bytes` bounds the memory the
    cached series take (least recently used first out; a sweep over many periods on a million
    bars would otherwise hold 8 MB per period); None keeps everything.

    Multi-timeframe: a series with a coarser `timeframe` is computed on the candles resampled to
    it (the store's resampler) and read, at each bar, from the last coarser candle that has
    closed by that bar's close (open + length <= the bar's open + its length): never from a
    candle still forming. `timeframe` is the candles' own (needed only for such series).
    """

    def __init__(self, candles: Candles, max_bytes: int | None = None, timeframe: str | None = None) -> None:
        self.candles = candles
        self.max_bytes = max_bytes
        self.timeframe = timeframe
        self._coarser: dict[str, IndicatorCache] = {}
        self.computations = 0
        self._inputs = Inputs(candles)
        # (indicator, params) -> every output, and SeriesRef -> an offset copy; oldest first.
        self._entries: OrderedDict[object, tuple[dict[str, NDArray[Any]], int]] = OrderedDict()
        self._bytes = 0

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def series(self, ref: SeriesRef) -> NDArray[Any]:
        """The series `ref` names; read-only (shared with every other reader)."""
        if ref.timeframe is not None and ref.timeframe != self.timeframe:
            return self._coarser_series(ref)
        key = (ref.indicator, ref.params, ref.series)
        outputs = self._recall(key)
        if outputs is None:
            spec = ref.spec
            inputs = self._inputs.with_series({name: self._input(value) for name, value in ref.series})
            values = spec.compute(inputs, dict(ref.params))
            self.computations += 1
            outputs = {name: _read_only(array) for name, array in zip(spec.outputs, values, strict=True)}
            self._remember(key, outputs)
        series = outputs[ref.output]
        if ref.offset == 0:
            return series
        shifted = self._recall(ref)
        if shifted is None:
            copy = np.full(len(series), np.nan)
            copy[ref.offset :] = series[: len(series) - ref.offset]
            shifted = {ref.output: _read_only(copy)}
            self._remember(ref, shifted)
        return shifted[ref.output]

    def _input(self, value: SeriesRef | float) -> NDArray[Any]:
        """A series parameter's values on these candles: its series, or a constant's."""
        return self.series(value) if isinstance(value, SeriesRef) else np.full(len(self.candles), float(value))

    def _coarser_series(self, ref: SeriesRef) -> NDArray[Any]:
        aligned = self._recall(ref)
        if aligned is not None:
            return aligned[ref.output]
        timeframe = str(ref.timeframe)
        if self.timeframe is None:
            raise ValueError(f"{ref.describe()} needs the candles' own timeframe")
        coarser = self._coarser.get(timeframe)
        if coarser is None:
            coarser = IndicatorCache(resample(self.candles, self.timeframe, timeframe), timeframe=timeframe)
            self._coarser[timeframe] = coarser
        values = coarser.series(ref.at_own_timeframe())
        self.computations += 1
        closes = coarser.candles.ts + timeframe_ms(timeframe)
        bar_closes = self.candles.ts + timeframe_ms(self.timeframe)
        last_closed = np.searchsorted(closes, bar_closes, side="right") - 1
        series = np.full(len(self.candles), np.nan)
        known = last_closed >= 0
        series[known] = values[last_closed[known]]
        aligned = {ref.output: _read_only(series)}
        self._remember(ref, aligned)
        return aligned[ref.output]

    def _recall(self, key: object) -> dict[str, NDArray[Any]] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def _remember(self, key: object, outputs: dict[str, NDArray[Any]]) -> None:
        columns = [getattr(self.candles, name) for name in ("open", "high", "low", "close", "volume")]
        size = sum(  # a price series is the candles' own column: it costs nothing here
            array.nbytes for array in outputs.values() if not any(np.may_share_memory(array, c) for c in columns)
        )
        self._entries[key] = (outputs, size)
        self._bytes += size
        while self.max_bytes is not None and self._bytes > self.max_bytes and len(self._entries) > 1:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted


def _read_only(array: NDArray[Any]) -> NDArray[Any]:
    """A read-only view: cached series are shared, and a price series is the candles' own column."""
    view = array.view()
    view.flags.writeable = False
    return view
