"""Funding-rate history files, detected from their content like candle files:

- Binance's public dumps (data.binance.vision `fundingRate`): `calc_time,funding_interval_hours,
  last_funding_rate`, epoch ms, rates as fractions;
- exchange UI exports and generic CSV: a time column (`time`, `timestamp`, `funding_time`, `date`...)
  and a rate column (`funding_rate`, `rate`...), rates as fractions or with a `%` sign
  (`0.0100%` = 0.0001); any timestamp layout candle files accept;
- JSON: what Binance's `/fapi/v1/fundingRate` (`fundingTime`, `fundingRate`) or Bybit's
  `/v5/market/funding/history` (`fundingRateTimestamp`, `fundingRate`) return;
- gzip or a one-file zip of any of these.

Every row must be readable: a file with a bad row imports nothing and names the line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import numpy as np
import pyarrow as pa

from shared.errors import FieldError, ValidationFailed
from shared.market_data.funding import FundingRates
from shared.market_data.funding_history import funding_rates
from shared.market_data.parsing import file_error, read_timestamps, unpack_archive
from shared.market_data.validation import MAX_REPORTED_PROBLEMS

TIME_NAMES = (
    "calc_time",
    "funding_time",
    "fundingtime",
    "fundingratetimestamp",
    "funding_rate_timestamp",
    "timestamp",
    "time",
    "date",
    "datetime",
    "timestamp_utc",
)
RATE_NAMES = ("last_funding_rate", "funding_rate", "fundingrate", "rate")
_SPLIT = re.compile(r"[^a-z0-9]+")


def _name(text: str) -> str:
    return _SPLIT.sub("_", text.strip().strip("\"'").lower()).strip("_")


def parse_funding_file(content: bytes) -> FundingRates:
    """The funding rates of a file; ValidationFailed naming each unreadable row (or the missing column)."""
    content = unpack_archive(content).removeprefix(b"\xef\xbb\xbf")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise file_error(f"the file is not UTF-8 text (byte {error.start})") from None
    if not text.strip():
        raise file_error("the file is empty")
    if text.lstrip()[:1] == "[":
        return _from_rows(*_json_rows(text))
    return _from_rows(*_csv_rows(text))


def _json_rows(text: str) -> tuple[list[Any], list[Any], list[str]]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationFailed("invalid JSON", [FieldError(f"line {error.lineno}", error.msg)]) from None
    if not items or not all(isinstance(item, dict) for item in items):
        raise file_error("expected a JSON array of funding-rate objects")
    keys = {_name(key): key for key in items[0]}
    time_key, rate_key = _pick(keys, TIME_NAMES, "time"), _pick(keys, RATE_NAMES, "rate")
    return (
        [item.get(time_key) for item in items],
        [item.get(rate_key) for item in items],
        [f"item {i + 1}" for i in range(len(items))],
    )


def _csv_rows(text: str) -> tuple[list[Any], list[Any], list[str]]:
    lines = text.splitlines()
    header_line = next((i for i, line in enumerate(lines) if line.strip()), 0)
    delimiter = max((",", ";", "\t"), key=lines[header_line].count)
    rows = list(csv.reader(io.StringIO("\n".join(lines[header_line:])), delimiter=delimiter))
    keys = {_name(name): position for position, name in enumerate(rows[0])}
    time_at, rate_at = _pick(keys, TIME_NAMES, "time"), _pick(keys, RATE_NAMES, "rate")
    body = [(header_line + 2 + i, row) for i, row in enumerate(rows[1:]) if any(cell.strip() for cell in row)]
    return (
        [row[time_at] if len(row) > time_at else None for _, row in body],
        [row[rate_at] if len(row) > rate_at else None for _, row in body],
        [f"line {line}" for line, _ in body],
    )


def _pick(keys: dict[str, Any], names: tuple[str, ...], what: str) -> Any:
    found = next((keys[name] for name in names if name in keys), None)
    if found is None:
        message = f"no funding {what} column; accepted names: {', '.join(names)}"
        raise ValidationFailed(f"the file has no funding {what} column", [FieldError("file", message)])
    return found


def _from_rows(times: list[Any], rates: list[Any], places: list[str]) -> FundingRates:
    if not times:
        raise file_error("the file holds no funding rates")
    problems: list[tuple[int, str]] = []
    values = np.full(len(rates), np.nan)
    for i, rate in enumerate(rates):
        text = str(rate).strip() if rate is not None else ""
        try:
            values[i] = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            problems.append((i, f"funding rate {text!r} is not a number"))
    column = pa.array([None if t is None or str(t).strip() == "" else str(t) for t in times], pa.string())
    ms, unreadable = read_timestamps(column)
    problems += unreadable
    if problems:
        problems.sort(key=lambda problem: problem[0])
        errors = [FieldError(places[row], message) for row, message in problems[:MAX_REPORTED_PROBLEMS]]
        raise ValidationFailed(f"the file was rejected: {len(problems)} problems", errors)
    return funding_rates(ms, values)
