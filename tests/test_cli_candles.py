"""The CLI's candle-file reader: Parquet and CSV in, one-line errors naming the row or line."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters.cli import InputError, read_candles
from shared.candles import Candles

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def sample_candles(n: int = 4) -> Candles:
    prices = 100.0 + np.arange(n)
    return Candles.from_arrays(T0 + HOUR * np.arange(n), prices, prices + 1, prices - 1, prices + 0.5, np.full(n, 7.0))


def write_csv(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_parquet_in_the_candle_schema_round_trips(tmp_path):
    candles = sample_candles()
    path = tmp_path / "candles.parquet"
    pq.write_table(candles.to_arrow(), path)
    loaded = read_candles(str(path))
    for name in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(candles, name))


def test_csv_accepts_iso_8601_and_epoch_milliseconds(tmp_path):
    path = write_csv(
        tmp_path / "c.csv",
        [
            "timestamp,open,high,low,close,volume",
            "2024-01-01T00:00:00Z,100,101,99,100.5,7",
            f"{T0 + HOUR},101,102,100,101.5,7",
            "2024-01-01T02:00:00,102,103,101,102.5,7",
        ],
    )
    loaded = read_candles(path)
    assert loaded.ts.tolist() == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert loaded.close.tolist() == [100.5, 101.5, 102.5]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["time,open,high,low,close,volume", "0,1,1,1,1,1"], "line 1: expected the header"),
        (["timestamp,open,high,low,close,volume", "2024-01-01T00:00:00Z,1,1,1,1"], "line 2: expected 6 fields, found 5"),
        (["timestamp,open,high,low,close,volume", "yesterday,1,1,1,1,1"], "line 2: timestamp 'yesterday'"),
        (["timestamp,open,high,low,close,volume", "0,1,1,1,abc,1"], "line 2: close 'abc' is not a number"),
        (["timestamp,open,high,low,close,volume", "0,1,1,1,1,1", "60000,1,1,1,nan,1"], "line 3: close is not a finite"),
        (["timestamp,open,high,low,close,volume", "60000,1,1,1,1,1", "60000,1,1,1,1,1"], "line 3: duplicate timestamp"),
        (["timestamp,open,high,low,close,volume", "60000,1,1,1,1,1", "0,1,1,1,1,1"], "line 3: out-of-order timestamp"),
        (["timestamp,open,high,low,close,volume"], "no candles after the header"),
    ],
)
def test_bad_csv_names_the_line(tmp_path, lines, message):
    with pytest.raises(InputError, match=message):
        read_candles(write_csv(tmp_path / "bad.csv", lines))


def test_bad_parquet_names_the_column_or_row(tmp_path):
    candles = sample_candles()
    without_volume = candles.to_arrow().drop_columns(["volume"])
    pq.write_table(without_volume, tmp_path / "a.parquet")
    with pytest.raises(InputError, match="missing column\\(s\\) volume"):
        read_candles(str(tmp_path / "a.parquet"))

    shuffled = Candles.from_arrays(candles.ts[[0, 2, 1, 3]], candles.open, candles.high, candles.low, candles.close, candles.volume)
    pq.write_table(shuffled.to_arrow(), tmp_path / "b.parquet")
    with pytest.raises(InputError, match="row 3: out-of-order timestamp"):
        read_candles(str(tmp_path / "b.parquet"))

    table = candles.to_arrow()
    holes = table.set_column(4, "close", pa.array([1.0, None, 2.0, 3.0], type=pa.float64()))
    pq.write_table(holes, tmp_path / "c.parquet")
    with pytest.raises(InputError, match="row 2: close is empty"):
        read_candles(str(tmp_path / "c.parquet"))


def test_unreadable_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_candles(str(tmp_path / "missing.parquet"))
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read_candles(str(tmp_path / "broken.parquet"))


def test_parquet_with_second_precision_or_integer_timestamps(tmp_path):
    candles = sample_candles()
    seconds = candles.to_arrow().set_column(0, "ts", pa.array(candles.ts // 1000, type=pa.int64()).cast(pa.timestamp("s", tz="UTC")))
    pq.write_table(seconds, tmp_path / "s.parquet")
    assert read_candles(str(tmp_path / "s.parquet")).ts.tolist() == candles.ts.tolist()
    integers = candles.to_arrow().set_column(0, "ts", pa.array(candles.ts, type=pa.int64()))
    pq.write_table(integers, tmp_path / "i.parquet")
    assert read_candles(str(tmp_path / "i.parquet")).ts.tolist() == candles.ts.tolist()
