"""The indicator catalogue `GET /api/v1/indicators` serves, as static data.

`build_catalogue()` describes every registry entry (name, group, parameters with defaults and
ranges, series parameters (mavp's `periods`), outputs, `source` support, warm-up and chunk
lookback at the defaults, aliases); it needs the engine (NumPy, TA-Lib). `catalogue.json` holds its output, so the API reads a file
instead of importing either at a cold start; `tests/test_indicator_catalogue.py` fails when the
file is stale:

    .venv/bin/python -m shared.indicators.catalogue   # rewrite catalogue.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CATALOGUE_PATH = Path(__file__).with_name("catalogue.json")
SERIES_PARAMETERS = {
    "periods": "The moving average's period at each bar: int(value) clamped to [minperiod, maxperiod]; "
    "undefined where the series is.",
}


def build_catalogue() -> list[dict[str, Any]]:
    from shared.indicators.custom import DATA_DEPENDENT_WARMUP
    from shared.indicators.registry import REGISTRY
    from shared.indicators.talib_specs import INDICATOR_ALIASES

    aliases: dict[str, list[str]] = {}
    for alias, name in INDICATOR_ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    entries = []
    for name in sorted(REGISTRY):
        spec = REGISTRY[name]
        defaults = spec.defaults()
        entries.append(
            {
                "name": name,
                "aliases": sorted(aliases.get(name, [])),
                "group": spec.group,
                "description": spec.description,
                "reference": spec.reference,
                "parameters": [param.describe() for param in spec.params],
                "sources": [{"name": param, "default": default} for param, default in spec.sources],
                "series_parameters": [
                    {
                        "name": param,
                        "accepts": ["price", "number", "indicator"],
                        "description": SERIES_PARAMETERS[param],
                    }
                    for param in spec.series_params
                ],
                "outputs": [
                    {
                        "name": output,
                        "aliases": sorted(a for a, target in spec.output_aliases.items() if target == output),
                    }
                    for output in spec.outputs
                ],
                "default_output": spec.default_output,
                "warmup": spec.warmup(defaults),
                "warmup_depends_on_data": name in DATA_DEPENDENT_WARMUP,
                "lookback": spec.memory(defaults),
            }
        )
    return entries


def load_catalogue() -> list[dict[str, Any]]:
    with CATALOGUE_PATH.open() as file:
        entries: list[dict[str, Any]] = json.load(file)
    return entries


def write_catalogue() -> None:
    CATALOGUE_PATH.write_text(json.dumps(build_catalogue(), indent=1, allow_nan=False) + "\n")


if __name__ == "__main__":
    write_catalogue()
