"""TA-Lib's function table, written once to `talib_functions.json` for the registry and the API.

TA-Lib's Python wrapper gives each function's inputs, parameters with defaults, outputs and
lookback, but not the parameters' valid ranges (those live in the C library's tables). This
module reads the first through `talib.abstract` and finds the ranges by asking TA-Lib itself:
it bisects, for each parameter, the values TA-Lib accepts (it answers TA_BAD_PARAM outside
them). The result is static data: the engine builds its indicators from it without probing,
and the API serves the catalogue without importing NumPy or TA-Lib.
`tests/test_indicator_catalogue.py` regenerates it and fails when the committed file differs
(a TA-Lib upgrade):

    .venv/bin/python -m shared.indicators.talib_catalogue   # rewrite talib_functions.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TALIB_FUNCTIONS_PATH = Path(__file__).with_name("talib_functions.json")

# TA-Lib's group names -> the catalogue's.
GROUPS = {
    "Overlap Studies": "overlap",
    "Momentum Indicators": "momentum",
    "Volume Indicators": "volume",
    "Volatility Indicators": "volatility",
    "Price Transform": "price_transform",
    "Cycle Indicators": "cycle",
    "Statistic Functions": "statistic",
    "Pattern Recognition": "pattern_recognition",
    "Math Operators": "math_operators",
    "Math Transform": "math_transform",
}
# Inputs that are a series the rule names (`params.periods`: MAVP's period per bar), not a price.
SERIES_INPUTS = ("periods",)
_PROBE_PERIOD = 10.0  # MAVP's probe period per bar
_PROBE_BARS = 64
# Parameters probed with others away from their defaults: MAVP refuses minperiod > maxperiod,
# an order the registry checks, so minperiod's own range is probed under the largest maxperiod.
_PROBE_CONSTRAINTS = {"mavp": {"minperiod": {"maxperiod": 100_000}}}
_INTEGER_LIMIT = (1 << 31) - 1  # TA_INTEGER_MAX (its minimum, -2**31, means "the default")
_REAL_LIMIT = 3e37  # TA_REAL_MAX


def _probe_candles() -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, _PROBE_BARS)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    return {
        "open": open_,
        "high": np.maximum(open_, close) * 1.002,
        "low": np.minimum(open_, close) * 0.998,
        "close": close,
        "volume": rng.uniform(1, 2, _PROBE_BARS),
        "$periods": np.full(_PROBE_BARS, _PROBE_PERIOD),
    }


def _inputs(info: dict[str, Any]) -> list[str]:
    """Input columns in call order; "$source" / "$source1" where the caller picks the price,
    "$periods" (a SERIES_INPUTS name) where the rule gives any series."""
    columns: list[str] = []
    for key, value in info["input_names"].items():
        if isinstance(value, list):
            columns.extend(value)
        elif key in SERIES_INPUTS:
            columns.append(f"${key}")
        else:
            columns.append("$source1" if key == "price1" else "$source")
    return columns


def _default_sources(info: dict[str, Any]) -> list[str]:
    return [value for key, value in info["input_names"].items() if isinstance(value, str) and key not in SERIES_INPUTS]


def _accepts(function: Any, arrays: list[Any], params: dict[str, Any]) -> bool:
    try:
        function(*arrays, **params)
    except Exception:  # noqa: BLE001 - TA-Lib raises a bare Exception naming TA_BAD_PARAM
        return False
    return True


def _boundary(accepted: Any, good: float, bad: float, integer: bool) -> float:
    """The accepted value nearest `bad`, by bisection between an accepted and a refused value."""
    while True:
        middle = (good + bad) // 2 if integer else (good + bad) / 2
        if middle in (good, bad):
            return good
        if accepted(middle):
            good = middle
        else:
            bad = middle


def _round(value: float, integer: bool) -> float:
    if integer:
        return int(value)
    return float(f"{value:.10g}") if value else 0.0


def _range(accepted: Any, default: float, integer: bool) -> tuple[float, float]:
    # No TA-Lib integer parameter is negative.
    lowest, highest = (-1, _INTEGER_LIMIT) if integer else (-_REAL_LIMIT, _REAL_LIMIT)
    bounds = []
    for far in (lowest, highest):
        if accepted(far):
            bounds.append(far)
        else:
            bounds.append(_round(_boundary(accepted, default, far, integer), integer))
    return bounds[0], bounds[1]


def _function_entry(name: str, candles: dict[str, Any]) -> dict[str, Any]:
    import talib
    from talib import abstract

    info = abstract.Function(name).info  # type: ignore[attr-defined]
    function = getattr(talib, name)
    columns = _inputs(info)
    defaults = _default_sources(info)
    arrays = [candles[defaults[0] if c == "$source" else defaults[-1] if c == "$source1" else c] for c in columns]
    constraint = _PROBE_CONSTRAINTS.get(name.lower(), {})
    types = {
        spec["name"]: spec["type"]
        for spec in (
            talib._ta_lib._ta_getOptInputParameterInfo(name.encode(), i)  # type: ignore[attr-defined]
            for i in range(talib._ta_lib._ta_getFuncInfo(name.encode())["num_opt_inputs"])  # type: ignore[attr-defined]
        )
    }
    parameters = []
    for param, default in info["parameters"].items():
        integer = types[param] != 0  # 0: real; 2: integer; 3: an MA type (integer code)
        params = dict(info["parameters"]) | constraint.get(param, {})

        def accepted(
            value: float, param: str = param, params: dict[str, Any] = params, integer: bool = integer
        ) -> bool:
            return _accepts(function, arrays, params | {param: int(value) if integer else float(value)})

        minimum, maximum = _range(accepted, default, integer)
        parameters.append(
            {"name": param, "default": default, "minimum": minimum, "maximum": maximum, "integer": integer}
        )
    flags = info["function_flags"] or []
    return {
        "name": name.lower(),
        "group": GROUPS[info["group"]],
        "display_name": info["display_name"],
        "inputs": columns,
        "default_sources": defaults,
        "parameters": parameters,
        "outputs": [output.lower() for output in info["output_names"]],
        "unstable": any("unstable period" in flag for flag in flags),
        "candlestick": any("candlestick" in flag for flag in flags),
    }


def build_talib_functions() -> list[dict[str, Any]]:
    """Every TA-Lib function, as the registry reads them (needs TA-Lib)."""
    import talib

    candles = _probe_candles()
    return [
        _function_entry(name, candles)
        for group in talib.get_function_groups().values()  # type: ignore[no-untyped-call]
        for name in group
    ]


def load_talib_functions() -> list[dict[str, Any]]:
    with TALIB_FUNCTIONS_PATH.open() as file:
        entries: list[dict[str, Any]] = json.load(file)
    return entries


def write_talib_functions() -> None:
    text = json.dumps(build_talib_functions(), indent=1, allow_nan=False)
    TALIB_FUNCTIONS_PATH.write_text(text + "\n")


if __name__ == "__main__":
    write_talib_functions()
