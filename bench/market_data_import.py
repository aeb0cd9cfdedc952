"""Candle import throughput and partition pruning, against moto's S3 server.

1. Imports ROWS 1-minute candles (default 1,000,000: 23 months) from a Binance kline CSV through the
   one pipeline (parse -> validate -> merge -> write the month objects -> swap the manifest), RUNS
   times into fresh series, and reports rows/s (median), with the parse and validate phases timed
   alone; the same for an OHLCV CSV with ISO timestamps and a header (the exporters' usual layout).
2. Re-imports the same file (the idempotent path: every month is read back and compared).
3. Reads one month with get_candles, then the whole year, counting the bytes pyarrow reads.
Also prints the process's peak RSS, which sizes the import function's memory.

    .venv/bin/python bench/market_data_import.py [RUNS] [ROWS]
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fanout.fake_aws import use_fake_aws  # noqa: E402

use_fake_aws()

import boto3  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from adapters.candle_store import S3CandleStore, s3_filesystem  # noqa: E402
from shared.market_data.parsing import parse_candle_file  # noqa: E402
from shared.market_data.pipeline import CandleImporter  # noqa: E402
from shared.market_data.query import get_candles  # noqa: E402
from shared.market_data.sample import SAMPLE_MARKETS, synthetic_candles  # noqa: E402
from shared.market_data.validation import validate_candles  # noqa: E402
from tests.fakes.counting_fs import counting_filesystem  # noqa: E402
from tests.fakes.market_data import binance_csv  # noqa: E402

BUCKET = "bench-candles"
YEAR_START = 1_704_067_200_000  # 2024-01-01T00:00:00Z
DEFAULT_ROWS = 1_000_000
JUNE = (1_717_200_000_000, 1_719_792_000_000)  # [2024-06-01, 2024-07-01)


def timed(action):
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def iso_csv(candles) -> bytes:
    """The candles as `timestamp,open,high,low,close,volume` with ISO-8601 UTC times."""
    stamps = np.datetime_as_string(candles.ts.astype("datetime64[ms]"), unit="s")
    rows = zip(stamps.tolist(), candles.open.tolist(), candles.high.tolist(), candles.low.tolist(),
               candles.close.tolist(), candles.volume.tolist(), strict=True)
    return ("timestamp,open,high,low,close,volume\n" + "".join(
        f"{t}Z,{o!r},{h!r},{lo!r},{c!r},{v!r}\n" for t, o, h, lo, c, v in rows)).encode()


def main(runs: int, rows: int) -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    try:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        filesystem, counter = counting_filesystem(s3_filesystem())
        store = S3CandleStore(s3, BUCKET)
        candles = synthetic_candles(SAMPLE_MARKETS[0], "1m", YEAR_START, rows, 42_000.0, np.random.default_rng(7))
        content = binance_csv(candles, "1m")
        print(f"input: {rows:,} 1m candles, Binance kline CSV, {len(content) / 2**20:.1f} MiB")

        # The floor for reading the file: pyarrow's CSV reader alone, every column, types inferred.
        pyarrow_s, _ = timed(lambda: pacsv.read_csv(pa.BufferReader(content),
                                                    read_options=pacsv.ReadOptions(autogenerate_column_names=True)))
        parse_s, raw = timed(lambda: parse_candle_file(content, "BTCUSDT"))
        validate_s, _ = timed(lambda: validate_candles(raw, "1m"))
        def imports_of(prefix: str, body: bytes) -> list[float]:
            """Seconds of each of RUNS imports of `body` into fresh series."""
            seconds = []
            for run in range(runs):
                elapsed, report = timed(lambda run=run: CandleImporter(store).import_file(f"{prefix}{run}", "1m", body))
                assert report.rows_imported == rows
                seconds.append(elapsed)
            return seconds

        imports = imports_of("BENCH", content)
        import_s = statistics.median(imports)
        iso_content = iso_csv(candles)
        iso_s = statistics.median(imports_of("ISO", iso_content))
        reimport_s, report = timed(lambda: CandleImporter(store).import_file("BENCH0", "1m", content))
        assert (report.rows_imported, report.rows_unchanged) == (0, rows)

        manifest = store.manifest("BENCH0", "1m")
        stored_bytes = sum(p.size for p in manifest.partitions)
        # Times through pyarrow's own S3 client; bytes through a counting wrapper in a second read.
        month_s, month = timed(lambda: get_candles(store, "BENCH0", "1m", *JUNE))
        year_s, year = timed(lambda: get_candles(store, "BENCH0", "1m"))
        assert len(month) == 30 * 24 * 60 and len(year) == rows  # "year": the whole series
        counted = S3CandleStore(s3, BUCKET, filesystem=filesystem)
        get_candles(counted, "BENCH0", "1m", *JUNE)
        month_bytes, month_files = counter.total_bytes, len(counter.opened)
        counter.reset()
        get_candles(counted, "BENCH0", "1m")
        year_bytes, year_files = counter.total_bytes, len(counter.opened)

        print(f"pyarrow read_csv alone (floor)    {pyarrow_s * 1000:8.0f} ms   {rows / pyarrow_s:>12,.0f} rows/s")
        print(f"parse (vectorised CSV read)       {parse_s * 1000:8.0f} ms   {rows / parse_s:>12,.0f} rows/s"
              f"   ({parse_s / pyarrow_s:.2f}x the floor)")
        print(f"validate                          {validate_s * 1000:8.0f} ms   {rows / validate_s:>12,.0f} rows/s")
        print(
            f"import, median of {runs}              {import_s * 1000:8.0f} ms   {rows / import_s:>12,.0f} rows/s"
            f"   (runs: {', '.join(f'{s:.2f}s' for s in imports)})"
        )
        print(f"import, ISO header CSV, median    {iso_s * 1000:8.0f} ms   {rows / iso_s:>12,.0f} rows/s"
              f"   ({len(iso_content) / 2**20:.1f} MiB)")
        print(f"re-import (nothing new)           {reimport_s * 1000:8.0f} ms   {rows / reimport_s:>12,.0f} rows/s")
        print(
            f"stored: {len(manifest.partitions)} month objects, {stored_bytes / 2**20:.2f} MiB "
            f"({stored_bytes / rows:.1f} bytes/candle)"
        )
        print(
            f"get_candles one month (June)      {month_s * 1000:8.0f} ms   {month_files} object(s), "
            f"{month_bytes / 2**20:.2f} MiB read"
        )
        print(
            f"get_candles whole year            {year_s * 1000:8.0f} ms   {year_files} object(s), "
            f"{year_bytes / 2**20:.2f} MiB read"
        )
        print(f"one month / year: bytes {month_bytes / year_bytes:.3f}, time {month_s / year_s:.3f}")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    finally:
        server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, int(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_ROWS)
