"""The heatmap of an optimization: one metric over two swept parameters, the best over the rest."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared.errors import FieldError, ValidationFailed
from shared.optimizations.sweep import numeric_metrics, objective_value


def heatmap(
    results: Iterable[Mapping[str, Any]], parameters: Sequence[str], x: str, y: str, metric: str, direction: str
) -> dict[str, Any]:
    """values[j][i] = the best `metric` (in `direction`) among results with y = y_values[j] and
    x = x_values[i]; None where no result has a defined value there (not run, constrained out,
    undefined metric). `results` are read once, in any order, keeping only the cells (a sweep's
    results stream through batch by batch). ValidationFailed naming `x`, `y` or `metric`."""
    errors = [
        FieldError(field, f"{name!r} is not a swept parameter; parameters: {', '.join(parameters)}")
        for field, name in (("x", x), ("y", y))
        if name not in parameters
    ]
    if x == y and not errors:
        errors.append(FieldError("y", "must differ from x"))
    results = iter(results)
    first = next(results, None)
    metrics = numeric_metrics(first["performance_summary"]) if first is not None else []
    if first is not None and metric not in metrics:
        errors.append(
            FieldError("metric", f"{metric!r} is not a numeric metric of the performance summary: {', '.join(metrics)}")
        )
    if errors:
        raise ValidationFailed("invalid heatmap", errors)
    better = max if direction == "max" else min
    cells: dict[tuple[float, float], float | None] = {}
    for result in itertools.chain([first] if first is not None else [], results):
        cell = (result["params"][x], result["params"][y])
        value, current = objective_value(result["performance_summary"], metric), cells.get(cell)
        cells[cell] = current if value is None else value if current is None else better(current, value)
    x_values, y_values = sorted({i for i, _ in cells}), sorted({j for _, j in cells})
    values = [[cells.get((i, j)) for i in x_values] for j in y_values]
    return {"x": x, "y": y, "metric": metric, "x_values": x_values, "y_values": y_values, "values": values}
