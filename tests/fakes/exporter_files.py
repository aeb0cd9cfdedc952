"""Candle files in the exact layouts common exporters write, each holding the same three 1h candles
(2019-10-17 09:00, 10:00 and 11:00 UTC), written out by hand.

`LAYOUTS[name]` is a `Sample`: the file's bytes, the symbol its name would carry, and the volumes
it must read to (MetaTrader's tick volumes differ; everything else reads to EXPECTED).
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

T0_MS = 1_571_302_800_000  # 2019-10-17T09:00:00Z
HOUR_MS = 3_600_000
EXPECTED_TS = [T0_MS, T0_MS + HOUR_MS, T0_MS + 2 * HOUR_MS]
EXPECTED = {
    "open": [8000.5, 8050.0, 8020.25],
    "high": [8060.0, 8075.75, 8030.0],
    "low": [7990.1, 8010.0, 7950.0],
    "close": [8050.0, 8020.25, 7960.0],
    "volume": [12.345, 8.5, 20.0],
}
TICK_VOLUMES = [1234.0, 850.0, 2000.0]


@dataclass(frozen=True)
class Sample:
    content: bytes
    symbol: str = "BTCUSDT"
    volume: tuple[float, ...] = tuple(EXPECTED["volume"])
    rows_without_trades: int = 0


def _text(text: str) -> bytes:
    return text.encode()


BINANCE_MS = """\
1571302800000,8000.50000000,8060.00000000,7990.10000000,8050.00000000,12.34500000,1571306399999,99377.25,1520,6.1,49100.5,0
1571306400000,8050.00000000,8075.75000000,8010.00000000,8020.25000000,8.50000000,1571309999999,68172.12,990,4.2,33800.1,0
1571310000000,8020.25000000,8030.00000000,7950.00000000,7960.00000000,20.00000000,1571313599999,159200.00,2010,9.9,78800.0,0
"""
# Binance's public data files since 2025: open and close times in microseconds.
BINANCE_US = BINANCE_MS.replace("00000,", "00000000,").replace("99999,", "99999999,")
# Kraken's OHLCVT downloads: no header, epoch seconds, trade count last.
KRAKEN_OHLCVT = """\
1571302800,8000.5,8060.0,7990.1,8050.0,12.345,42
1571306400,8050.0,8075.75,8010.0,8020.25,8.5,17
1571310000,8020.25,8030.0,7950.0,7960.0,20.0,55
"""
# CryptoDataDownload's hourly files: a banner line, newest first, 12-hour clock hours, per-asset volumes.
CDD_HOURLY = """\
https://www.CryptoDataDownload.com
Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USD
2019-10-17 11-AM,BTCUSD,8020.25,8030,7950,7960,20,159200
2019-10-17 10-AM,BTCUSD,8050,8075.75,8010,8020.25,8.5,68172.12
2019-10-17 09-AM,BTCUSD,8000.5,8060,7990.1,8050,12.345,99377.25
"""
# Their newer layout: unix seconds first, trade count last.
CDD_UNIX = """\
https://www.CryptoDataDownload.com
unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount
1571310000,2019-10-17 11:00:00,BTC/USDT,8020.25,8030,7950,7960,20,159200,2010
1571306400,2019-10-17 10:00:00,BTC/USDT,8050,8075.75,8010,8020.25,8.5,68172.12,990
1571302800,2019-10-17 09:00:00,BTC/USDT,8000.5,8060,7990.1,8050,12.345,99377.25,1520
"""
# MetaTrader 5's "Export bars": tab-separated, dotted date and separate time.
METATRADER = """\
<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>
2019.10.17\t09:00:00\t8000.50\t8060.00\t7990.10\t8050.00\t1234\t12.345\t50
2019.10.17\t10:00:00\t8050.00\t8075.75\t8010.00\t8020.25\t850\t8.5\t50
2019.10.17\t11:00:00\t8020.25\t8030.00\t7950.00\t7960.00\t2000\t20\t50
"""
# The same from a broker that reports no exchange volume: <VOL> is 0 throughout, <TICKVOL> is used.
METATRADER_TICKS = METATRADER.replace("\t12.345\t", "\t0\t").replace("\t8.5\t", "\t0\t").replace("\t20\t50", "\t0\t50")
# Dukascopy's historical data export: day-first dotted dates with milliseconds.
DUKASCOPY = """\
Gmt time,Open,High,Low,Close,Volume
17.10.2019 09:00:00.000,8000.5,8060,7990.1,8050,12.345
17.10.2019 10:00:00.000,8050,8075.75,8010,8020.25,8.5
17.10.2019 11:00:00.000,8020.25,8030,7950,7960,20
"""
# yfinance's DataFrame.to_csv(): `Datetime` with an offset, `Adj Close` (ignored).
YFINANCE = """\
Datetime,Open,High,Low,Close,Adj Close,Volume
2019-10-17 09:00:00+00:00,8000.5,8060.0,7990.1,8050.0,1.0,12.345
2019-10-17 10:00:00+00:00,8050.0,8075.75,8010.0,8020.25,1.0,8.5
2019-10-17 11:00:00+00:00,8020.25,8030.0,7950.0,7960.0,1.0,20.0
"""
# Kaggle's bitstamp dump: epoch seconds, NaN rows for periods without trades, two volumes.
KAGGLE_BITSTAMP = """\
Timestamp,Open,High,Low,Close,Volume_(BTC),Volume_(Currency),Weighted_Price
1571299200,NaN,NaN,NaN,NaN,NaN,NaN,NaN
1571302800,8000.5,8060,7990.1,8050,12.345,99377.25,8050.0
1571306400,8050,8075.75,8010,8020.25,8.5,68172.12,8020.0
1571310000,8020.25,8030,7950,7960,20,159200,7960.0
"""
# Spreadsheet exports: US month-first dates with a 12-hour clock; and day-first with a 24-hour clock.
MONTH_FIRST_12H = """\
Date,Open,High,Low,Close,Volume
10/17/2019 9:00 AM,8000.5,8060,7990.1,8050,12.345
10/17/2019 10:00 AM,8050,8075.75,8010,8020.25,8.5
10/17/2019 11:00 AM,8020.25,8030,7950,7960,20
"""
DAY_FIRST_DOTS = """\
Date,Open,High,Low,Close,Volume
17.10.2019 09:00,8000.5,8060,7990.1,8050,12.345
17.10.2019 10:00,8050,8075.75,8010,8020.25,8.5
17.10.2019 11:00,8020.25,8030,7950,7960,20
"""
HOUR_SPACE_MERIDIEM = """\
date,open,high,low,close,volume
2019-10-17 09 AM,8000.5,8060,7990.1,8050,12.345
2019-10-17 10 AM,8050,8075.75,8010,8020.25,8.5
2019-10-17 11 AM,8020.25,8030,7950,7960,20
"""
ISO_OFFSETS_FRACTIONS = """\
time,open,high,low,close,volume
2019-10-17T11:00:00.000+02:00,8000.5,8060,7990.1,8050,12.345
2019-10-17 10:00:00Z,8050,8075.75,8010,8020.25,8.5
2019-10-17T06:00:00-05:00,8020.25,8030,7950,7960,20
"""
EPOCH_NS = """\
timestamp,open,high,low,close,volume
1571302800000000000,8000.5,8060,7990.1,8050,12.345
1571306400000000000,8050,8075.75,8010,8020.25,8.5
1571310000000000000,8020.25,8030,7950,7960,20
"""
# Excel's "CSV UTF-8": a byte-order mark, CRLF line ends, every field quoted.
EXCEL_QUOTED = "\ufeff" + "".join(
    ",".join(f'"{cell}"' for cell in line.split(",")) + "\r\n"
    for line in [
        "Timestamp,Open,High,Low,Close,Volume",
        "2019-10-17 09:00:00,8000.5,8060,7990.1,8050,12.345",
        "2019-10-17 10:00:00,8050,8075.75,8010,8020.25,8.5",
        "2019-10-17 11:00:00,8020.25,8030,7950,7960,20",
    ]
)


def _zip(name: str, content: bytes, *others: tuple[str, bytes]) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
        for other_name, other in others:
            archive.writestr(other_name, other)
    return sink.getvalue()


def pandas_parquet() -> bytes:
    """What `DataFrame.to_parquet()` writes for a DatetimeIndex-free frame with a UTC `ts` column:
    `timestamp[ns, tz=UTC]`, float64 prices, pandas' schema metadata."""
    table = pa.table(
        {
            "ts": pa.array([t * 1_000_000 for t in EXPECTED_TS], pa.timestamp("ns", tz="UTC")),
            **{name: pa.array(values, pa.float64()) for name, values in EXPECTED.items()},
        }
    )
    pandas_metadata = {
        "index_columns": [{"kind": "range", "name": None, "start": 0, "stop": 3, "step": 1}],
        "column_indexes": [],
        "columns": [],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    table = table.replace_schema_metadata({b"pandas": json.dumps(pandas_metadata).encode()})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


JSON_OBJECTS = json.dumps(
    [
        {
            "timestamp": "2019-10-17T09:00:00Z",
            "open": 8000.5,
            "high": 8060,
            "low": 7990.1,
            "close": 8050,
            "volume": 12.345,
        },
        {
            "timestamp": "2019-10-17T10:00:00Z",
            "open": 8050,
            "high": 8075.75,
            "low": 8010,
            "close": 8020.25,
            "volume": 8.5,
        },
        {"timestamp": "2019-10-17T11:00:00Z", "open": 8020.25, "high": 8030, "low": 7950, "close": 7960, "volume": 20},
    ]
)

LAYOUTS: dict[str, Sample] = {
    "binance-klines-ms": Sample(_text(BINANCE_MS)),
    "binance-klines-us": Sample(_text(BINANCE_US)),
    "kraken-ohlcvt": Sample(_text(KRAKEN_OHLCVT), symbol="XBTUSD"),
    "cryptodatadownload-12h-clock": Sample(_text(CDD_HOURLY), symbol="BTCUSD"),
    "cryptodatadownload-unix": Sample(_text(CDD_UNIX)),
    "metatrader5": Sample(_text(METATRADER)),
    "metatrader5-tick-volume": Sample(_text(METATRADER_TICKS), volume=tuple(TICK_VOLUMES)),
    "dukascopy-gmt-time": Sample(_text(DUKASCOPY)),
    "yfinance-datetime-adj-close": Sample(_text(YFINANCE)),
    "kaggle-bitstamp-nan-rows": Sample(_text(KAGGLE_BITSTAMP), symbol="BTCUSD", rows_without_trades=1),
    "month-first-12h-clock": Sample(_text(MONTH_FIRST_12H)),
    "day-first-dotted": Sample(_text(DAY_FIRST_DOTS)),
    "hour-space-meridiem": Sample(_text(HOUR_SPACE_MERIDIEM)),
    "iso-offsets-fractions": Sample(_text(ISO_OFFSETS_FRACTIONS)),
    "epoch-ns": Sample(_text(EPOCH_NS)),
    "excel-bom-crlf-quoted": Sample(_text(EXCEL_QUOTED)),
    "gzip-binance": Sample(gzip.compress(_text(BINANCE_MS))),
    "zip-one-csv": Sample(_zip("BTCUSDT-1h-2019-10.csv", _text(BINANCE_MS))),
    "json-objects": Sample(_text(JSON_OBJECTS)),
    "pandas-parquet-ns-utc": Sample(pandas_parquet()),
}
TWO_FILE_ZIP = _zip("BTCUSDT-1h-2019-10.csv", _text(BINANCE_MS), ("BTCUSDT-1h-2019-11.csv", _text(BINANCE_MS)))
