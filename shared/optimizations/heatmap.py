"""The heatmap of an optimization: one metric over two swept parameters, the best over the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import FieldError, ValidationFailed
from shared.optimizations.sweep import numeric_metrics, objective_value


def heatmap(ranking: Sequence[Mapping[str, Any]], parameters: Sequence[str], x: str, y: str, metric: str,
            direction: str) -> dict[str, Any]:
    """values[j][i] = the best `metric` (in `direction`) among results with y = y_values[j] and
    x = x_values[i]; None where no result has a defined value there (not run, constrained out,
    undefined metric). ValidationFailed naming `x`, `y` or `metric`."""
    errors = [FieldError(field, f"{name!r} is not a swept parameter; parameters: {', '.join(parameters)}")
              for field, name in (("x", x), ("y", y)) if name not in parameters]
    if x == y and not errors:
        errors.append(FieldError("y", "must differ from x"))
    metrics = numeric_metrics(ranking[0]["performance_summary"]) if ranking else []
    if ranking and metric not in metrics:
        errors.append(FieldError("metric", f"{metric!r} is not a numeric metric of the performance summary: "
                                           f"{', '.join(metrics)}"))
    if errors:
        raise ValidationFailed("invalid heatmap", errors)
    x_values = sorted({result["params"][x] for result in ranking})
    y_values = sorted({result["params"][y] for result in ranking})
    column, row = {v: i for i, v in enumerate(x_values)}, {v: j for j, v in enumerate(y_values)}
    better = max if direction == "max" else min
    values: list[list[float | None]] = [[None] * len(x_values) for _ in y_values]
    for result in ranking:
        value = objective_value(result["performance_summary"], metric)
        if value is None:
            continue
        j, i = row[result["params"][y]], column[result["params"][x]]
        current = values[j][i]
        values[j][i] = value if current is None else better(current, value)
    return {"x": x, "y": y, "metric": metric, "x_values": x_values, "y_values": y_values, "values": values}
