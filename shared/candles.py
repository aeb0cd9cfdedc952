"""The one in-memory shape of OHLCV candles that every part of the service exchanges.

Timestamps are the candle's open time as int64 milliseconds since the Unix epoch (UTC):
exact, cheap to compare and the unit Binance uses. Prices and volume are float64.
The Arrow schema below is the on-disk shape of the candle store (`ts` is an Arrow UTC
timestamp in milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike, NDArray

PRICE_FIELDS = ("open", "high", "low", "close", "volume")

CANDLE_SCHEMA = pa.schema(
    [pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False)]
    + [pa.field(name, pa.float64(), nullable=False) for name in PRICE_FIELDS]
)


@dataclass(frozen=True, eq=False)
class Candles:
    """Column arrays of equal length, sorted by `ts`, unique timestamps."""

    ts: NDArray[Any]  # int64 epoch milliseconds (candle open time, UTC)
    open: NDArray[Any]
    high: NDArray[Any]
    low: NDArray[Any]
    close: NDArray[Any]
    volume: NDArray[Any]

    def __post_init__(self) -> None:
        n = len(self.ts)
        for name in PRICE_FIELDS:
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name!r} has {len(getattr(self, name))} rows, ts has {n}")

    def __len__(self) -> int:
        return len(self.ts)

    def rows(self) -> list[tuple[int, float, float, float, float, float]]:
        """(ts, open, high, low, close, volume) of each candle, in Python numbers."""
        return list(
            zip(
                self.ts.tolist(),
                self.open.tolist(),
                self.high.tolist(),
                self.low.tolist(),
                self.close.tolist(),
                self.volume.tolist(),
                strict=True,
            )
        )

    @classmethod
    def from_arrays(
        cls, ts: ArrayLike, open: ArrayLike, high: ArrayLike, low: ArrayLike, close: ArrayLike, volume: ArrayLike
    ) -> Candles:
        """Build from any array-likes, coercing to the canonical dtypes."""
        return cls(
            ts=np.ascontiguousarray(ts, dtype=np.int64),
            open=np.ascontiguousarray(open, dtype=np.float64),
            high=np.ascontiguousarray(high, dtype=np.float64),
            low=np.ascontiguousarray(low, dtype=np.float64),
            close=np.ascontiguousarray(close, dtype=np.float64),
            volume=np.ascontiguousarray(volume, dtype=np.float64),
        )

    @classmethod
    def from_arrow(cls, table: pa.Table) -> Candles:
        """Read a table in CANDLE_SCHEMA (or any timestamp unit / int64 ms `ts`)."""
        ts = table.column("ts")
        if pa.types.is_timestamp(ts.type):
            ts = ts.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
        columns = {name: table.column(name).to_numpy() for name in PRICE_FIELDS}
        return cls.from_arrays(ts=ts.to_numpy(), **columns)

    def to_arrow(self) -> pa.Table:
        arrays = [pa.array(self.ts, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))]
        arrays += [pa.array(getattr(self, name), type=pa.float64()) for name in PRICE_FIELDS]
        return pa.Table.from_arrays(arrays, schema=CANDLE_SCHEMA)

    def slice(self, start: int, stop: int) -> Candles:
        """Rows [start, stop) by position (views, no copy)."""
        return Candles(*(getattr(self, name)[start:stop] for name in ("ts", *PRICE_FIELDS)))

    def between(self, start_ms: int | None, end_ms: int | None) -> Candles:
        """Rows with start_ms <= ts < end_ms (either bound optional)."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.ts, start_ms, side="left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.ts, end_ms, side="left"))
        return self.slice(lo, hi)
