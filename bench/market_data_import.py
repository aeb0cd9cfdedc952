"""Candle import throughput end to end, per common layout, and partition pruning, against moto.

End to end = what the import function does with a file dropped into the imports bucket:
`MarketDataService.run_inbox_object` (built by `market_data_service_from_env`, the function's
composition root) reads its status record from DynamoDB, marks it running, GETs the file from the
imports bucket, detects the layout, parses, validates, merges, writes the month objects (Parquet,
zstd) to the candles bucket, swaps the manifest and records the job completed. S3 and DynamoDB are
moto's server IN THIS PROCESS: its request handling shares the importer's CPU and GIL, as on the
local stack (a deployed function's S3 costs it no CPU). Uploading the file is not timed.

1. For each layout: ROWS 1-minute candles (default 1,000,000: 23 months) written in that layout,
   imported RUNS times into fresh series; rows/s of the median run, with the file's parse alone and
   pyarrow's `read_csv` of the same bytes alone (default options: the reference).
2. Re-imports the Binance file (the idempotent path: every month is read back and compared).
3. Reads one month with get_candles, then the whole series, counting the bytes the ranged GETs return.
Also prints the load average (the machine is shared) and the process's peak RSS.

    .venv/bin/python bench/market_data_import.py [RUNS] [ROWS]
"""

from __future__ import annotations

import logging
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
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

from adapters.candle_store import S3CandleStore, market_data_service_from_env  # noqa: E402
from adapters.models.market_data import CandleImportItem  # noqa: E402
from adapters.repositories.binding import bind  # noqa: E402
from shared.candles import Candles  # noqa: E402
from shared.market_data.imports import candle_file_key  # noqa: E402
from shared.market_data.parsing import parse_candle_file  # noqa: E402
from shared.market_data.query import get_candles  # noqa: E402
from shared.market_data.sample import SAMPLE_MARKETS, synthetic_candles  # noqa: E402
from shared.market_data.validation import validate_candles  # noqa: E402
from shared.statuses import COMPLETED  # noqa: E402
from tests.fakes.counting_s3 import CountingS3  # noqa: E402
from tests.fakes.market_data import RecordingPublisher, binance_csv  # noqa: E402

CANDLES_BUCKET = "bench-candles"
IMPORTS_BUCKET = "bench-imports"
IMPORTS_TABLE = "bench-imports"
YEAR_START = 1_704_067_200_000  # 2024-01-01T00:00:00Z
DEFAULT_ROWS = 1_000_000
JUNE = (1_717_200_000_000, 1_719_792_000_000)  # [2024-06-01, 2024-07-01)


def timed(action):
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def _columns(candles: Candles) -> list[list[float]]:
    return [getattr(candles, name).tolist() for name in ("open", "high", "low", "close", "volume")]


def _stamps(candles: Candles, unit: str = "s") -> list[str]:
    return np.datetime_as_string(candles.ts.astype("datetime64[ms]"), unit=unit).tolist()


def iso_csv(candles: Candles) -> bytes:
    """`timestamp,open,high,low,close,volume` with ISO-8601 UTC times (`2024-01-01T00:00:00Z`)."""
    rows = zip(_stamps(candles), *_columns(candles), strict=True)
    return (
        "timestamp,open,high,low,close,volume\n"
        + "".join(f"{t}Z,{o!r},{h!r},{lo!r},{c!r},{v!r}\n" for t, o, h, lo, c, v in rows)
    ).encode()


def kraken_csv(candles: Candles) -> bytes:
    """Kraken's OHLCVT: no header, epoch seconds, trade count last."""
    rows = zip((candles.ts // 1000).tolist(), *_columns(candles), strict=True)
    return "".join(f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r},7\n" for t, o, h, lo, c, v in rows).encode()


def cryptodatadownload_csv(candles: Candles) -> bytes:
    """CryptoDataDownload's minute files: a banner, `unix` (ms) and `date`, per-asset volumes, newest first."""
    rows = zip(candles.ts.tolist(), _stamps(candles), *_columns(candles), strict=True)
    lines = [
        f"{u},{d.replace('T', ' ')},BTC/USDT,{o!r},{h!r},{lo!r},{c!r},{v!r},{v * c:.2f},7\n"
        for u, d, o, h, lo, c, v in rows
    ]
    return (
        "https://www.CryptoDataDownload.com\n"
        "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount\n" + "".join(reversed(lines))
    ).encode()


def metatrader_csv(candles: Candles) -> bytes:
    """MetaTrader 5's "Export bars": tab-separated, dotted `<DATE>` and a separate `<TIME>` (dateutil's path)."""
    rows = zip(_stamps(candles), *_columns(candles), strict=True)
    return (
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
        + "".join(
            f"{t[:10].replace('-', '.')}\t{t[11:]}\t{o!r}\t{h!r}\t{lo!r}\t{c!r}\t7\t{v!r}\t0\n"
            for t, o, h, lo, c, v in rows
        )
    ).encode()


@dataclass(frozen=True)
class Layout:
    name: str
    write: Callable[[Candles], bytes]
    banner_lines: int = 0  # lines pyarrow's reference read skips
    delimiter: str = ","


LAYOUTS = (
    Layout("Binance kline CSV (no header, 12 columns, ms)", lambda candles: binance_csv(candles, "1m")),
    Layout("ISO-8601 OHLCV CSV with a header", iso_csv),
    Layout("Kraken OHLCVT (no header, epoch s)", kraken_csv),
    Layout("CryptoDataDownload (banner, unix ms, newest first)", cryptodatadownload_csv, banner_lines=1),
    Layout("MetaTrader 5 bars (<DATE> <TIME>, dateutil)", metatrader_csv, delimiter="\t"),
)


def main(runs: int, rows: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ |= {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "CANDLES_BUCKET": CANDLES_BUCKET,
        "IMPORTS_BUCKET": IMPORTS_BUCKET,
        "IMPORTS_TABLE": IMPORTS_TABLE,
    }
    try:
        s3 = boto3.client("s3")
        for bucket in (CANDLES_BUCKET, IMPORTS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        bind(CandleImportItem, IMPORTS_TABLE).create_table(wait=True)
        service = market_data_service_from_env(RecordingPublisher(), s3)
        candles = synthetic_candles(SAMPLE_MARKETS[0], "1m", YEAR_START, rows, 42_000.0, np.random.default_rng(7))
        uploads = 0

        def import_dropped(symbol: str, content: bytes) -> tuple[float, object]:
            """Drop `content` into the imports bucket (untimed), then time the import function's run."""
            nonlocal uploads
            uploads += 1
            key = candle_file_key(symbol, "1m", f"00000000-0000-4000-8000-{uploads:012d}", "upload.csv")
            service.inbox.put(key, content)
            elapsed, status = timed(lambda: service.run_inbox_object(key, f"{uploads:016X}"))
            assert status.status == COMPLETED, status.errors
            return elapsed, status

        print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        print(f"{rows:,} 1m candles per file; import = median of {runs} end-to-end runs into fresh series\n")
        print(f"{'layout':52} {'MiB':>6} {'read_csv':>9} {'parse':>7} {'import':>7} {'rows/s':>11}  runs")
        binance = b""
        for index, layout in enumerate(LAYOUTS):
            content = layout.write(candles)
            binance = binance or content
            reference_s, _ = timed(
                lambda: pacsv.read_csv(
                    pa.BufferReader(content),  # noqa: B023
                    read_options=pacsv.ReadOptions(skip_rows=layout.banner_lines),  # noqa: B023
                    parse_options=pacsv.ParseOptions(delimiter=layout.delimiter),  # noqa: B023
                )
            )
            parse_s, raw = timed(lambda: parse_candle_file(content, "BTCUSDT"))  # noqa: B023
            assert len(validate_candles(raw, "1m").candles) == rows
            seconds = []
            for run in range(runs):
                elapsed, status = import_dropped(f"BTCUSDTL{index}R{run}", content)
                assert status.rows_imported == rows
                seconds.append(elapsed)
            median = statistics.median(seconds)
            print(
                f"{layout.name:52} {len(content) / 2**20:6.1f} {reference_s:8.2f}s {parse_s:6.2f}s {median:6.2f}s "
                f"{rows / median:>11,.0f}  {', '.join(f'{s:.2f}' for s in seconds)}"
            )
        print(f"load average after imports: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")

        validate_s, _ = timed(lambda: validate_candles(parse_candle_file(binance, "BTCUSDT"), "1m"))
        reimport_s, report = import_dropped("BTCUSDTL0R0", binance)
        assert (report.rows_imported, report.rows_unchanged) == (0, rows)
        print(
            f"Binance file: parse + validate {validate_s * 1000:.0f} ms; "
            f"re-import (nothing new) {reimport_s * 1000:.0f} ms, {rows / reimport_s:,.0f} rows/s"
        )

        store = S3CandleStore(s3, CANDLES_BUCKET)
        manifest = store.manifest("BTCUSDTL0R0", "1m")
        stored_bytes = sum(p.size for p in manifest.partitions)
        # Times through the store's boto3 client; bytes through a counting wrapper in a second read.
        month_s, month = timed(lambda: get_candles(store, "BTCUSDTL0R0", "1m", *JUNE))
        year_s, year = timed(lambda: get_candles(store, "BTCUSDTL0R0", "1m"))
        assert len(month) == 30 * 24 * 60 and len(year) == rows  # "year": the whole series
        counter = CountingS3(s3, prefix="candles/symbol=")
        counted = S3CandleStore(counter, CANDLES_BUCKET)
        get_candles(counted, "BTCUSDTL0R0", "1m", *JUNE)
        month_bytes, month_files = counter.total_bytes, len(counter.opened)
        counter.reset()
        get_candles(counted, "BTCUSDTL0R0", "1m")
        year_bytes, year_files = counter.total_bytes, len(counter.opened)
        print(
            f"stored: {len(manifest.partitions)} month objects, {stored_bytes / 2**20:.2f} MiB "
            f"({stored_bytes / rows:.1f} bytes/candle)"
        )
        print(
            f"get_candles one month (June)  {month_s * 1000:6.0f} ms   {month_files} object(s), "
            f"{month_bytes / 2**20:.2f} MiB read"
        )
        print(
            f"get_candles whole series      {year_s * 1000:6.0f} ms   {year_files} object(s), "
            f"{year_bytes / 2**20:.2f} MiB read"
        )
        print(f"one month / whole: bytes {month_bytes / year_bytes:.3f}, time {month_s / year_s:.3f}")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    finally:
        server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, int(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_ROWS)
