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
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from botocore.config import Config

from adapters.s3_objects import ObjectChanged, ObjectTooLarge, S3Objects
from adapters.s3_parquet import read_table
from adapters.settings import CandleImportSettings, ExchangeSettings
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


def series_prefix(symbol: str, timeframe: str) -> str:
    return f"candles/symbol={symbol}/timeframe={timeframe}/"


def manifest_key(symbol: str, timeframe: str) -> str:
    return f"{MANIFESTS_PREFIX}symbol={symbol}/timeframe={timeframe}.json"


def partition_key(symbol: str, timeframe: str, month: str, digest: str) -> str:
    year, month_number = month.split("-")
    return f"{series_prefix(symbol, timeframe)}year={year}/month={month_number}/{digest}.parquet"


class S3CandleStore:
    """The CandleStore port on S3, every request through the given boto3 client: manifests and
    writes as whole objects, candles as Parquet through `adapters.s3_parquet` (footer + the row
    groups whose `ts` statistics meet the range, as ranged GETs).

    `kept_reads` > 0 keeps that many of the latest reads for the life of the store (a warm Lambda
    environment's): month objects are named by their content hash and never rewritten, so the same
    objects and range always read the same candles, and an optimization's batches that land on one
    environment read their range from S3 once. Kept candles are read-only arrays, shared by every
    caller that asks for them again."""

    def __init__(
        self, s3_client: Any, bucket: str, clock: Callable[[], float] = time.time, kept_reads: int = 0
    ) -> None:
        self.objects = S3Objects(s3_client, bucket)
        self.bucket = bucket
        self.clock = clock
        self._kept_reads = kept_reads
        self._kept: OrderedDict[tuple[tuple[str, ...], int | None, int | None], Candles] = OrderedDict()
        self._kept_lock = threading.Lock()

    def list_series(self, symbol: str | None = None) -> list[tuple[str, str]]:
        prefix = MANIFESTS_PREFIX + (f"symbol={symbol}/" if symbol else "")
        matches = (_MANIFEST_KEY.search(key) for key in self.objects.keys(prefix))
        return sorted((match[1], match[2]) for match in matches if match)

    def manifest(self, symbol: str, timeframe: str) -> SeriesManifest | None:
        stored = self.objects.get(manifest_key(symbol, timeframe))
        return None if stored is None else SeriesManifest.from_json(stored.body, version=stored.etag)

    def read_partitions(self, partitions: Sequence[Partition], start_ms: int | None, end_ms: int | None) -> Candles:
        """Reads exactly the named objects (no listing; sizes come from the manifest, so no HEAD
        either); row groups outside [start_ms, end_ms) are skipped by their `ts` statistics."""
        if not self._kept_reads:
            return self._read_partitions(partitions, start_ms, end_ms)
        key = (tuple(sorted(p.key for p in partitions)), start_ms, end_ms)
        with self._kept_lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        candles = self._read_partitions(partitions, start_ms, end_ms)
        for name in ("ts", *PRICE_FIELDS):
            getattr(candles, name).flags.writeable = False
        with self._kept_lock:
            self._kept[key] = candles
            while len(self._kept) > self._kept_reads:
                self._kept.popitem(last=False)
        return candles

    def _read_partitions(self, partitions: Sequence[Partition], start_ms: int | None, end_ms: int | None) -> Candles:
        if not partitions:
            return Candles.from_arrays(*([[]] * 6))
        bound = pa.timestamp("ms", tz="UTC")
        condition = None
        if start_ms is not None:
            condition = ds.field("ts") >= pa.scalar(start_ms, type=bound)
        if end_ms is not None:
            upper = ds.field("ts") < pa.scalar(end_ms, type=bound)
            condition = upper if condition is None else condition & upper
        objects = [(p.key, p.size) for p in sorted(partitions, key=lambda p: p.month)]
        candles = Candles.from_arrow(read_table(self.objects, objects, CANDLE_SCHEMA, condition))
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
            self.objects.put_bytes(key, body, "application/vnd.apache.parquet")
            return Partition.of(month, key, candles, len(body)), candles

        # Months are independent objects: encode and upload them in parallel (both release the GIL).
        with ThreadPoolExecutor(max_workers=WRITE_WORKERS) as pool:
            written = list(pool.map(lambda item: write_month(*item), sorted(months.items())))
        current = base if base is not None else SeriesManifest(symbol, timeframe)
        now_ms = int(self.clock() * 1000)
        manifest, expired = current.with_partitions(written, now_ms, updated_at=iso_utc(now_ms))
        try:
            etag = self.objects.put_bytes(
                manifest_key(symbol, timeframe),
                manifest.to_json(),
                "application/json",
                if_match=base.version if base is not None else None,
                if_none_match=base is None,
            )
        except ObjectChanged as error:
            raise ConcurrentUpdate(f"{symbol} {timeframe} changed while importing") from error
        self.objects.delete_keys(expired)  # no longer in any manifest a reader could still hold
        return replace(manifest, version=etag)


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
        self.objects = S3Objects(s3_client, bucket)
        self.bucket = bucket

    def put(self, key: str, content: bytes) -> None:
        self.objects.put_bytes(key, content)

    def presign_put(self, key: str, expires_in: int) -> str:
        return self.objects.presign_put(key, expires_in)

    def read(self, key: str, max_bytes: int) -> bytes:
        try:
            content = self.objects.get_bytes(key, max_bytes)
        except ObjectTooLarge as error:
            message = f"the file has {error.size} bytes; at most {max_bytes} can be imported at once"
            raise ValidationFailed(message, [FieldError("file", message)]) from None
        if content is None:
            raise ValidationFailed("the file is gone", [FieldError("file", f"{self.objects.url(key)} does not exist")])
        return content


def exchange_clients(settings: ExchangeSettings) -> dict[str, Any]:
    """The market-data source of each exchange, at the hosts `settings` name."""
    from adapters.binance import BinanceClient
    from adapters.bybit import BybitClient

    return {
        "binance": BinanceClient(settings.binance_base_url, futures_base_url=settings.binance_futures_base_url),
        "bybit": BybitClient(settings.bybit_base_url),
    }


def market_data_service_from_env(publisher: EventPublisher, s3_client: Any = None) -> MarketDataService:
    """The market-data service of a deployed function (`CandleImportSettings`): buckets from
    CANDLES_BUCKET and IMPORTS_BUCKET, status records in IMPORTS_TABLE, the exchanges at
    `ExchangeSettings`' hosts, every client pointed at AWS_ENDPOINT_URL when it is set."""
    # Imported here: functions that only read candles (compute) need neither DynamoDB nor Binance.
    from adapters.funding_store import S3FundingStore
    from adapters.models.market_data import CandleImportItem, DynamoImportRecords
    from adapters.repositories.binding import bind
    from adapters.symbol_rules_store import S3SymbolRulesStore

    settings = CandleImportSettings.from_env()
    s3 = s3_client or boto3.client("s3", config=Config(signature_version="s3v4"))  # v4: presigned URLs
    return MarketDataService(
        store=S3CandleStore(s3, settings.candles_bucket),
        # Bound to the table and endpoint of the environment now: the model class keeps the first
        # connection it made, which may be to an earlier local stack in the same process.
        records=DynamoImportRecords(bind(CandleImportItem, settings.imports_table)),
        inbox=S3ImportInbox(s3, settings.imports_bucket),
        publisher=publisher,
        exchanges=exchange_clients(ExchangeSettings.from_env()),
        funding=S3FundingStore(s3, settings.candles_bucket),
        symbol_rules=S3SymbolRulesStore(s3, settings.candles_bucket),
    )
