"""The one validator every import runs through, before anything is written.

Rules (each failing row is reported with its place in the file; all rules run, so one pass
lists every problem):
- a row whose open, high, low and close are all empty or NaN is a period without trades: it is
  skipped and counted (its candle is a gap), never an error;
- otherwise every cell read (see parsing) and finite: a row with only some prices is an error;
- open, high, low, close > 0 and volume >= 0;
- high >= max(open, close) and low <= min(open, close) (so high >= low);
- timestamps between 1970 and 2100 and on a boundary of the timeframe (weeks start Monday 00:00 UTC);
- duplicate timestamps: identical rows are dropped, rows that disagree are rejected.

The checks are NumPy expressions over whole columns; Python runs per row only to word the first
`MAX_REPORTED_PROBLEMS` messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.candles import PRICE_FIELDS, Candles
from shared.errors import FieldError, ValidationFailed
from shared.market_data.parsing import RawCandles, RowLocator
from shared.timeframes import origin_ms, timeframe_ms
from shared.times import iso_utc

MAX_REPORTED_PROBLEMS = 100
EARLIEST_MS = 0
LATEST_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z


class ImportRejected(ValidationFailed):
    """A file that imports nothing: `errors` lists the first problems in file order,
    `problem_count` counts them all."""

    def __init__(self, message: str, errors: list[FieldError], problem_count: int) -> None:
        super().__init__(message, errors)
        self.problem_count = problem_count


@dataclass(frozen=True, eq=False)
class ValidCandles:
    """A file's candles after validation: sorted, unique, aligned; `rows[i]` is the file row
    candle i came from, so later checks (conflicts with stored data) can name its line."""

    candles: Candles
    rows: NDArray[Any]
    locator: RowLocator
    format: str
    rows_in_file: int
    duplicates_dropped: int
    rows_without_trades: int = 0

    def describe(self, index: int) -> str:
        return self.locator.describe(int(self.rows[index]))


@dataclass(frozen=True)
class Finding:
    """Rows failing one rule and how to word the problem of the k-th of them."""

    rows: NDArray[Any]
    message: Callable[[int], str]


def reject(findings: list[Finding], locator: RowLocator, what: str) -> ImportRejected:
    """The error naming the first problems of `findings` in file order (a row's problems in rule order)."""
    rows = np.concatenate([finding.rows for finding in findings]).astype(np.int64)
    rule = np.concatenate([np.full(len(f.rows), i) for i, f in enumerate(findings)])
    position = np.concatenate([np.arange(len(f.rows)) for f in findings])
    order = np.lexsort((rule, rows))[:MAX_REPORTED_PROBLEMS]
    errors = [
        FieldError(locator.describe(int(rows[i])), findings[int(rule[i])].message(int(position[i]))) for i in order
    ]
    total = len(rows)
    shown = "" if total <= len(errors) else f"; the first {len(errors)} are listed"
    return ImportRejected(f"{what}: {total} problem{'s' if total != 1 else ''}{shown}", errors, total)


def _number(value: float) -> str:
    return repr(float(value))


def _not_finite(name: str, values: NDArray[Any], row: int) -> str:
    if np.isnan(values[row]):
        return f"{name} is empty or NaN while the row has other prices"
    return f"{name} is not a finite number ({_number(values[row])})"


def _not_positive(name: str, values: NDArray[Any], row: int) -> str:
    return f"{name} must be above 0, got {_number(values[row])}"


def validate_candles(raw: RawCandles, timeframe: str) -> ValidCandles:
    """Check `raw` against every rule; the valid candles, or ImportRejected naming each bad row."""
    step, origin = timeframe_ms(timeframe), origin_ms(timeframe)
    if len(raw) == 0 and not raw.problems:
        raise ImportRejected("the file holds no candles", [FieldError("file", "no candle rows found")], 1)
    columns = {name: getattr(raw, name) for name in PRICE_FIELDS}
    ts = raw.ts
    findings: list[Finding] = []
    problems = raw.problems
    problem_rows = np.array([p.row for p in problems], dtype=np.int64)
    if problems:
        findings.append(Finding(problem_rows, lambda k: problems[k].message))
    without_trades = raw.without_trades if raw.without_trades is not None else np.zeros(len(raw), dtype=bool)
    checked = ~without_trades
    checked[problem_rows] = False

    def rule(failing: NDArray[Any], message: Callable[[int], str]) -> None:
        rows = np.flatnonzero(checked & failing)
        if len(rows):
            findings.append(Finding(rows, lambda k: message(int(rows[k]))))

    for name, values in columns.items():
        rule(~np.isfinite(values), partial(_not_finite, name, values))
    checked &= np.all([np.isfinite(values) for values in columns.values()], axis=0)
    o, h, low, c, v = (columns[name] for name in PRICE_FIELDS)
    for name in ("open", "high", "low", "close"):
        values = columns[name]
        rule(values <= 0, partial(_not_positive, name, values))
    rule(v < 0, lambda r: f"volume must not be negative, got {_number(v[r])}")
    rule(
        h < np.maximum(o, c),
        lambda r: f"high {_number(h[r])} is below max(open {_number(o[r])}, close {_number(c[r])})",
    )
    rule(
        low > np.minimum(o, c),
        lambda r: f"low {_number(low[r])} is above min(open {_number(o[r])}, close {_number(c[r])})",
    )
    in_range = (ts >= EARLIEST_MS) & (ts < LATEST_MS)
    rule(~in_range, lambda r: f"timestamp {ts[r]} ms is outside 1970-2100")
    checked &= in_range
    week_note = " (weeks start Monday 00:00 UTC)" if timeframe == "1w" else ""
    rule((ts - origin) % step != 0, lambda r: f"timestamp {iso_utc(ts[r])} is not on a {timeframe} boundary{week_note}")

    clean = ~without_trades
    for finding in findings:
        clean[finding.rows] = False
    keep, duplicates = _drop_identical_duplicates(np.flatnonzero(clean), raw, findings)
    if findings:
        raise reject(findings, raw.locator, "the file was rejected")
    if len(keep) == 0:
        raise ImportRejected(
            "the file holds no candles with trades", [FieldError("file", "every row's prices are empty or NaN")], 1
        )
    if len(keep) == len(raw) and bool(np.all(keep[1:] > keep[:-1])):  # every row, in file order: no copy
        candles = Candles.from_arrays(ts, *(columns[name] for name in PRICE_FIELDS))
    else:
        candles = Candles.from_arrays(ts[keep], *(columns[name][keep] for name in PRICE_FIELDS))
    return ValidCandles(candles, keep, raw.locator, raw.format, len(raw), duplicates, int(without_trades.sum()))


def _drop_identical_duplicates(
    rows: NDArray[Any], raw: RawCandles, findings: list[Finding]
) -> tuple[NDArray[Any], int]:
    """Rows sorted by time with identical repeats dropped; a repeat that disagrees with the first
    row of its timestamp becomes a finding. Returns (kept rows, identical repeats dropped)."""
    ts = raw.ts[rows]
    if len(ts) < 2 or bool(np.all(ts[1:] > ts[:-1])):  # already in order without repeats: most files
        return rows, 0
    order = rows[np.argsort(ts, kind="stable")]
    ts = raw.ts[order]
    repeat = np.zeros(len(order), dtype=bool)
    repeat[1:] = ts[1:] == ts[:-1]
    if not repeat.any():
        return order, 0
    first_of_run = np.maximum.accumulate(np.where(repeat, 0, np.arange(len(order))))
    first = order[first_of_run]
    same = np.all([getattr(raw, name)[order] == getattr(raw, name)[first] for name in PRICE_FIELDS], axis=0)
    conflicting = np.flatnonzero(repeat & ~same)
    if len(conflicting):
        later, earlier = order[conflicting], first[conflicting]

        def conflict(k: int) -> str:
            repeated = raw.locator.describe(int(earlier[k]))
            differences = describe_differences(raw, int(earlier[k]), raw, int(later[k]), "there", "here")
            return f"timestamp {iso_utc(raw.ts[later[k]])} repeats {repeated} with different values: {differences}"

        findings.append(Finding(later, conflict))
    return order[~repeat], int(np.count_nonzero(repeat & same))


def describe_differences(a: Any, a_row: int, b: Any, b_row: int, a_name: str, b_name: str) -> str:
    """`close 101.5 there, 101.7 here` for each OHLCV field that differs between two rows of
    anything with OHLCV columns (raw files, candles)."""
    return ", ".join(
        f"{name} {_number(getattr(a, name)[a_row])} {a_name}, {_number(getattr(b, name)[b_row])} {b_name}"
        for name in PRICE_FIELDS
        if getattr(a, name)[a_row] != getattr(b, name)[b_row]
    )
