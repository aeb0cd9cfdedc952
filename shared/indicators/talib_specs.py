"""Every TA-Lib function as an indicator: its lower-case name, TA-Lib's parameters, defaults and
outputs (from `talib_functions.json`), computed by TA-Lib itself.

The project's older names stay valid as aliases: indicators (`williams_r` = `willr`), parameters
(`period` = `timeperiod`, `std_dev` = bbands' `nbdevup` and `nbdevdn`) and outputs (`line` =
macd's `macd`); a single output is `value` (TA-Lib's `real` / `integer` are aliases).

Warm-up is TA-Lib's lookback. Memory: TA-Lib's running sums and filters carry rounding (or, for
its unstable-period functions, state) from the first bar they read, so a value is reproduced
bit for bit only from the same first bar: memory is unbounded, except for the functions in
`_EXACT_WINDOW`, which compute each value from its window alone (a test checks it).

MAVP takes its period per bar from a series the rule names (`periods`, a series parameter: a
price field, a number or an indicator object): at bar t, int(periods[t]) clamped to
[minperiod, maxperiod], as TA-Lib does; undefined where periods is (TA-Lib would read minperiod
there); its warm-up is TA-Lib's lookback (of maxperiod) after periods' own.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import talib
from numpy.typing import NDArray
from talib import abstract

from shared.indicators.spec import IndicatorSpec, Inputs, Param, Params, after_warmup, unbounded
from shared.indicators.talib_catalogue import load_talib_functions

# Generic project names of TA-Lib parameters, then per-indicator ones.
_PARAM_ALIASES = {
    "timeperiod": ("period",),
    "fastperiod": ("fast_period",),
    "slowperiod": ("slow_period",),
    "signalperiod": ("signal_period",),
}
_INDICATOR_PARAM_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "stoch": {"fastk_period": ("k_period",), "slowk_period": ("k_smoothing",), "slowd_period": ("d_period",)},
    "bbands": {"nbdevup": ("std_dev",), "nbdevdn": ("std_dev",)},
}
_BANDS = {"upper": "upperband", "middle": "middleband", "lower": "lowerband"}
_OUTPUT_ALIASES: dict[str, dict[str, str]] = {
    "macd": {"line": "macd", "signal": "macdsignal", "histogram": "macdhist"},
    "bbands": _BANDS,
    "donchian": _BANDS,
    "stoch": {"k": "slowk", "d": "slowd"},
    "eri": {"bull": "bullpower", "bear": "bearpower"},
}
_DEFAULT_OUTPUTS = {"bbands": "middleband", "donchian": "middleband", "accbands": "middleband"}
# Other names of TA-Lib indicators: the project's older ones and the seeds' names.
INDICATOR_ALIASES = {
    "williams_r": "willr",
    "momentum": "mom",
    "chaikin_volatility": "cvi",
    "vpt": "pvt",
    "force_index": "efi",
    "elder_ray": "eri",
}
# Functions whose value at t is computed from bars t - lookback .. t alone, exactly (no running
# sum): a chunk may start reading lookback bars before it.
_EXACT_WINDOW = frozenset(
    {
        "mom",
        "roc",
        "rocp",
        "rocr",
        "rocr100",
        "max",
        "min",
        "minmax",
        "midpoint",
        "midprice",
        "willr",
        "aroon",
        "aroonosc",
        "donchian",
        "trange",
        "medprice",
        "typprice",
        "wclprice",
        "avgprice",
        "bop",
        "add",
        "sub",
        "mult",
        "div",
        "acos",
        "asin",
        "atan",
        "ceil",
        "cos",
        "cosh",
        "exp",
        "floor",
        "ln",
        "log10",
        "sin",
        "sinh",
        "sqrt",
        "tan",
        "tanh",
    }
)


def _macd_order(p: Params) -> str | None:
    return None if float(p["fastperiod"]) < float(p["slowperiod"]) else "fastperiod must be less than slowperiod"


def _mavp_order(p: Params) -> str | None:
    return None if float(p["minperiod"]) <= float(p["maxperiod"]) else "minperiod must not exceed maxperiod"


_CONSTRAINTS = {"macd": _macd_order, "mavp": _mavp_order}


def _column(data: Inputs, column: str, p: Params) -> NDArray[Any]:
    """The array an input column names: a price (`$source`, `$source1` from params), a series
    parameter's values (`$periods`), or the candles' own column."""
    if column in ("$source", "$source1"):
        return data.source(str(p[column[1:]]))
    if column.startswith("$"):
        return data.series[column[1:]]
    return data.source(column)


@functools.lru_cache(maxsize=4096)
def _lookback(name: str, params: tuple[tuple[str, float], ...]) -> int:
    function = abstract.Function(name)  # type: ignore[attr-defined]
    function.set_parameters(dict(params))
    return int(function.lookback)


def _call_params(entry: Mapping[str, Any], p: Params) -> tuple[tuple[str, float], ...]:
    return tuple(
        (param["name"], int(p[param["name"]]) if param["integer"] else float(p[param["name"]]))
        for param in entry["parameters"]
    )


def _spec(entry: Mapping[str, Any]) -> IndicatorSpec:
    name = entry["name"]
    upper = name.upper()
    function = getattr(talib, upper)
    aliases = _PARAM_ALIASES | _INDICATOR_PARAM_ALIASES.get(name, {})
    params = tuple(
        Param(p["name"], p["default"], p["minimum"], p["maximum"], p["integer"], aliases.get(p["name"], ()))
        for p in entry["parameters"]
    )
    inputs = entry["inputs"]
    outputs = tuple(entry["outputs"]) if len(entry["outputs"]) > 1 else ("value",)
    output_aliases = _OUTPUT_ALIASES.get(name, {}) if len(outputs) > 1 else {entry["outputs"][0]: "value"}
    sources = tuple(zip(("source", "source1"), entry["default_sources"], strict=False))
    series_params = tuple(c[1:] for c in inputs if c.startswith("$") and c not in ("$source", "$source1"))

    def warmup(p: Params) -> int:
        return _lookback(upper, _call_params(entry, p))

    def compute(data: Inputs, p: Params) -> tuple[NDArray[Any], ...]:
        values = function(*(_column(data, c, p) for c in inputs), **dict(_call_params(entry, p)))
        lookback = warmup(p)
        out = tuple(after_warmup(v, lookback) for v in (values if isinstance(values, tuple) else (values,)))
        for name in series_params:  # TA-Lib reads an undefined period as minperiod: undefined here
            undefined = np.isnan(data.series[name])
            for values_ in out:
                values_[undefined] = np.nan
        return out

    exact = name in _EXACT_WINDOW
    return IndicatorSpec(
        name=name,
        group=entry["group"],
        params=params,
        compute=compute,
        warmup=warmup,
        memory=(lambda p: warmup(p) + 1) if exact else unbounded,
        outputs=outputs,
        default_output=_DEFAULT_OUTPUTS.get(name, outputs[0]),
        sources=sources,
        constraint=_CONSTRAINTS.get(name, lambda p: None),
        output_aliases=output_aliases,
        series_params=series_params,
        description=entry["display_name"],
    )


def talib_specs() -> list[IndicatorSpec]:
    return [_spec(entry) for entry in load_talib_functions()]
