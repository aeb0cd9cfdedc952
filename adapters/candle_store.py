"""S3 side of market data: the Parquet candle store (candles bucket) and the imports inbox (imports bucket).

Candles bucket layout (one series = one symbol at one timeframe):

    candles/symbol=BTCUSDT/timeframe=1m/year=2024/month=03/<content-hash>.parquet
    candles/_manifests/symbol=BTCUSDT/timeframe=1m.json

Each Parquet object holds one month of one series (CANDLE_SCHEMA: `ts` UTC ms timestamp + float64
OHLCV, sorted, unique) and is never modified: its name is a hash of its candles. The manifest lists
the current object of every month with its row count and time range. An import writes its new month
objects first and then replaces the manifest with a conditional PUT (`If-Match` on the ETag it read,
`If-None-Match: *` for a new series); when another import got there first S3 answers 412 and the
importer re-reads the manifest, re-merges and tries again, so concurrent imports of one series never
lose each other's work. A crash before the swap leaves only unreferenced objects: readers follow the
manifest and never list the prefix. (`_manifests` starts with `_`, which Hive-style readers skip.)
A month object a swap replaces stays listed under `retired` in the manifest for an hour (readers
holding the previous manifest may still be reading it); the next commit after that deletes it.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.candles import CANDLE_SCHEMA, PRICE_FIELDS, Candles
from shared.errors import FieldError, ValidationFailed
from shared.events import EventPublisher
from shared.market_data.service import MarketDataService
from shared.market_data.store import ConcurrentUpdate, Partition, SeriesManifest
from shared.times import iso_utc

MANIFESTS_PREFIX = "candles/_manifests/"
# Row groups of 4096 candles: a month of 1m candles is 11 groups, so a one-day read inside a month
# fetches a fraction of its object; coarser timeframes have one group per month.
ROW_GROUP_ROWS = 4096
WRITE_WORKERS = 8
_MANIFEST_KEY = re.compile(r"symbol=([^/]+)/timeframe=([^/]+)\.json$")
_PRECONDITION_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


def series_prefix(symbol: str, timeframe: str) -> str:
    return f"candles/symbol={symbol}/timeframe={timeframe}/"


def manifest_key(symbol: str, timeframe: str) -> str:
    return f"{MANIFESTS_PREFIX}symbol={symbol}/timeframe={timeframe}.json"


def partition_key(symbol: str, timeframe: str, month: str, digest: str) -> str:
    year, month_number = month.split("-")
    return f"{series_prefix(symbol, timeframe)}year={year}/month={month_number}/{digest}.parquet"


def s3_filesystem(endpoint_url: str | None = None) -> pafs.S3FileSystem:
    """pyarrow's S3 client, pointed at AWS_ENDPOINT_URL when set (moto locally), else real S3."""
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not endpoint:
        return pafs.S3FileSystem(region=region)
    url = urlsplit(endpoint)
    return pafs.S3FileSystem(region=region, endpoint_override=url.netloc, scheme=url.scheme or "https")


def _is_missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


class S3CandleStore:
    """The CandleStore port on S3: boto3 for manifests and writes, pyarrow for reading candles.

    `filesystem` is the pyarrow filesystem candles are read through (default: s3_filesystem());
    tests pass a wrapper that counts what is read.
    """

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        filesystem: pafs.FileSystem | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.filesystem = filesystem if filesystem is not None else s3_filesystem()
        self.clock = clock

    def list_series(self, symbol: str | None = None) -> list[tuple[str, str]]:
        prefix = MANIFESTS_PREFIX + (f"symbol={symbol}/" if symbol else "")
        series = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if match := _MANIFEST_KEY.search(item["Key"]):
                    series.append((match[1], match[2]))
        return sorted(series)

    def manifest(self, symbol: str, timeframe: str) -> SeriesManifest | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=manifest_key(symbol, timeframe))
        except ClientError as error:
            if _is_missing(error):
                return None
            raise
        return SeriesManifest.from_json(response["Body"].read(), version=response["ETag"])

    def read_partitions(self, partitions: Sequence[Partition], start_ms: int | None, end_ms: int | None) -> Candles:
        """Reads exactly the named objects (no listing; sizes come from the manifest, so no HEAD
        either); row groups outside [start_ms, end_ms) are skipped by their `ts` statistics."""
        if not partitions:
            return Candles.from_arrays(*([[]] * 6))
        parquet = ds.ParquetFileFormat()
        fragments = [
            parquet.make_fragment(f"{self.bucket}/{p.key}", filesystem=self.filesystem, file_size=p.size)
            for p in sorted(partitions, key=lambda p: p.month)
        ]
        dataset = ds.FileSystemDataset(fragments, schema=CANDLE_SCHEMA, format=parquet, filesystem=self.filesystem)
        bound = pa.timestamp("ms", tz="UTC")
        condition = None
        if start_ms is not None:
            condition = ds.field("ts") >= pa.scalar(start_ms, type=bound)
        if end_ms is not None:
            upper = ds.field("ts") < pa.scalar(end_ms, type=bound)
            condition = upper if condition is None else condition & upper
        candles = Candles.from_arrow(dataset.to_table(filter=condition))
        if len(candles) > 1 and not np.all(np.diff(candles.ts) > 0):
            order = np.argsort(candles.ts, kind="stable")
            candles = Candles(*(getattr(candles, name)[order] for name in ("ts", *PRICE_FIELDS)))
        return candles

    def commit(
        self, symbol: str, timeframe: str, base: SeriesManifest | None, months: Mapping[str, Candles]
    ) -> SeriesManifest:
        def write_month(month: str, candles: Candles) -> tuple[Partition, Candles]:
            body = parquet_bytes(candles)
            key = partition_key(symbol, timeframe, month, content_digest(candles))
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet")
            return Partition.of(month, key, candles, len(body)), candles

        # Months are independent objects: encode and upload them in parallel (both release the GIL).
        with ThreadPoolExecutor(max_workers=WRITE_WORKERS) as pool:
            written = list(pool.map(lambda item: write_month(*item), sorted(months.items())))
        current = base if base is not None else SeriesManifest(symbol, timeframe)
        now_ms = int(self.clock() * 1000)
        manifest, expired = current.with_partitions(written, now_ms, updated_at=iso_utc(now_ms))
        condition = {"IfMatch": base.version} if base is not None else {"IfNoneMatch": "*"}
        try:
            response = self.s3.put_object(
                Bucket=self.bucket,
                Key=manifest_key(symbol, timeframe),
                Body=manifest.to_json(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _PRECONDITION_CODES:
                raise ConcurrentUpdate(f"{symbol} {timeframe} changed while importing") from error
            raise
        for start in range(0, len(expired), 1000):  # no longer in any manifest a reader could still hold
            batch = expired[start : start + 1000]
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch]})
        return replace(manifest, version=response["ETag"])


def content_digest(candles: Candles) -> str:
    """Names a month object after its candles, so the same candles always get the same name."""
    digest = hashlib.sha256()
    for name in ("ts", *PRICE_FIELDS):
        digest.update(np.ascontiguousarray(getattr(candles, name)).tobytes())
    return digest.hexdigest()[:32]


def parquet_bytes(candles: Candles) -> bytes:
    """Compact Parquet for candles: delta-encoded times, byte-stream-split floats, zstd, `ts` statistics."""
    sink = io.BytesIO()
    pq.write_table(
        candles.to_arrow(),
        sink,
        compression="zstd",
        row_group_size=ROW_GROUP_ROWS,
        use_dictionary=False,
        column_encoding={"ts": "DELTA_BINARY_PACKED"} | dict.fromkeys(PRICE_FIELDS, "BYTE_STREAM_SPLIT"),
        write_statistics=True,
    )
    return sink.getvalue()


class S3ImportInbox:
    """The imports bucket: files waiting to be imported, and presigned uploads into it."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket

    def put(self, key: str, content: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=content)

    def presign_put(self, key: str, expires_in: int) -> str:
        return self.s3.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )

    def read(self, key: str, max_bytes: int) -> bytes:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _is_missing(error):
                raise ValidationFailed(
                    "the file is gone", [FieldError("file", f"s3://{self.bucket}/{key} does not exist")]
                ) from error
            raise
        if response["ContentLength"] > max_bytes:
            response["Body"].close()
            message = f"the file has {response['ContentLength']} bytes; at most {max_bytes} can be imported at once"
            raise ValidationFailed(message, [FieldError("file", message)])
        return response["Body"].read()


def market_data_service_from_env(publisher: EventPublisher, s3_client: Any = None) -> MarketDataService:
    """The market-data service of a deployed function: buckets from CANDLES_BUCKET and
    IMPORTS_BUCKET, status records in IMPORTS_TABLE, Binance at BINANCE_BASE_URL (or the default),
    every client pointed at AWS_ENDPOINT_URL when it is set."""
    # Imported here: functions that only read candles (compute) need neither DynamoDB nor Binance.
    from adapters.binance import BinanceClient
    from adapters.bybit import BybitClient
    from adapters.funding_store import S3FundingStore
    from adapters.models.market_data import CandleImportItem, DynamoImportRecords
    from adapters.repositories.binding import bind
    from adapters.symbol_rules_store import S3SymbolRulesStore

    s3 = s3_client or boto3.client("s3", config=Config(signature_version="s3v4"))  # v4: presigned URLs
    return MarketDataService(
        store=S3CandleStore(s3, os.environ["CANDLES_BUCKET"]),
        # Bound to the table and endpoint of the environment now: the model class keeps the first
        # connection it made, which may be to an earlier local stack in the same process.
        records=DynamoImportRecords(
            bind(CandleImportItem, os.environ.get("IMPORTS_TABLE", CandleImportItem.Meta.table_name))
        ),
        inbox=S3ImportInbox(s3, os.environ["IMPORTS_BUCKET"]),
        publisher=publisher,
        exchanges={"binance": BinanceClient(), "bybit": BybitClient()},
        funding=S3FundingStore(s3, os.environ["CANDLES_BUCKET"]),
        symbol_rules=S3SymbolRulesStore(s3, os.environ["CANDLES_BUCKET"]),
    )
