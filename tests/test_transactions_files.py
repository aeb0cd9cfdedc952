"""Trade-history files: each format read into fills, every bad line named, nothing taken from a bad file."""

from __future__ import annotations

import json

import pytest

from shared.market_data.validation import ImportRejected
from shared.transactions.model import Fill, content_transaction_id
from shared.transactions.parsing import (
    FORMAT_BINANCE_API,
    FORMAT_BINANCE_EXPORT,
    FORMAT_BINANCE_EXPORT_LEGACY,
    FORMAT_GENERIC_CSV,
    FORMAT_GENERIC_JSON,
    fills_from_my_trades,
    parse_transaction_file,
)

JAN_1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOUR = 3_600_000


def rejected(content: bytes | str, file_format: str = "csv") -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        parse_transaction_file(content.encode() if isinstance(content, str) else content, file_format, "binance")
    return caught.value


def problems(error: ImportRejected) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in error.errors]


# ---------------------------------------------------------------- generic CSV
def test_generic_csv_reads_every_column_and_each_time_notation():
    content = (
        "time,symbol,side,price,quantity,fee,fee_asset,id\n"
        "2024-01-01T00:00:00Z,BTCUSDT,buy,42000.5,0.25,10.5,USDT,t1\n"
        "2024-01-01T03:00:00+02:00,BTC/USDT,SELL,42100,0.1,0.0001,BTC,t2\n"
        "2024-01-01 02:00:00,btc-usdt,Sell,42200,0.05,0.01,BNB,t3\n"
        f"{JAN_1 + 3 * HOUR},BTCUSDT,buy,42300,1,0,,t4\n"
        f"{(JAN_1 + 4 * HOUR) // 1000},BTCUSDT,buy,42400,2,,,t5\n"
    )
    parsed = parse_transaction_file(content.encode(), "csv", "binance")
    assert (parsed.format, parsed.rows_in_file, parsed.duplicates_dropped) == (FORMAT_GENERIC_CSV, 5, 0)
    assert parsed.fills == [
        Fill("binance", "t1", "BTCUSDT", "buy", 42000.5, 0.25, 10.5, "USDT", JAN_1),
        # +02:00 is one hour UTC; symbols lose their separators; sides any case
        Fill("binance", "t2", "BTCUSDT", "sell", 42100.0, 0.1, 0.0001, "BTC", JAN_1 + HOUR),
        Fill("binance", "t3", "BTCUSDT", "sell", 42200.0, 0.05, 0.01, "BNB", JAN_1 + 2 * HOUR),
        # epoch milliseconds and seconds; no fee asset means the quote asset, no fee means 0
        Fill("binance", "t4", "BTCUSDT", "buy", 42300.0, 1.0, 0.0, "USDT", JAN_1 + 3 * HOUR),
        Fill("binance", "t5", "BTCUSDT", "buy", 42400.0, 2.0, 0.0, "USDT", JAN_1 + 4 * HOUR),
    ]


def test_generic_csv_header_is_case_insensitive_other_columns_ignored_semicolons_accepted():
    content = "Note;SYMBOL;Time;Side;Price;Quantity;Id\nfirst;ETHUSDT;2024-01-01T00:00:00Z;buy;2000;1.5;77\n"
    parsed = parse_transaction_file(content.encode(), "csv", "kraken")
    assert parsed.fills == [Fill("kraken", "77", "ETHUSDT", "buy", 2000.0, 1.5, 0.0, "USDT", JAN_1)]


def test_rows_without_id_get_a_content_id_the_same_on_every_import_and_identical_rows_stay_distinct():
    content = (
        "time,symbol,side,price,quantity\n"
        "2024-01-01T00:00:00Z,BTCUSDT,buy,100,1\n"
        "2024-01-01T00:00:00Z,BTCUSDT,buy,100,1\n"
    )
    first = parse_transaction_file(content.encode(), "csv", "binance").fills
    again = parse_transaction_file(content.encode(), "csv", "binance").fills
    assert [f.transaction_id for f in first] == [f.transaction_id for f in again]
    expected = [content_transaction_id(JAN_1, "BTCUSDT", "buy", 100.0, 1.0, 0.0, "USDT", rank) for rank in (0, 1)]
    assert [f.transaction_id for f in first] == expected
    assert expected[0] != expected[1] and expected[0].startswith("row-")


# ---------------------------------------------------------------- Binance exports
def test_binance_trade_history_export_takes_assets_from_executed_and_fee():
    content = (
        "Date(UTC),Pair,Side,Price,Executed,Amount,Fee\n"
        "2024-01-01 00:00:00,BTCUSDT,BUY,42000.00,0.00100000BTC,42.00000000USDT,0.00000100BTC\n"
        '2024-01-01 01:00:00,BTCUSDT,SELL,"43,000.00",0.000999 BTC,42.957 USDT,0.0421 BNB\n'
    )
    parsed = parse_transaction_file(content.encode(), "csv", "binance")
    assert parsed.format == FORMAT_BINANCE_EXPORT
    assert [(f.side, f.price, f.quantity, f.fee, f.fee_asset, f.time_ms) for f in parsed.fills] == [
        ("buy", 42000.0, 0.001, 0.000001, "BTC", JAN_1),
        ("sell", 43000.0, 0.000999, 0.0421, "BNB", JAN_1 + HOUR),
    ]
    assert all(f.transaction_id.startswith("row-") for f in parsed.fills)


def test_binance_legacy_export_layout():
    content = (
        "Date(UTC),Market,Type,Price,Amount,Total,Fee,Fee Coin\n2024-01-01 00:00:00,ETHBTC,SELL,0.05,2,0.1,0.0001,BTC\n"
    )
    parsed = parse_transaction_file(content.encode(), "csv", "binance")
    assert parsed.format == FORMAT_BINANCE_EXPORT_LEGACY
    assert [(f.symbol, f.side, f.price, f.quantity, f.fee, f.fee_asset) for f in parsed.fills] == [
        ("ETHBTC", "sell", 0.05, 2.0, 0.0001, "BTC")
    ]


# ---------------------------------------------------------------- JSON
def test_generic_json_objects():
    items = [
        {
            "time": "2024-01-01T00:00:00Z",
            "symbol": "SOLUSDT",
            "side": "buy",
            "price": 100,
            "quantity": 3,
            "fee": 0.3,
            "fee_asset": "USDT",
            "id": 9,
        },
        {"Time": JAN_1 + HOUR, "Symbol": "SOLUSDT", "Side": "sell", "Price": "110", "Quantity": "3"},
    ]
    parsed = parse_transaction_file(json.dumps(items).encode(), "json", "binance")
    assert parsed.format == FORMAT_GENERIC_JSON
    assert parsed.fills[0] == Fill("binance", "9", "SOLUSDT", "buy", 100.0, 3.0, 0.3, "USDT", JAN_1)
    assert (parsed.fills[1].side, parsed.fills[1].price, parsed.fills[1].time_ms) == ("sell", 110.0, JAN_1 + HOUR)


MY_TRADE = {
    "symbol": "BNBBTC",
    "id": 28457,
    "orderId": 100234,
    "orderListId": -1,
    "price": "4.00000100",
    "qty": "12.00000000",
    "quoteQty": "48.000012",
    "commission": "10.10000000",
    "commissionAsset": "BNB",
    "time": 1499865549590,
    "isBuyer": True,
    "isMaker": False,
    "isBestMatch": True,
}


def test_json_saved_from_binance_my_trades():
    sold = MY_TRADE | {"id": 28458, "isBuyer": False, "commission": "0.0001", "commissionAsset": "BTC"}
    parsed = parse_transaction_file(json.dumps([MY_TRADE, sold]).encode(), "json", "binance")
    assert parsed.format == FORMAT_BINANCE_API
    assert parsed.fills == [
        Fill("binance", "28457", "BNBBTC", "buy", 4.000001, 12.0, 10.1, "BNB", 1499865549590),
        Fill("binance", "28458", "BNBBTC", "sell", 4.000001, 12.0, 0.0001, "BTC", 1499865549590),
    ]
    assert fills_from_my_trades([MY_TRADE], "binance") == parsed.fills[:1]


# ---------------------------------------------------------------- duplicates inside a file
def test_a_row_repeated_with_the_same_id_is_dropped_and_counted():
    row = "2024-01-01T00:00:00Z,BTCUSDT,buy,100,1,0,USDT,a1\n"
    parsed = parse_transaction_file(
        f"time,symbol,side,price,quantity,fee,fee_asset,id\n{row}{row}".encode(), "csv", "binance"
    )
    assert (len(parsed.fills), parsed.rows_in_file, parsed.duplicates_dropped) == (1, 2, 1)


def test_the_same_id_with_other_values_names_both_lines():
    content = (
        "time,symbol,side,price,quantity,id\n"
        "2024-01-01T00:00:00Z,BTCUSDT,buy,100,1,a1\n"
        "2024-01-01T00:00:00Z,BTCUSDT,buy,101,1,a1\n"
    )
    assert problems(rejected(content)) == [("line 3", "transaction id a1 is also on line 2 with other values")]


# ---------------------------------------------------------------- bad files
def test_every_bad_line_is_named_and_the_file_yields_nothing():
    content = (
        "time,symbol,side,price,quantity,fee,fee_asset,id\n"
        "2024-01-01T00:00:00Z,BTCUSDT,buy,100,1,0,USDT,ok\n"
        "yesterday,BTCUSDT,hold,-1,0,,,\n"
        "\n"
        "2024-01-01T00:00:00Z,BTC USDT!,buy,abc,1,-2,US DT,\n"
        "2024-01-01T00:00:00Z,BTCUSDT,buy,100\n"
        "1999-01-01T00:00:00Z,BTCUSDT,buy,100,1,0,BTC,has space\n"
        "2024-01-01T00:00:00Z,BTCUSDT,buy,100,1,1,BTC,fee-all\n"
    )
    error = rejected(content)
    assert problems(error) == [
        ("line 3", "time 'yesterday' is not an ISO-8601 date-time or epoch number"),
        ("line 3", "side 'hold' must be buy or sell"),
        ("line 3", "price '-1' must be greater than 0"),
        ("line 3", "quantity '0' must be greater than 0"),
        ("line 5", "symbol 'BTC USDT!' is not a trading pair such as BTCUSDT"),
        ("line 5", "price 'abc' is not a number"),
        ("line 5", "fee '-2' must be at least 0"),
        ("line 5", "fee_asset 'US DT' is not an asset such as USDT or BNB"),
        ("line 6", "has 4 fields, the header has 8"),
        ("line 7", "time '1999-01-01T00:00:00Z' is outside 2009-2099"),
        ("line 7", "id 'has space' must be 1 to 64 printable characters without spaces"),
        ("line 8", "fee 1.0 BTC must be less than the quantity 1.0 BTC"),
    ]
    assert error.problem_count == 12 and "12 problems" in error.message


def test_json_problems_name_the_line_and_item():
    text = (
        '[\n  {"time": "2024-01-01T00:00:00Z", "symbol": "BTCUSDT", "side": "buy", "price": 1, "quantity": 1},\n'
        '  {"symbol": "BTCUSDT", "side": "buy", "price": true, "quantity": 1},\n  7\n]'
    )
    assert problems(rejected(text, "json")) == [
        ("line 3 (item 2)", "time is missing"),
        ("line 3 (item 2)", "price is missing"),
        ("line 4 (item 3)", "is not a JSON object"),
    ]


@pytest.mark.parametrize(
    "content, file_format, expected",
    [
        ("", "csv", ("file", "the file is empty")),
        (b"\xff\xfe\x00", "csv", ("file", "the file is not UTF-8 text (byte 0)")),
        (
            "time,symbol,side\n",
            "csv",
            (
                "line 1",
                "the header has no price, quantity column; expected the generic "
                "columns time, symbol, side, price, quantity, fee, fee_asset, id (fee, "
                "fee_asset and id optional) or Binance's trade-history export "
                "(Date(UTC), Pair, Side, Price, Executed, Amount, Fee)",
            ),
        ),
        ("time,symbol,side,price,quantity\n", "csv", ("file", "the file has no transactions")),
        ('[{"time": 1,', "json", ("line 1", "not valid JSON: Expecting property name enclosed in double quotes")),
        ('{"time": 1}', "json", ("line 1", "expected a JSON array of transaction objects")),
        ("time,symbol,side,price,quantity\n", "xlsx", ("file_format", "file_format must be one of csv, json")),
    ],
)
def test_files_that_cannot_be_read_at_all(content, file_format, expected):
    assert problems(rejected(content, file_format)) == [expected]


def test_at_most_100_problems_are_listed_with_the_total():
    content = "time,symbol,side,price,quantity\n" + "2024-01-01T00:00:00Z,BTCUSDT,buy,0,1\n" * 150
    error = rejected(content)
    assert len(error.errors) == 100 and error.problem_count == 150
    assert error.errors[-1].field == "line 101"
    assert error.message == "the file has invalid transactions: 150 problems; the first 100 are listed"
