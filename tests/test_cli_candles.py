"""The CLI's candle files: every format the market-data importer reads, its validation, and the
CLI's own strictness on top (one time order, no repeated row); every error is one line naming
the first bad line (and how many more problems there are). Files are written out by hand."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters.cli import InputError, read_candles

# Three 1h candles from 2024-03-01T00:00:00Z (epoch 1709251200 s), in every format below.
T0_MS = 1_709_251_200_000
HOUR_MS = 3_600_000
EXPECTED_TS = [T0_MS, T0_MS + HOUR_MS, T0_MS + 2 * HOUR_MS]
EXPECTED = {
    "open": [61000.5, 61200.0, 61150.25],
    "high": [61250.0, 61300.75, 61180.0],
    "low": [60900.1, 61100.0, 60950.0],
    "close": [61200.0, 61150.25, 60990.0],
    "volume": [12.345, 8.5, 20.0],
}

BINANCE_MS = """\
1709251200000,61000.50,61250.00,60900.10,61200.00,12.345,1709254799999,754707.17,1520,6.1,372000.5,0
1709254800000,61200.00,61300.75,61100.00,61150.25,8.500,1709258399999,519777.12,990,4.2,256000.1,0
1709258400000,61150.25,61180.00,60950.00,60990.00,20.000,1709261999999,1219800.00,2010,9.9,604000.0,0
"""
BINANCE_US = """\
1709251200000000,61000.50,61250.00,60900.10,61200.00,12.345,1709254799999999,754707.17,1520,6.1,372000.5,0
1709254800000000,61200.00,61300.75,61100.00,61150.25,8.500,1709258399999999,519777.12,990,4.2,256000.1,0
1709258400000000,61150.25,61180.00,60950.00,60990.00,20.000,1709261999999999,1219800.00,2010,9.9,604000.0,0
"""
HEADER_ISO_AND_EPOCH_MS = """\
timestamp,open,high,low,close,volume
2024-03-01T00:00:00Z,61000.5,61250,60900.1,61200,12.345
1709254800000,61200,61300.75,61100,61150.25,8.5
2024-03-01T02:00:00,61150.25,61180,60950,60990,20
"""
SYNONYMS_SEMICOLONS = """\
Open Time;O;H;L;C;Vol
2024-03-01 00:00:00;61000.5;61250;60900.1;61200;12.345
2024-03-01 01:00:00;61200;61300.75;61100;61150.25;8.5
2024-03-01 02:00:00;61150.25;61180;60950;60990;20
"""
# CryptoDataDownload's export: a banner line, newest first, volume in both assets (--symbol picks BTC).
BANNER_NEWEST_FIRST = """\
https://www.CryptoDataDownload.com
unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount
1709258400000,2024-03-01 02:00:00,BTC/USDT,61150.25,61180,60950,60990,20,1219800,2010
1709254800000,2024-03-01 01:00:00,BTC/USDT,61200,61300.75,61100,61150.25,8.5,519777.12,990
1709251200000,2024-03-01 00:00:00,BTC/USDT,61000.5,61250,60900.1,61200,12.345,754707.17,1520
"""
JSON_OBJECTS = json.dumps(
    [
        {
            "timestamp": "2024-03-01T00:00:00Z",
            "open": 61000.5,
            "high": 61250,
            "low": 60900.1,
            "close": 61200,
            "volume": 12.345,
        },
        {
            "timestamp": "2024-03-01T01:00:00Z",
            "open": 61200,
            "high": 61300.75,
            "low": 61100,
            "close": 61150.25,
            "volume": 8.5,
        },
        {
            "timestamp": "2024-03-01T02:00:00Z",
            "open": 61150.25,
            "high": 61180,
            "low": 60950,
            "close": 60990,
            "volume": 20,
        },
    ],
    indent=1,
)
JSON_KLINE_ARRAYS = """[
  [1709251200000, "61000.50", "61250.00", "60900.10", "61200.00", "12.345"],
  [1709254800000, "61200.00", "61300.75", "61100.00", "61150.25", "8.500"],
  [1709258400000, "61150.25", "61180.00", "60950.00", "60990.00", "20.000"]
]"""
HEADER = "timestamp,open,high,low,close,volume"


def write(tmp_path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return str(path)


def parquet(tmp_path, name: str, ts: pa.Array, **overrides: list) -> str:
    columns = {"ts": ts} | {
        key: pa.array(overrides.get(key, values), type=pa.float64()) for key, values in EXPECTED.items()
    }
    pq.write_table(pa.table(columns), tmp_path / name)
    return str(tmp_path / name)


def assert_expected(candles) -> None:
    assert candles.ts.tolist() == EXPECTED_TS
    for name, values in EXPECTED.items():
        assert getattr(candles, name).tolist() == values, name


def error_of(path: str, timeframe: str = "1h") -> str:
    with pytest.raises(InputError) as caught:
        read_candles(path, timeframe)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


def csv_rows(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


# ---------------------------------------------------------------- every format the importer reads


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("klines.csv", BINANCE_MS, id="binance-kline-ms"),
        pytest.param("klines.csv", BINANCE_US, id="binance-kline-microseconds"),
        pytest.param("c.csv", HEADER_ISO_AND_EPOCH_MS, id="csv-header-iso-and-epoch-ms"),
        pytest.param("c.txt", SYNONYMS_SEMICOLONS, id="csv-synonyms-semicolons"),
        pytest.param("Binance_BTCUSDT_1h.csv", BANNER_NEWEST_FIRST, id="csv-banner-newest-first"),
        pytest.param("c.json", JSON_OBJECTS, id="json-objects"),
        pytest.param("c.json", JSON_KLINE_ARRAYS, id="json-kline-arrays"),
    ],
)
def test_text_formats_read_to_the_same_candles(tmp_path, name, content):
    assert_expected(read_candles(write(tmp_path, name, content), "1h", "BTCUSDT"))


@pytest.mark.parametrize(
    "ts",
    [
        pytest.param(pa.array(EXPECTED_TS, type=pa.timestamp("ms", tz="UTC")), id="candle-schema"),
        pytest.param(
            pa.array([t // 1000 for t in EXPECTED_TS], type=pa.timestamp("s", tz="UTC")), id="timestamp-seconds"
        ),
        pytest.param(pa.array(EXPECTED_TS, type=pa.int64()), id="epoch-ms-integers"),
    ],
)
def test_parquet_reads_to_the_same_candles(tmp_path, ts):
    assert_expected(read_candles(parquet(tmp_path, "c.parquet", ts), "1h"))


def test_a_newest_first_file_is_one_order_and_comes_back_oldest_first(tmp_path):
    # Given the header CSV's rows in reverse (lines 2, 3, 4 = 02:00, 01:00, 00:00)
    lines = HEADER_ISO_AND_EPOCH_MS.splitlines()
    path = write(tmp_path, "newest-first.csv", "\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    assert_expected(read_candles(path, "1h"))


def test_without_a_symbol_two_volume_columns_are_ambiguous(tmp_path):
    path = write(tmp_path, "export.csv", BANNER_NEWEST_FIRST)
    assert error_of(path).startswith("line 2: no column for volume")


# ---------------------------------------------------------------- unreadable files


def test_a_missing_or_empty_file(tmp_path):
    assert error_of(str(tmp_path / "missing.csv")) == "cannot read: No such file or directory"
    assert error_of(write(tmp_path, "empty.csv", "")) == "the file is empty"


def test_a_broken_parquet_file(tmp_path):
    assert error_of(write(tmp_path, "broken.parquet", b"PAR1 this is not parquet")).startswith(
        "unreadable Parquet file"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            "timestamp,open,high,low,close\n2024-03-01T00:00:00Z,1,1,1,1\n", "line 1: no column for volume", id="header"
        ),
        pytest.param(
            csv_rows("2024-03-01T00:00:00Z,1,1,1,1,1", "2024-03-01T01:00:00Z,1,1,1,1"),
            "line 3: expected 6 fields, found 5",
            id="fields",
        ),
        pytest.param(
            csv_rows("2024-03-01T00:00:00Z,1,1,1,1,1", "yesterday,1,1,1,1,1"),
            "line 3: timestamp 'yesterday' is not a date-time",
            id="timestamp",
        ),
        pytest.param(csv_rows("2024-03-01T00:00:00Z,1,1,1,abc,1"), "line 2: close 'abc' is not a number", id="number"),
        pytest.param(
            csv_rows("2024-03-01T00:00:00Z,1,1,1,1,1", "2024-03-01T01:00:00Z,1,1,1,nan,1"),
            "line 3: close is empty or NaN",
            id="nan",
        ),
        pytest.param(
            csv_rows("2024-03-01T00:00:00Z,2,1.5,1,1.2,1"),
            "line 2: high 1.5 is below max(open 2.0, close 1.2)",
            id="high",
        ),
        pytest.param(
            csv_rows("2024-03-01T00:00:00Z,1,1,1,1,-3"), "line 2: volume must not be negative, got -3.0", id="volume"
        ),
        pytest.param(HEADER + "\n", "no candle rows found", id="no-rows"),
        pytest.param(
            '[{"timestamp": 1709251200000, "open": 1,\n  "high": 1, "low": 1, "close": 1, "volume": 1},\n {"timestamp": 1709254800000, "open": 0,\n  "high": 1, "low": 1, "close": 1, "volume": 1}]',
            "line 3 (item 2): open must be above 0, got 0.0",
            id="json-item",
        ),
    ],
)
def test_a_bad_text_file_names_its_first_bad_line(tmp_path, content, expected):
    assert error_of(write(tmp_path, "bad.txt", content)).startswith(expected)


def test_a_parquet_file_names_its_row(tmp_path):
    ts = pa.array(EXPECTED_TS, type=pa.timestamp("ms", tz="UTC"))
    path = parquet(tmp_path, "holes.parquet", ts, close=[61200.0, None, 60990.0])
    assert error_of(path) == "row 2: close is empty or NaN while the row has other prices"


def test_more_problems_are_counted_after_the_first(tmp_path):
    # Given three bad lines (3: high below close, 4: not a number, 5: negative volume)
    three = write(
        tmp_path,
        "three.csv",
        csv_rows(
            "2024-03-01T00:00:00Z,1,1,1,1,1",
            "2024-03-01T01:00:00Z,1,1,1,1.5,1",
            "2024-03-01T02:00:00Z,1,1,1,x,1",
            "2024-03-01T03:00:00Z,1,1,1,1,-1",
        ),
    )
    assert error_of(three) == "line 3: high 1.0 is below max(open 1.0, close 1.5) (and 2 more problems)"
    two = write(tmp_path, "two.csv", csv_rows("2024-03-01T00:00:00Z,1,1,1,x,1", "2024-03-01T01:00:00Z,1,1,1,y,1"))
    assert error_of(two) == "line 2: close 'x' is not a number (and 1 more problem)"


# ---------------------------------------------------------------- timestamps and --timeframe


def test_timestamps_must_lie_on_the_timeframe_boundaries(tmp_path):
    # Given half-hourly candles: fine as 30m, but 00:30 (line 3) is not on a 1h boundary
    path = write(
        tmp_path,
        "30m.csv",
        csv_rows(
            "2024-03-01T00:00:00Z,1,1,1,1,1",
            "2024-03-01T00:30:00Z,1,1,1,1,1",
            "2024-03-01T01:00:00Z,1,1,1,1,1",
        ),
    )
    assert read_candles(path, "30m").ts.tolist() == [T0_MS, T0_MS + HOUR_MS // 2, T0_MS + HOUR_MS]
    assert error_of(path, "1h") == "line 3: timestamp 2024-03-01T00:30:00Z is not on a 1h boundary"
    # 2024-03-01 was a Friday: a weekly candle must open on Monday 00:00 UTC
    assert error_of(path, "1w").startswith(
        "line 2: timestamp 2024-03-01T00:00:00Z is not on a 1w boundary (weeks start Monday"
    )


# ---------------------------------------------------------------- one order, no repeats


def test_rows_in_mixed_order_name_the_first_line_out_of_order(tmp_path):
    # Given ascending lines 2-3 (00:00, 02:00), then 01:00 on line 4 and 03:00 on line 5
    path = write(
        tmp_path,
        "mixed.csv",
        csv_rows(
            "2024-03-01T00:00:00Z,1,1,1,1,1",
            "2024-03-01T02:00:00Z,1,1,1,1,1",
            "2024-03-01T01:00:00Z,1,1,1,1,1",
            "2024-03-01T03:00:00Z,1,1,1,1,1",
        ),
    )
    assert error_of(path) == (
        "line 4: timestamp 2024-03-01T01:00:00Z is out of order: line 3 has 2024-03-01T02:00:00Z "
        "and the file starts in ascending time order"
    )


def test_a_newest_first_file_with_a_row_out_of_place(tmp_path):
    # Given descending lines 2-3 (03:00, 02:00), then 00:00 (line 4) and 01:00 (line 5, the break)
    path = write(
        tmp_path,
        "mixed.csv",
        csv_rows(
            "2024-03-01T03:00:00Z,1,1,1,1,1",
            "2024-03-01T02:00:00Z,1,1,1,1,1",
            "2024-03-01T00:00:00Z,1,1,1,1,1",
            "2024-03-01T01:00:00Z,1,1,1,1,1",
        ),
    )
    assert error_of(path) == (
        "line 5: timestamp 2024-03-01T01:00:00Z is out of order: line 4 has 2024-03-01T00:00:00Z "
        "and the file starts in descending time order"
    )


def test_a_parquet_file_in_mixed_order_names_its_row(tmp_path):
    ts = pa.array([T0_MS, T0_MS + 2 * HOUR_MS, T0_MS + HOUR_MS], type=pa.timestamp("ms", tz="UTC"))
    path = parquet(tmp_path, "mixed.parquet", ts, open=[1.0] * 3, high=[1.0] * 3, low=[1.0] * 3, close=[1.0] * 3)
    assert error_of(path).startswith("row 3: timestamp 2024-03-01T01:00:00Z is out of order: row 2 has")


def test_an_exact_duplicate_row_is_named_with_the_line_it_repeats(tmp_path):
    path = write(
        tmp_path,
        "dup.csv",
        csv_rows(
            "2024-03-01T00:00:00Z,1,1,1,1,1",
            "2024-03-01T01:00:00Z,1,1,1,1,1",
            "2024-03-01T01:00:00Z,1,1,1,1,1",
        ),
    )
    assert error_of(path) == "line 4: timestamp 2024-03-01T01:00:00Z repeats line 3 (duplicate row)"
    # Given a newest-first JSON file whose second item (line 3) repeats the first (line 2)
    newest_first = write(
        tmp_path,
        "dup-desc.json",
        (f"[\n[{T0_MS + HOUR_MS}, 1, 1, 1, 1, 1],\n[{T0_MS + HOUR_MS}, 1, 1, 1, 1, 1],\n[{T0_MS}, 1, 1, 1, 1, 1]\n]"),
    )
    assert (
        error_of(newest_first)
        == "line 3 (item 2): timestamp 2024-03-01T01:00:00Z repeats line 2 (item 1) (duplicate row)"
    )


def test_a_repeated_timestamp_with_other_values_is_the_validators_conflict(tmp_path):
    path = write(tmp_path, "conflict.csv", csv_rows("2024-03-01T00:00:00Z,1,1,1,1,1", "2024-03-01T00:00:00Z,1,1,1,1,2"))
    assert error_of(path) == (
        "line 3: timestamp 2024-03-01T00:00:00Z repeats line 2 with different values: volume 1.0 there, 2.0 here"
    )


def test_a_duplicate_and_a_break_in_order_count_as_two_problems(tmp_path):
    # Given the duplicate on line 3 and the out-of-order 00:00 on line 5
    path = write(
        tmp_path,
        "both.csv",
        csv_rows(
            "2024-03-01T01:00:00Z,1,1,1,1,1",
            "2024-03-01T01:00:00Z,1,1,1,1,1",
            "2024-03-01T02:00:00Z,1,1,1,1,1",
            "2024-03-01T00:00:00Z,1,1,1,1,1",
        ),
    )
    assert (
        error_of(path) == "line 3: timestamp 2024-03-01T01:00:00Z repeats line 2 (duplicate row) (and 1 more problem)"
    )
