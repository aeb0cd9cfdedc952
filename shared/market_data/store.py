"""The candle store's port and its manifest: what is stored for a series, one month at a time.

A series (symbol, timeframe) is a set of month partitions, each one immutable object holding that
month's candles. The manifest names the current object of every month and is the only thing an
import replaces: new objects are written first, then the manifest is swapped in one conditional
write. Readers follow the manifest, so they see either the old series or the new one, never half
an import.

An object a swap replaces is listed as retired in the new manifest and deleted by the first
commit after RETIRED_GRACE_MS, so a reader still holding the older manifest can finish its read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.candles import PRICE_FIELDS, Candles

MANIFEST_FORMAT = 1
RETIRED_GRACE_MS = 3_600_000


class ConcurrentUpdate(Exception):
    """The manifest changed since it was read (another import committed first); retry from a fresh read."""


def month_index(ts_ms: NDArray[Any]) -> NDArray[Any]:
    """Months since 1970-01 of each epoch-ms time (UTC)."""
    return np.asarray(ts_ms).astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)


def month_spans(ts_ms: NDArray[Any]) -> list[tuple[int, int, int]]:
    """(month index, first row, end row) of each month holding times of SORTED epoch-ms `ts_ms`:
    found by searching the month boundaries, not by converting every time to its month."""
    if len(ts_ms) == 0:
        return []
    first, last = month_index(np.asarray(ts_ms)[[0, -1]])
    months = np.arange(first, last + 2)
    edges = np.searchsorted(ts_ms, months.astype("datetime64[M]").astype("datetime64[ms]").astype(np.int64))
    return [(int(m), int(lo), int(hi)) for m, lo, hi in zip(months[:-1], edges[:-1], edges[1:], strict=True) if hi > lo]


def month_name(index: int) -> str:
    """`2024-03` for a months-since-1970 index."""
    year, month = divmod(int(index), 12)
    return f"{1970 + year:04d}-{month + 1:02d}"


@dataclass(frozen=True)
class Partition:
    """One month of a series: the object holding it and what it holds."""

    month: str  # YYYY-MM
    key: str
    rows: int
    first_ts: int
    last_ts: int
    size: int  # bytes

    @classmethod
    def of(cls, month: str, key: str, candles: Candles, size: int) -> Partition:
        return cls(month, key, len(candles), int(candles.ts[0]), int(candles.ts[-1]), size)


@dataclass(frozen=True)
class RetiredObject:
    """A month object a newer one replaced, and when (epoch ms)."""

    key: str
    retired_at: int


@dataclass(frozen=True)
class SeriesManifest:
    """The current content of one series. `version` is the store's token for the manifest read
    (an S3 ETag), used to swap it conditionally; it is not part of the manifest itself."""

    symbol: str
    timeframe: str
    partitions: tuple[Partition, ...] = ()  # by month
    latest: dict[str, Any] | None = None  # the newest candle: ts + OHLCV
    updated_at: str = ""
    retired: tuple[RetiredObject, ...] = ()
    version: str | None = field(default=None, compare=False)

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions)

    @property
    def first_ts(self) -> int | None:
        return self.partitions[0].first_ts if self.partitions else None

    @property
    def last_ts(self) -> int | None:
        return self.partitions[-1].last_ts if self.partitions else None

    def partition(self, month: str) -> Partition | None:
        return next((p for p in self.partitions if p.month == month), None)

    def overlapping(self, start_ms: int | None, end_ms: int | None) -> list[Partition]:
        """Partitions holding candles with start_ms <= ts < end_ms (bounds optional)."""
        return [
            p
            for p in self.partitions
            if (end_ms is None or p.first_ts < end_ms) and (start_ms is None or p.last_ts >= start_ms)
        ]

    def with_partitions(
        self, written: Sequence[tuple[Partition, Candles]], now_ms: int, updated_at: str
    ) -> tuple[SeriesManifest, list[str]]:
        """This manifest with the given months replaced (or added), and the retired keys whose
        grace period is over: they leave the manifest and are to be deleted once it is in place.
        The latest candle follows the newest month."""
        replaced = [
            RetiredObject(old.key, now_ms)
            for new, _ in written
            if (old := self.partition(new.month)) is not None and old.key != new.key
        ]
        expired = [r for r in self.retired if now_ms - r.retired_at >= RETIRED_GRACE_MS]
        months = {p.month: p for p in self.partitions} | {p.month: p for p, _ in written}
        newest_partition, newest_candles = max(written, key=lambda item: item[0].month)
        latest = self.latest
        if latest is None or newest_partition.last_ts >= latest["ts"]:
            latest = {"ts": int(newest_candles.ts[-1])} | {
                name: float(getattr(newest_candles, name)[-1]) for name in PRICE_FIELDS
            }
        manifest = replace(
            self,
            partitions=tuple(months[m] for m in sorted(months)),
            latest=latest,
            updated_at=updated_at,
            retired=tuple(r for r in self.retired if r not in expired) + tuple(replaced),
            version=None,
        )
        return manifest, [r.key for r in expired]

    def to_json(self) -> bytes:
        document = {
            "format": MANIFEST_FORMAT,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "rows": self.rows,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "latest": self.latest,
            "updated_at": self.updated_at,
            "partitions": [vars(p) for p in self.partitions],
            "retired": [vars(r) for r in self.retired],
        }
        return json.dumps(document, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, version: str | None) -> SeriesManifest:
        document = json.loads(data)
        if document.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"unsupported manifest format {document.get('format')!r}")
        return cls(
            symbol=document["symbol"],
            timeframe=document["timeframe"],
            partitions=tuple(Partition(**p) for p in document["partitions"]),
            latest=document["latest"],
            updated_at=document["updated_at"],
            retired=tuple(RetiredObject(**r) for r in document["retired"]),
            version=version,
        )
