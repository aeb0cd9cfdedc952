"""Date-times in the layouts exporters write, read a whole column at a time with python-dateutil.

Epoch numbers and ISO-8601 (with `T` or a space, `Z` or an offset, fractional seconds) are cast by
pyarrow in C before anything here runs (see parsing). Every other layout comes here:

- `2019-10-17 09-AM` (CryptoDataDownload), `10/17/2019 9:00 PM`, `17.10.2019 09:00:00.000`
  (Dukascopy's `Gmt time`), `2019.10.17 09:00` (MetaTrader's `<DATE>` joined with its `<TIME>`)...
- Each value is split into its date and its time of day, and dateutil parses each DISTINCT date and
  each distinct time once (a million 1-minute candles hold ~700 dates and 1440 times), so the column
  costs a dictionary encoding, not a million parses.
- Day-first or month-first is decided from the whole column: a first number above 12 (17.10.2019)
  means day-first, a second above 12 (10/17/2019) month-first. A column where neither ever
  happens, but the two readings differ, is refused: guessing would shift candles by months.
- A time without an offset is UTC; an offset (`+02:00`, `Z`) is applied.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from dateutil import parser as dateutil_parser
from numpy.typing import NDArray

from shared.errors import FieldError, ValidationFailed
from shared.times import EPOCH

# `09-AM` -> `09 AM`: dateutil reads the second, not the first.
_HOUR_DASH_MERIDIEM = r"(?i)(\d)\s*-\s*([ap]m)\b"
# The date is everything before the first space or `T`; the time of day (maybe empty) the rest.
_DATE_AND_TIME = r"^(?P<date>[^\sT]+)(?:(?:T|\s+)(?P<time>.*))?$"
_NUMERIC_DATE = re.compile(r"^(\d{1,4})([./-])(\d{1,2})\2(\d{1,4})$")
_DAY = timedelta(days=1)
_MS = timedelta(milliseconds=1)

Problems = list[tuple[int, str]]  # (row, message)


def parse_text_timestamps(text: pa.Array) -> tuple[NDArray[Any], Problems]:
    """Epoch ms of each value of a non-null text column, and a problem for each value that is not
    a date-time. ValidationFailed when the column's dates are ambiguous (day-first or month-first)."""
    date_part, time_part = _split_date_and_time(text)
    dates = pc.dictionary_encode(date_part)
    times = pc.dictionary_encode(pc.fill_null(time_part, ""))
    date_values = dates.dictionary.to_pylist()
    dayfirst = _day_first(date_values)
    date_ms = [_date_ms(value, dayfirst) for value in date_values]
    time_ms = [_time_of_day_ms(re.sub(_HOUR_DASH_MERIDIEM, r"\1 \2", value)) for value in times.dictionary.to_pylist()]
    date_index = dates.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    time_index = times.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    day = np.array([np.nan if v is None else v for v in date_ms] + [np.nan])[date_index]
    clock = np.array([np.nan if v is None else v for v in time_ms] + [np.nan])[time_index]
    total = day + clock
    problems: Problems = []
    for row in np.flatnonzero(~np.isfinite(total)):
        problems.append((int(row), f"timestamp {text[int(row)].as_py()!r} is not a date-time"))
    return np.where(np.isfinite(total), total, 0).astype(np.int64), problems


def _split_date_and_time(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Each value's date (before the first space or `T`) and time of day (the rest, maybe empty).
    Splitting at a plain space is ~40x faster than the regular expression, which is kept for
    columns with a `T` or a tab."""
    if pc.any(pc.match_substring(text, "T")).as_py() or pc.any(pc.match_substring(text, "\t")).as_py():
        parts = pc.extract_regex(text, _DATE_AND_TIME)
        return parts.field("date"), parts.field("time")
    pieces = pc.split_pattern(pc.binary_join_element_wise(text, "", " "), " ", max_splits=1)  # always two
    return pc.list_element(pieces, 0), pc.utf8_trim_whitespace(pc.list_element(pieces, 1))


def _day_first(dates: list[str | None]) -> bool:
    """Whether numeric dates like 17.10.2019 put the day first, judged on every distinct date."""
    firsts, seconds = [], []
    for value in dates:
        match = _NUMERIC_DATE.match(value or "")
        if match and len(match[1]) < 3:  # year-first dates (2019.10.17) are never ambiguous
            firsts.append(int(match[1]))
            seconds.append(int(match[3]))
    if not firsts:
        return False
    first_is_day = max(firsts) > 12
    second_is_day = max(seconds) > 12
    if first_is_day and second_is_day:
        message = (
            f"the dates mix day-first and month-first layouts ({_example(dates, firsts, seconds, True)} and "
            f"{_example(dates, firsts, seconds, False)}); re-export them in one layout, ideally YYYY-MM-DD"
        )
        raise ValidationFailed(message, [FieldError("timestamp", message)])
    if not first_is_day and not second_is_day and any(a != b for a, b in zip(firsts, seconds, strict=True)):
        sample = next(value for value, a, b in zip(_numeric(dates), firsts, seconds, strict=True) if a != b)
        message = (
            f"dates such as {sample} can be read day-first or month-first and no date in the file is past the "
            "12th to tell which; re-export them as YYYY-MM-DD"
        )
        raise ValidationFailed(message, [FieldError("timestamp", message)])
    return first_is_day


def _numeric(dates: list[str | None]) -> list[str]:
    return [v for v in dates if v is not None and (m := _NUMERIC_DATE.match(v)) and len(m[1]) < 3]


def _example(dates: list[str | None], firsts: list[int], seconds: list[int], day_first: bool) -> str:
    values = _numeric(dates)
    return next(v for v, a, b in zip(values, firsts, seconds, strict=True) if (a > 12 if day_first else b > 12))


def _date_ms(value: str | None, dayfirst: bool) -> int | None:
    """Epoch ms of a date's midnight (UTC), or None when dateutil cannot read it as a date alone."""
    if not value or not any(ch.isdigit() for ch in value):
        return None
    try:
        moment = dateutil_parser.parse(value, dayfirst=dayfirst, default=datetime(1970, 1, 1))
    except (ValueError, OverflowError):
        return None
    if moment.time() != datetime.min.time() or moment.tzinfo is not None:
        return None
    return (moment.replace(tzinfo=UTC) - EPOCH) // _MS


def _time_of_day_ms(value: str) -> int | None:
    """Milliseconds after midnight UTC of a time of day (`09 AM`, `21:00:00.000`, `09:00+02:00`),
    0 for none; None when it is not a whole-millisecond time of day."""
    if not value:
        return 0
    try:
        moment = dateutil_parser.parse(value, default=datetime(1970, 1, 1))
    except (ValueError, OverflowError):
        return None
    if moment.date() != datetime(1970, 1, 1).date():
        return None  # more than a time of day (a date, or a word dateutil read as one)
    offset = moment.utcoffset() or timedelta(0)
    elapsed = moment.replace(tzinfo=None) - datetime(1970, 1, 1) - offset
    milliseconds, remainder = divmod(elapsed, _MS)
    return None if remainder else milliseconds
