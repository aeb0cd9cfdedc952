"""Time, one way through the service: epoch milliseconds, UTC datetimes and ISO-8601 text.

Instants are int epoch milliseconds in the domain's arrays and stores (candles, trades, funding)
and timezone-aware UTC datetimes truncated to the millisecond in records. Text is ISO-8601 in UTC
with a `Z`: the API and the events print every instant to the millisecond
(`2024-03-01T00:00:00.000Z`); market data prints milliseconds only when there are any
(`2024-03-01T00:00:00Z`), as exchanges do. A naive datetime, or text without an offset, is UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def utc_now() -> datetime:
    """Now, in UTC, to the millisecond."""
    return to_millisecond(datetime.now(UTC))


def to_millisecond(moment: datetime) -> datetime:
    """The same instant in UTC, truncated to the millisecond (the precision records keep)."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def epoch_ms(moment: datetime | int) -> int:
    """Epoch milliseconds of a datetime (naive ones are UTC) or of an epoch-ms integer."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - EPOCH) // _MS
    return int(moment)


def datetime_of_ms(ms: int) -> datetime:
    """The UTC datetime of an epoch-millisecond value."""
    return EPOCH + timedelta(milliseconds=int(ms))


def iso_utc(ms: int) -> str:
    """`2024-03-01T00:00:00Z`, milliseconds shown only when not zero (market data's form)."""
    moment = datetime_of_ms(ms)
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"  # %Y prints year 172 as "172", not RFC 3339
    return f"{text}.{moment.microsecond // 1000:03d}Z" if moment.microsecond else f"{text}Z"


def iso_utc_ms(moment: datetime | int) -> str:
    """`2024-03-01T00:00:00.000Z`, always to the millisecond (the API's and the events' form)."""
    moment = datetime_of_ms(moment) if isinstance(moment, int) else moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def iso_utc_array(epoch_ms_values: Iterable[int], always_ms: bool = False) -> list[str]:
    """`iso_utc` of many values at once; milliseconds shown for all when any has them (or always)."""
    import numpy as np  # only here: the API imports this module at cold start

    values = np.asarray(epoch_ms_values, dtype=np.int64)
    unit: Literal["ms", "s"] = "ms" if always_ms or (values % 1000).any() else "s"
    return [text + "Z" for text in np.datetime_as_string(values.astype("datetime64[ms]"), unit=unit).tolist()]


def parse_iso_utc(text: str) -> datetime:
    """An ISO-8601 date-time as an aware datetime (UTC when it names no offset); ValueError if it is not one."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
