"""Market data, files: every supported format reads to the same candles, and every validation rule
rejects its bad file naming the right lines. Pure domain code, no AWS."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.errors import ValidationFailed
from shared.market_data import parsing
from shared.market_data.parsing import parse_candle_file
from shared.market_data.validation import MAX_REPORTED_PROBLEMS, ImportRejected, validate_candles

# Four 1h candles from 2024-03-01T00:00:00Z (epoch 1709251200 s), written out by hand below in
# every format; 2024-03-01 was a Friday.
T0_S = 1_709_251_200
HOUR_S = 3600
EXPECTED_TS = [(T0_S + i * HOUR_S) * 1000 for i in range(4)]
EXPECTED = {
    "open": [61000.5, 61200.0, 61150.25, 60990.0],
    "high": [61250.0, 61300.75, 61180.0, 61010.0],
    "low": [60900.1, 61100.0, 60950.0, 60800.5],
    "close": [61200.0, 61150.25, 60990.0, 60850.0],
    "volume": [12.345, 8.5, 20.0, 0.0],
}


def read(content: bytes | str, timeframe: str = "1h"):
    data = content.encode() if isinstance(content, str) else content
    return validate_candles(parse_candle_file(data, "BTCUSDT"), timeframe)


def assert_expected(valid) -> None:
    candles = valid.candles
    assert candles.ts.tolist() == EXPECTED_TS
    for name, values in EXPECTED.items():
        assert getattr(candles, name).tolist() == values, name


def rejected(content: bytes | str, timeframe: str = "1h") -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        read(content, timeframe)
    return caught.value


def problems(error: ValidationFailed) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in error.errors]


# ---------------------------------------------------------------- formats
BINANCE_MS = """\
1709251200000,61000.50000000,61250.00000000,60900.10000000,61200.00000000,12.34500000,1709254799999,754707.17,1520,6.1,372000.5,0
1709254800000,61200.00000000,61300.75000000,61100.00000000,61150.25000000,8.50000000,1709258399999,519777.12,990,4.2,256000.1,0
1709258400000,61150.25000000,61180.00000000,60950.00000000,60990.00000000,20.00000000,1709261999999,1219800.00,2010,9.9,604000.0,0
1709262000000,60990.00000000,61010.00000000,60800.50000000,60850.00000000,0.00000000,1709265599999,0.00,0,0.0,0.0,0
"""

BINANCE_US = """\
1709251200000000,61000.50000000,61250.00000000,60900.10000000,61200.00000000,12.34500000,1709254799999999,754707.17,1520,6.1,372000.5,0
1709254800000000,61200.00000000,61300.75000000,61100.00000000,61150.25000000,8.50000000,1709258399999999,519777.12,990,4.2,256000.1,0
1709258400000000,61150.25000000,61180.00000000,60950.00000000,60990.00000000,20.00000000,1709261999999999,1219800.00,2010,9.9,604000.0,0
1709262000000000,60990.00000000,61010.00000000,60800.50000000,60850.00000000,0.00000000,1709265599999999,0.00,0,0.0,0.0,0
"""

ISO_HEADER = """\
timestamp,open,high,low,close,volume
2024-03-01T00:00:00Z,61000.5,61250,60900.1,61200,12.345
2024-03-01T01:00:00Z,61200,61300.75,61100,61150.25,8.5
2024-03-01T02:00:00+00:00,61150.25,61180,60950,60990,20
2024-03-01T03:00:00Z,60990,61010,60800.5,60850,0
"""

SPACE_DATETIME_SYNONYMS = """\
Date,Open,High,Low,Close,Vol
2024-03-01 00:00:00,61000.5,61250,60900.1,61200,12.345
2024-03-01 01:00:00,61200,61300.75,61100,61150.25,8.5
2024-03-01 02:00:00,61150.25,61180,60950,60990,20
2024-03-01 03:00:00,60990,61010,60800.5,60850,0
"""

EPOCH_SECONDS = """\
unix,o,h,l,c,v
1709251200,61000.5,61250,60900.1,61200,12.345
1709254800,61200,61300.75,61100,61150.25,8.5
1709258400,61150.25,61180,60950,60990,20
1709262000,60990,61010,60800.5,60850,0
"""

EPOCH_MS_UPPER_CASE_SEMICOLONS = """\
TIMESTAMP;OPEN;HIGH;LOW;CLOSE;VOLUME
1709251200000;61000.5;61250;60900.1;61200;12.345
1709254800000;61200;61300.75;61100;61150.25;8.5
1709258400000;61150.25;61180;60950;60990;20
1709262000000;60990;61010;60800.5;60850;0
"""

SEPARATE_DATE_AND_TIME = """\
date,time,open,high,low,close,volume
2024-03-01,00:00,61000.5,61250,60900.1,61200,12.345
2024-03-01,01:00,61200,61300.75,61100,61150.25,8.5
2024-03-01,02:00,61150.25,61180,60950,60990,20
2024-03-01,03:00,60990,61010,60800.5,60850,0
"""

# CryptoDataDownload's export: a banner line above the header, newest first, volume in both assets.
BANNER_NEWEST_FIRST = """\
https://www.CryptoDataDownload.com
unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount
1709262000000,2024-03-01 03:00:00,BTC/USDT,60990,61010,60800.5,60850,0,0,0
1709258400000,2024-03-01 02:00:00,BTC/USDT,61150.25,61180,60950,60990,20,1219800,2010
1709254800000,2024-03-01 01:00:00,BTC/USDT,61200,61300.75,61100,61150.25,8.5,519777.12,990
1709251200000,2024-03-01 00:00:00,BTC/USDT,61000.5,61250,60900.1,61200,12.345,754707.17,1520
"""

JSON_OBJECTS = json.dumps(
    [
        {
            "time": "2024-03-01T00:00:00Z",
            "open": 61000.5,
            "high": 61250,
            "low": 60900.1,
            "close": 61200,
            "volume": 12.345,
        },
        {
            "time": "2024-03-01T01:00:00Z",
            "open": "61200",
            "high": "61300.75",
            "low": "61100",
            "close": "61150.25",
            "volume": "8.5",
        },
        {"time": "2024-03-01T02:00:00Z", "open": 61150.25, "high": 61180, "low": 60950, "close": 60990, "volume": 20},
        {"time": "2024-03-01T03:00:00Z", "open": 60990, "high": 61010, "low": 60800.5, "close": 60850, "volume": 0},
    ]
)

# Binance REST's own wire format: arrays, prices as strings, times in ms.
JSON_ARRAYS = json.dumps(
    [
        [
            1709251200000,
            "61000.50000000",
            "61250.00000000",
            "60900.10000000",
            "61200.00000000",
            "12.34500000",
            1709254799999,
            "0",
            1520,
            "0",
            "0",
            "0",
        ],
        [
            1709254800000,
            "61200.00000000",
            "61300.75000000",
            "61100.00000000",
            "61150.25000000",
            "8.50000000",
            1709258399999,
            "0",
            990,
            "0",
            "0",
            "0",
        ],
        [
            1709258400000,
            "61150.25000000",
            "61180.00000000",
            "60950.00000000",
            "60990.00000000",
            "20.00000000",
            1709261999999,
            "0",
            2010,
            "0",
            "0",
            "0",
        ],
        [
            1709262000000,
            "60990.00000000",
            "61010.00000000",
            "60800.50000000",
            "60850.00000000",
            "0.00000000",
            1709265599999,
            "0",
            0,
            "0",
            "0",
            "0",
        ],
    ]
)


def parquet_file(ts_column: pa.Array, ts_name: str = "ts") -> bytes:
    table = pa.table({ts_name: ts_column} | {name: pa.array(values, pa.float64()) for name, values in EXPECTED.items()})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("content", "expected_format"),
    [
        pytest.param(BINANCE_MS, "binance_kline_csv", id="binance-csv-milliseconds"),
        pytest.param(BINANCE_US, "binance_kline_csv", id="binance-csv-microseconds"),
        pytest.param(BINANCE_MS.replace("\n", "\r\n"), "binance_kline_csv", id="binance-csv-crlf"),
        pytest.param(ISO_HEADER, "ohlcv_csv", id="csv-iso8601"),
        pytest.param(SPACE_DATETIME_SYNONYMS, "ohlcv_csv", id="csv-space-datetime-synonyms"),
        pytest.param(EPOCH_SECONDS, "ohlcv_csv", id="csv-epoch-seconds-short-names"),
        pytest.param(EPOCH_MS_UPPER_CASE_SEMICOLONS, "ohlcv_csv", id="csv-epoch-ms-upper-case-semicolons"),
        pytest.param(SEPARATE_DATE_AND_TIME, "ohlcv_csv", id="csv-date-and-time-columns"),
        pytest.param(BANNER_NEWEST_FIRST, "ohlcv_csv", id="csv-banner-newest-first"),
        pytest.param("\ufeff" + ISO_HEADER, "ohlcv_csv", id="csv-with-byte-order-mark"),
        pytest.param(JSON_OBJECTS, "json", id="json-objects"),
        pytest.param(JSON_ARRAYS, "json", id="json-arrays-binance-wire"),
        pytest.param(
            parquet_file(pa.array(EXPECTED_TS, pa.int64()).cast(pa.timestamp("ms", tz="UTC"))),
            "parquet",
            id="parquet-timestamp",
        ),
        pytest.param(
            parquet_file(pa.array([t // 1000 for t in EXPECTED_TS], pa.int64()), "open_time"),
            "parquet",
            id="parquet-epoch-seconds",
        ),
        pytest.param(
            parquet_file(pa.array(EXPECTED_TS, pa.int64()).cast(pa.timestamp("ms")).cast(pa.timestamp("ns")), "Date"),
            "parquet",
            id="parquet-naive-nanoseconds",
        ),
    ],
)
def test_each_format_reads_to_the_same_candles(content, expected_format):
    valid = read(content)
    assert_expected(valid)
    assert valid.format == expected_format


def test_identical_duplicate_rows_are_dropped_and_counted():
    # Given the ISO file with its second row repeated verbatim at the end
    lines = ISO_HEADER.splitlines()
    valid = read("\n".join([*lines, lines[2]]) + "\n")
    # Then the candles are the four, and one duplicate was dropped
    assert_expected(valid)
    assert (valid.rows_in_file, valid.duplicates_dropped) == (5, 1)


def test_base_volume_column_is_chosen_by_symbol():
    # Given volume in the base and the quote asset, quote first
    content = "date,open,high,low,close,Volume USDT,Volume BTC\n2024-03-01 00:00:00,1,2,0.5,1.5,999,7\n"
    assert read(content).candles.volume.tolist() == [7.0]


# ---------------------------------------------------------------- validation rules
def iso_file_with(row_2: str) -> str:
    """The ISO file with its second candle row (line 3) replaced."""
    lines = ISO_HEADER.splitlines()
    lines[2] = row_2
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        (
            "2024-03-01T01:00:00Z,61200,61100,61100,61150.25,8.5",
            "high 61100.0 is below max(open 61200.0, close 61150.25)",
        ),
        (
            "2024-03-01T01:00:00Z,61200,61300.75,61160,61150.25,8.5",
            "low 61160.0 is above min(open 61200.0, close 61150.25)",
        ),
        ("2024-03-01T01:00:00Z,61200,61300.75,61100,61150.25,-1", "volume must not be negative, got -1.0"),
        ("2024-03-01T01:00:00Z,61200,61300.75,0,61150.25,8.5", "low must be above 0, got 0.0"),
        ("2024-03-01T01:00:00Z,nan,61300.75,61100,61150.25,8.5", "open is empty or NaN while the row has other prices"),
        ("2024-03-01T01:00:00Z,61200,inf,61100,61150.25,8.5", "high is not a finite number (inf)"),
        (
            "2024-03-01T01:30:00Z,61200,61300.75,61100,61150.25,8.5",
            "timestamp 2024-03-01T01:30:00Z is not on a 1h boundary",
        ),
        ("2024-03-01T01:00:00Z,abc,61300.75,61100,61150.25,8.5", "open 'abc' is not a number"),
        ("2024-03-01T01:00:00Z,61200,,61100,61150.25,8.5", "high is empty or NaN while the row has other prices"),
        ("yesterday,61200,61300.75,61100,61150.25,8.5", "timestamp 'yesterday' is not a date-time"),
        ("2024-03-01T01:00:00Z,61200,61300.75", "expected 6 fields, found 3"),
    ],
    ids=[
        "high-below-body",
        "low-above-body",
        "negative-volume",
        "zero-price",
        "nan",
        "infinite",
        "misaligned",
        "not-a-number",
        "empty-cell",
        "bad-timestamp",
        "short-row",
    ],
)
def test_each_rule_rejects_its_bad_row_by_line(bad_row, message):
    error = rejected(iso_file_with(bad_row))
    assert problems(error) == [("line 3", message)]
    assert error.problem_count == 1


def test_weekly_candles_must_open_on_monday():
    # 1970-01-01 (a Thursday) + 2824 weeks = 2024-02-29, a Thursday: a 7-day multiple but not a Monday.
    content = (
        "timestamp,open,high,low,close,volume\n2024-02-26T00:00:00Z,1,2,0.5,1.5,3\n2024-02-29T00:00:00Z,1,2,0.5,1.5,3\n"
    )
    error = rejected(content, "1w")
    assert problems(error) == [
        ("line 3", "timestamp 2024-02-29T00:00:00Z is not on a 1w boundary (weeks start Monday 00:00 UTC)")
    ]


def test_conflicting_duplicate_is_rejected_naming_both_lines():
    # Given line 6 repeats line 3's time (01:00) with another close
    content = ISO_HEADER + "2024-03-01T01:00:00Z,61200,61300.75,61100,61150.5,8.5\n"
    error = rejected(content)
    assert problems(error) == [
        (
            "line 6",
            "timestamp 2024-03-01T01:00:00Z repeats line 3 with different values: close 61150.25 there, 61150.5 here",
        )
    ]


def test_every_problem_of_a_file_is_reported_in_line_order():
    # Given problems on lines 2 and 4 (two on line 4)
    lines = ISO_HEADER.splitlines()
    lines[1] = "2024-03-01T00:00:00Z,61000.5,61250,60900.1,61200,-5"
    lines[3] = "2024-03-01T02:15:00Z,61150.25,61000,60950,60990,20"
    error = rejected("\n".join(lines) + "\n")
    assert [field for field, _ in problems(error)] == ["line 2", "line 4", "line 4"]
    assert error.problem_count == 3


def test_line_numbers_count_banner_and_blank_lines():
    # Given a banner (line 1), header (line 2), and a blank line 4: the 02:00 row is on line 5
    content = BANNER_NEWEST_FIRST.splitlines()
    content.insert(3, "")
    content[4] = content[4].replace(",61180,", ",1,")  # high 1 on the 02:00 row
    error = rejected("\n".join(content) + "\n")
    assert problems(error) == [("line 5", "high 1.0 is below max(open 61150.25, close 60990.0)")]


def test_blank_lines_keep_line_numbers_right_on_the_fast_path():
    # Given a valid file with blank lines, and the same file with a bad row after them
    content = BINANCE_MS.replace("\n", "\n\n", 2)
    assert_expected(read(content))
    bad = content.replace(",0.00000000,1709265599999", ",-1.00000000,1709265599999")
    assert [field for field, _ in problems(rejected(bad))] == ["line 6"]


def test_json_problems_name_the_line_and_item():
    items = json.loads(JSON_OBJECTS)
    items[2]["low"] = 70000
    content = "[\n" + ",\n".join(json.dumps(item) for item in items) + "\n]"
    assert problems(rejected(content)) == [
        ("line 4 (item 3)", "low 70000.0 is above min(open 61150.25, close 60990.0)")
    ]


def test_json_item_missing_a_key_is_named():
    items = json.loads(JSON_OBJECTS)
    del items[1]["volume"]
    assert problems(rejected(json.dumps(items))) == [("line 1 (item 2)", "missing key volume")]


def test_parquet_problems_name_the_row():
    table = pa.table(
        {"ts": pa.array(EXPECTED_TS, pa.int64())} | {n: pa.array(v, pa.float64()) for n, v in EXPECTED.items()}
    )
    table = table.set_column(5, "volume", pa.array([1.0, 2.0, -3.0, 4.0]))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    assert problems(rejected(sink.getvalue())) == [("row 3", "volume must not be negative, got -3.0")]


def test_only_the_first_100_problems_are_listed_but_all_are_counted():
    # Given 250 candles whose volume is negative
    rows = [f"{(T0_S + i * HOUR_S) * 1000},1,2,0.5,1.5,-1" for i in range(250)]
    error = rejected("timestamp,open,high,low,close,volume\n" + "\n".join(rows))
    assert error.problem_count == 250
    assert len(error.errors) == MAX_REPORTED_PROBLEMS == 100
    assert [e.field for e in error.errors] == [f"line {n}" for n in range(2, 102)]
    assert "250 problems" in error.message


# ---------------------------------------------------------------- unreadable files
@pytest.mark.parametrize(
    ("content", "field", "fragment"),
    [
        (b"", "file", "empty"),
        (b"hello world\nthis is not a candle file\n", "file", "unrecognised file"),
        (b"time,open,high,low,close\n2024-03-01T00:00:00Z,1,2,0.5,1.5\n", "line 1", "no column for volume"),
        (b'{"candles": []}', "file", "JSON array"),
        (b"[1, 2", "line 1", "invalid JSON"),
        (b"[]", "file", "no candle rows"),
        (b"PAR1 truncated", "file", "unreadable Parquet"),
    ],
    ids=["empty", "prose", "no-volume-column", "json-object", "broken-json", "empty-array", "broken-parquet"],
)
def test_unreadable_files_are_rejected_with_a_reason(content, field, fragment):
    with pytest.raises(ValidationFailed) as caught:
        read(content)
    assert caught.value.errors[0].field == field
    assert fragment in caught.value.errors[0].message


def test_a_clean_binance_year_is_read_on_the_vectorised_path(monkeypatch):
    # Given a year of 1m candles (the shape of Binance's monthly files, concatenated), and a
    # row-by-row reader that must not be needed
    def row_by_row(*args):
        raise AssertionError("a clean file fell back to the row-by-row reader")

    monkeypatch.setattr(parsing, "_read_csv_row_by_row", row_by_row)
    n = 525_600
    ts = 1_704_067_200_000 + np.arange(n, dtype=np.int64) * 60_000
    price = 40_000 + np.arange(n) % 100
    body = "".join(
        f"{t},{p}.5,{p + 1},{p},{p}.25,1.5,{t + 59_999},1,1,1,1,0\n"
        for t, p in zip(ts.tolist(), price.tolist(), strict=True)
    )
    valid = read(body, "1m")
    # Then every candle is read, in order, with nothing dropped
    assert len(valid.candles) == n
    assert valid.candles.ts[-1] == ts[-1]
    assert valid.candles.close[12345] == price[12345] + 0.25
