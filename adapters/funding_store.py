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
from botocore.exceptions import ClientError

from adapters.candle_store import _PRECONDITION_CODES, _is_missing
from shared.market_data.funding import FundingRates
from shared.market_data.funding_history import FundingMerge, empty_funding, merge_funding

FUNDING_SCHEMA = pa.schema([("ts", pa.timestamp("ms", tz="UTC")), ("rate", pa.float64())])
MAX_PUT_ATTEMPTS = 5


def funding_key(symbol: str) -> str:
    return f"funding/symbol={symbol}/rates.parquet"


class S3FundingStore:
    """The FundingStore port on S3 (boto3 client given)."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket

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
            condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
            try:
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=funding_key(symbol),
                    Body=_parquet(merge.rates),
                    ContentType="application/vnd.apache.parquet",
                    **condition,
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _PRECONDITION_CODES:
                    continue
                raise
            return merge
        raise RuntimeError(f"{symbol} funding rates kept changing during {MAX_PUT_ATTEMPTS} attempts to store them")

    def _read(self, symbol: str) -> tuple[FundingRates, str | None]:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=funding_key(symbol))
        except ClientError as error:
            if _is_missing(error):
                return empty_funding(), None
            raise
        table = pq.read_table(pa.BufferReader(response["Body"].read()))
        times = table.column("ts").cast(pa.int64()).to_numpy()
        return FundingRates(times, table.column("rate").to_numpy()), response["ETag"]


def _parquet(rates: FundingRates) -> bytes:
    table = pa.table({"ts": pa.array(rates.times, pa.timestamp("ms", tz="UTC")), "rate": rates.rates},
                     schema=FUNDING_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()
