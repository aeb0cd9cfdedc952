"""Funding-rate history in the candles bucket: one Parquet object per symbol.

    funding/symbol=BTCUSDT/rates.parquet    ts (timestamp[ms, UTC]), rate (float64), sorted, unique

A few thousand rates a year per symbol fit one small object, read whole. A put re-reads, merges
(`shared.market_data.funding_history.merge_funding`) and replaces it conditionally (`If-Match` on
the ETag read, `If-None-Match: *` for a new symbol); when another put got there first S3 answers
412 and the merge is retried from a fresh read, so concurrent imports never lose rates.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from adapters.s3_objects import ObjectChanged, S3Objects
from shared.market_data.funding import FundingRates
from shared.market_data.funding_history import FundingMerge, empty_funding, merge_funding

FUNDING_SCHEMA = pa.schema([("ts", pa.timestamp("ms", tz="UTC")), ("rate", pa.float64())])
MAX_PUT_ATTEMPTS = 5


def funding_key(symbol: str) -> str:
    return f"funding/symbol={symbol}/rates.parquet"


class S3FundingStore:
    """The FundingStore port on S3 (boto3 client given)."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._objects = S3Objects(s3_client, bucket)

    def has_funding(self, symbol: str) -> bool:
        return self._read(symbol)[1] is not None

    def get_funding(self, symbol: str, start_ms: int | None = None, end_ms: int | None = None) -> FundingRates:
        rates, _ = self._read(symbol)
        lower = np.iinfo(np.int64).min if start_ms is None else start_ms
        upper = np.iinfo(np.int64).max if end_ms is None else end_ms
        return rates.between(lower, upper)

    def put_funding(self, symbol: str, rates: FundingRates) -> FundingMerge:
        for _ in range(MAX_PUT_ATTEMPTS):
            stored, etag = self._read(symbol)
            merge = merge_funding(stored, rates)
            if merge.added == 0:
                return merge
            try:
                self._objects.put_bytes(
                    funding_key(symbol),
                    _parquet(merge.rates),
                    "application/vnd.apache.parquet",
                    if_match=etag,
                    if_none_match=etag is None,
                )
            except ObjectChanged:
                continue
            return merge
        raise RuntimeError(f"{symbol} funding rates kept changing during {MAX_PUT_ATTEMPTS} attempts to store them")

    def _read(self, symbol: str) -> tuple[FundingRates, str | None]:
        stored = self._objects.get(funding_key(symbol))
        if stored is None:
            return empty_funding(), None
        table = pq.read_table(pa.BufferReader(stored.body))
        times = table.column("ts").cast(pa.int64()).to_numpy()
        return FundingRates(times, table.column("rate").to_numpy()), stored.etag


def _parquet(rates: FundingRates) -> bytes:
    table = pa.table(
        {"ts": pa.array(rates.times, pa.timestamp("ms", tz="UTC")), "rate": rates.rates}, schema=FUNDING_SCHEMA
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()
