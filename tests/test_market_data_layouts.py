"""Market data, the exporters' layouts: every sample of tests/fakes/exporter_files.py reads to the
same three candles (written out by hand there), and each refusal rule names its reason and line."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from shared.errors import ValidationFailed
from shared.market_data.parsing import parse_candle_file
from shared.market_data.validation import ImportRejected, validate_candles
from tests.fakes.exporter_files import EXPECTED, EXPECTED_TS, LAYOUTS, TWO_FILE_ZIP


def read(content: bytes, symbol: str = "BTCUSDT", timeframe: str = "1h"):
    return validate_candles(parse_candle_file(content, symbol), timeframe)


def refusal(content: bytes, symbol: str = "BTCUSDT") -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as refused:
        read(content, symbol)
    return [(e.field, e.message) for e in refused.value.errors]


@pytest.mark.parametrize("name", LAYOUTS)
def test_each_layout_reads_to_the_same_candles(name):
    sample = LAYOUTS[name]
    valid = read(sample.content, sample.symbol)
    assert valid.candles.ts.tolist() == EXPECTED_TS
    for field in ("open", "high", "low", "close"):
        assert getattr(valid.candles, field).tolist() == EXPECTED[field], field
    assert valid.candles.volume.tolist() == list(sample.volume)
    assert valid.rows_without_trades == sample.rows_without_trades


def test_headerless_layouts_are_named_by_their_exporter():
    assert read(LAYOUTS["binance-klines-ms"].content).format == "binance_kline_csv"
    assert read(LAYOUTS["kraken-ohlcvt"].content).format == "kraken_ohlcvt_csv"


# ---------------------------------------------------------------- day-first / month-first
def test_a_column_that_stays_ambiguous_is_refused_with_the_reason():
    content = b"Date,Open,High,Low,Close,Volume\n03/04/2024 00:00,1,1,1,1,1\n04/04/2024 00:00,1,1,1,1,1\n"
    [(field, message)] = refusal(content)
    assert field == "timestamp"
    assert "03/04/2024" in message and "day-first or month-first" in message


def test_one_date_past_the_12th_decides_the_whole_column():
    # 03/04 alone is ambiguous; 13/04 later in the file makes every date day-first (3 April).
    content = b"Date,Open,High,Low,Close,Volume\n03/04/2024,1,1,1,1,1\n13/04/2024,1,1,1,1,1\n"
    assert read(content, timeframe="1d").candles.ts.tolist() == [1712102400000, 1712966400000]


def test_a_column_mixing_both_layouts_is_refused():
    content = b"Date,Open,High,Low,Close,Volume\n13/04/2024,1,1,1,1,1\n04/13/2024,1,1,1,1,1\n"
    [(_field, message)] = refusal(content)
    assert "mix day-first and month-first" in message and "13/04/2024" in message and "04/13/2024" in message


def test_an_unreadable_date_names_its_line():
    content = LAYOUTS["dukascopy-gmt-time"].content.replace(b"17.10.2019 10:00:00.000", b"17.10.2019 25:99")
    assert refusal(content) == [("line 3", "timestamp '17.10.2019 25:99' is not a date-time")]


# ---------------------------------------------------------------- rows and cells
def test_thousands_separators_are_refused_naming_the_line():
    content = b'timestamp,open,high,low,close,volume\n2019-10-17 09:00,"8,000.5",8060,7990.1,8050,12.3\n'
    assert refusal(content) == [("line 2", "open '8,000.5' has a thousands separator; write numbers without one")]


def test_rows_without_any_price_are_gaps_counted_not_errors():
    # Given hours 9 and 12 traded, 10 and 11 written as empty and as NaN rows
    content = (
        b"timestamp,open,high,low,close,volume\n2019-10-17 09:00,1,2,1,2,5\n2019-10-17 10:00,,,,,\n"
        b"2019-10-17 11:00,NaN,NaN,NaN,NaN,0\n2019-10-17 12:00,2,3,2,3,1\n"
    )
    valid = read(content)
    assert valid.candles.ts.tolist() == [EXPECTED_TS[0], EXPECTED_TS[0] + 3 * 3_600_000]
    assert valid.rows_without_trades == 2


def test_a_row_with_some_prices_missing_is_an_error_naming_the_line():
    content = b"timestamp,open,high,low,close,volume\n2019-10-17 09:00,1,2,1,2,5\n2019-10-17 10:00,1,,NaN,2,5\n"
    assert refusal(content) == [
        ("line 3", "high is empty or NaN while the row has other prices"),
        ("line 3", "low is empty or NaN while the row has other prices"),
    ]


def test_a_file_of_rows_without_trades_only_imports_nothing():
    with pytest.raises(ImportRejected, match="no candles with trades"):
        read(b"timestamp,open,high,low,close,volume\n2019-10-17 09:00,,,,,\n")


# ---------------------------------------------------------------- archives
def test_a_zip_with_several_files_is_refused_naming_them():
    [(field, message)] = refusal(TWO_FILE_ZIP)
    assert field == "file"
    assert message == (
        "the zip archive holds 2 files (BTCUSDT-1h-2019-10.csv, BTCUSDT-1h-2019-11.csv); expected exactly one CSV"
    )


def test_a_broken_gzip_stream_is_refused():
    [(field, message)] = refusal(gzip.compress(b"timestamp,open\n" * 100)[:40])
    assert field == "file" and message.startswith("unreadable gzip file")


def test_the_metatrader_tick_volume_is_used_only_when_every_vol_is_zero():
    volumes = read(LAYOUTS["metatrader5"].content).candles.volume
    np.testing.assert_array_equal(volumes, EXPECTED["volume"])
