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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.candles import Candles
from shared.indicators import functions as fn
from shared.indicators._kernels import WindowSums

# Price series an indicator can read (`params.source`) or a condition can compare with.
SOURCES: tuple[str, ...] = ("open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4")
MAX_PERIOD = 100_000  # TA-Lib's bound for every period
# A recursive filter's "memory": bars after which an older bar's weight is below this fraction.
_NEGLIGIBLE_WEIGHT = 1e-12

Params = Mapping[str, Any]  # numbers by name, and `source`: the input column's name


@dataclass(frozen=True)
class Param:
    """A numeric indicator parameter: an integer in [minimum, MAX_PERIOD] unless `integer` is
    False (then a real in (0, maximum])."""

    name: str
    default: float
    minimum: float = 2
    maximum: float = MAX_PERIOD
    integer: bool = True

    def problem(self, value: float) -> str | None:
        """Why `value` is not acceptable, or None."""
        if self.integer:
            if value != int(value):
                return f"must be a whole number, got {value:g}"
            if not self.minimum <= value <= self.maximum:
                return f"must be between {self.minimum:g} and {self.maximum:g}, got {value:g}"
        elif not 0 < value <= self.maximum:
            return f"must be greater than 0 and at most {self.maximum:g}, got {value:g}"
        return None


def _period(default: int, minimum: int = 2, name: str = "period") -> Param:
    return Param(name, default, minimum)


def _settling_bars(alpha: float) -> int:
    """Bars after which an exponential filter with this alpha forgets a bar (weight < 1e-12)."""
    return 0 if alpha >= 1 else math.ceil(math.log(_NEGLIGIBLE_WEIGHT) / math.log(1.0 - alpha))


class _Inputs:
    """What an indicator computation reads: the candles' columns, derived sources, shared sums."""

    def __init__(self, candles: Candles) -> None:
        self.candles = candles
        self._sources: dict[str, NDArray[Any]] = {}
        self._window_sums: dict[str, WindowSums] = {}

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
    return getattr(c, name)


@dataclass(frozen=True)
class IndicatorSpec:
    """An indicator as the strategy language sees it.

    `compute(inputs, params)` returns one array per output (in `outputs` order); `warmup(params)`
    is its number of leading NaN bars; `memory(params)` the number of trailing bars a value
    depends on (for recursive filters: until older bars weigh < 1e-12; None: every bar since the
    first, as for OBV), which a chunked executor must read before a chunk to reproduce values.
    """

    name: str
    params: tuple[Param, ...]
    compute: Callable[[_Inputs, Params], tuple[NDArray[Any], ...]]
    warmup: Callable[[Params], int]
    memory: Callable[[Params], int | None]
    outputs: tuple[str, ...] = ("value",)  # in the order `compute` returns them
    default_output: str = "value"
    default_source: str | None = "close"  # None: reads fixed columns, takes no `source`
    constraint: Callable[[Params], str | None] = field(default=lambda p: None)

    def defaults(self) -> dict[str, float | str]:
        values: dict[str, float | str] = {p.name: p.default for p in self.params}
        if self.default_source is not None:
            values["source"] = self.default_source
        return values


def _finite(warmup: Callable[[Params], int]) -> Callable[[Params], int]:
    """memory of a finite-window indicator: its window, one bar more than its warm-up."""
    return lambda p: warmup(p) + 1


def _macd_order(p: Params) -> str | None:
    return None if p["fast_period"] < p["slow_period"] else "fast_period must be less than slow_period"


def _window_warmup(p: Params) -> int:
    """A value needs `period` bars (SMA, EMA seed, CCI, ...)."""
    return int(p["period"]) - 1


def _change_warmup(p: Params) -> int:
    """A value needs `period` changes, so period + 1 bars (RSI, ATR, ROC, momentum)."""
    return int(p["period"])


def _macd_warmup(p: Params) -> int:
    return int(p["slow_period"] + p["signal_period"]) - 2


def _stoch_warmup(p: Params) -> int:
    return int(p["k_period"] + p["k_smoothing"] + p["d_period"]) - 3


def _adx_warmup(p: Params) -> int:
    return 2 * int(p["period"]) - 1


_SPECS = (
    IndicatorSpec(
        "price", (), lambda i, p: (i.source(p["source"]),), lambda p: 0, lambda p: 1
    ),
    IndicatorSpec(
        "sma",
        (_period(30),),
        lambda i, p: (fn.sma_from_sums(i.window_sums(p["source"]), int(p["period"])),),
        _window_warmup,
        _finite(_window_warmup),
    ),
    IndicatorSpec(
        "ema",
        (_period(30),),
        lambda i, p: (fn.ema(i.source(p["source"]), int(p["period"])),),
        _window_warmup,
        lambda p: _window_warmup(p) + 1 + _settling_bars(2 / (p["period"] + 1)),
    ),
    IndicatorSpec(
        "wma",
        (_period(30),),
        lambda i, p: (fn.wma(i.source(p["source"]), int(p["period"])),),
        _window_warmup,
        _finite(_window_warmup),
    ),
    IndicatorSpec(
        "rsi",
        (_period(14),),
        lambda i, p: (fn.rsi(i.source(p["source"]), int(p["period"])),),
        _change_warmup,
        lambda p: _change_warmup(p) + 1 + _settling_bars(1 / p["period"]),
    ),
    IndicatorSpec(
        "macd",
        (_period(12, name="fast_period"), _period(26, name="slow_period"), _period(9, 1, "signal_period")),
        lambda i, p: tuple(
            fn.macd(i.source(p["source"]), int(p["fast_period"]), int(p["slow_period"]), int(p["signal_period"]))
        ),
        _macd_warmup,
        lambda p: _macd_warmup(p)
        + 1
        + _settling_bars(2 / (p["slow_period"] + 1))
        + _settling_bars(2 / (p["signal_period"] + 1)),
        outputs=("line", "signal", "histogram"),
        default_output="line",
        constraint=_macd_order,
    ),
    IndicatorSpec(
        "bbands",
        (_period(20), Param("std_dev", 2.0, maximum=100, integer=False)),
        lambda i, p: tuple(fn.bbands(i.source(p["source"]), int(p["period"]), float(p["std_dev"]))),
        _window_warmup,
        _finite(_window_warmup),
        outputs=("upper", "middle", "lower"),
        default_output="middle",
    ),
    IndicatorSpec(
        "atr",
        (_period(14, 1),),
        lambda i, p: (fn.atr(i.high, i.low, i.close, int(p["period"])),),
        _change_warmup,
        lambda p: _change_warmup(p) + 1 + _settling_bars(1 / p["period"]),
        default_source=None,
    ),
    IndicatorSpec(
        "stoch",
        (_period(5, 1, "k_period"), _period(3, 1, "k_smoothing"), _period(3, 1, "d_period")),
        lambda i, p: tuple(
            fn.stoch(i.high, i.low, i.close, int(p["k_period"]), int(p["k_smoothing"]), int(p["d_period"]))
        ),
        _stoch_warmup,
        _finite(_stoch_warmup),
        outputs=("k", "d"),
        default_output="k",
        default_source=None,
    ),
    IndicatorSpec(
        "adx",
        (_period(14),),
        lambda i, p: (fn.adx(i.high, i.low, i.close, int(p["period"])),),
        _adx_warmup,
        # Two Wilder filters in series (DM/TR, then ADX): each must forget.
        lambda p: _adx_warmup(p) + 1 + 2 * _settling_bars(1 / p["period"]),
        default_source=None,
    ),
    IndicatorSpec(
        "cci",
        (_period(14),),
        lambda i, p: (fn.cci(i.high, i.low, i.close, int(p["period"])),),
        _window_warmup,
        _finite(_window_warmup),
        default_source=None,
    ),
    IndicatorSpec(
        "obv", (), lambda i, p: (fn.obv(i.source(p["source"]), i.volume),), lambda p: 0, lambda p: None
    ),
    IndicatorSpec(
        "vwap",
        (_period(20, 1),),
        lambda i, p: (fn.vwap(i.source(p["source"]), i.volume, int(p["period"])),),
        _window_warmup,
        _finite(_window_warmup),
        default_source="hlc3",
    ),
    IndicatorSpec(
        "roc",
        (_period(10, 1),),
        lambda i, p: (fn.roc(i.source(p["source"]), int(p["period"])),),
        _change_warmup,
        _finite(_change_warmup),
    ),
    IndicatorSpec(
        "momentum",
        (_period(10, 1),),
        lambda i, p: (fn.momentum(i.source(p["source"]), int(p["period"])),),
        _change_warmup,
        _finite(_change_warmup),
    ),
    IndicatorSpec(
        "williams_r",
        (_period(14),),
        lambda i, p: (fn.williams_r(i.high, i.low, i.close, int(p["period"])),),
        _window_warmup,
        _finite(_window_warmup),
        default_source=None,
    ),
    IndicatorSpec(
        "donchian",
        (_period(20, 1),),
        lambda i, p: tuple(fn.donchian(i.high, i.low, int(p["period"]))),
        _window_warmup,
        _finite(_window_warmup),
        outputs=("upper", "middle", "lower"),
        default_output="middle",
        default_source=None,
    ),
)

REGISTRY: dict[str, IndicatorSpec] = {spec.name: spec for spec in _SPECS}


@dataclass(frozen=True)
class SeriesRef:
    """One series a rule reads: an indicator with every parameter resolved (defaults filled in,
    `$names` substituted), the output it picks, and how many bars back it looks (`offset`).

    Hashable and canonical, so equal references computed from differently written rules (a
    default spelled out or not, params in another order) share one cache entry.
    """

    indicator: str
    params: tuple[tuple[str, float | str], ...]
    output: str
    offset: int = 0

    @property
    def spec(self) -> IndicatorSpec:
        return REGISTRY[self.indicator]

    @property
    def warmup(self) -> int:
        return self.spec.warmup(dict(self.params)) + self.offset

    @property
    def memory(self) -> int | None:
        bars = self.spec.memory(dict(self.params))
        return None if bars is None else bars + self.offset

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params)
        output = "" if self.output == self.spec.default_output else f".{self.output}"
        offset = f"[{self.offset} bars ago]" if self.offset else ""
        return f"{self.indicator}({shown}){output}{offset}"


def series_ref(
    indicator: str, params: Mapping[str, float | str], output: str | None = None, offset: int = 0
) -> SeriesRef:
    """A canonical SeriesRef: defaults filled in, parameters sorted. Assumes validated input."""
    spec = REGISTRY[indicator]
    resolved = spec.defaults() | dict(params)
    return SeriesRef(indicator, tuple(sorted(resolved.items())), output or spec.default_output, offset)


class IndicatorCache:
    """Indicator series of one set of candles, each computed once.

    `computations` counts indicator evaluations (a multi-output indicator counts once for all
    its outputs); tests and a sweep's statistics read it. `max_bytes` bounds the memory the
    cached series take (least recently used first out; a sweep over many periods on a million
    bars would otherwise hold 8 MB per period); None keeps everything.
    """

    def __init__(self, candles: Candles, max_bytes: int | None = None) -> None:
        self.candles = candles
        self.max_bytes = max_bytes
        self.computations = 0
        self._inputs = _Inputs(candles)
        # (indicator, params) -> every output, and SeriesRef -> an offset copy; oldest first.
        self._entries: OrderedDict[object, tuple[dict[str, NDArray[Any]], int]] = OrderedDict()
        self._bytes = 0

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def series(self, ref: SeriesRef) -> NDArray[Any]:
        """The series `ref` names; read-only (shared with every other reader)."""
        outputs = self._recall((ref.indicator, ref.params))
        if outputs is None:
            spec = ref.spec
            values = spec.compute(self._inputs, dict(ref.params))
            self.computations += 1
            outputs = {name: _read_only(array) for name, array in zip(spec.outputs, values, strict=True)}
            self._remember((ref.indicator, ref.params), outputs)
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
