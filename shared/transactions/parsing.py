"""Read a trade-history file into fills, naming every bad line; a file with any bad line imports nothing.

Formats (CSV with a header row, `,` `;` or tab; JSON as an array of objects):

- Binance's spot trade-history export, `Date(UTC),Pair,Side,Price,Executed,Amount,Fee`, where
  Executed and Fee carry their asset (`0.00100000BTC`, `0.0421 BNB`); and its older layout
  `Date(UTC),Market,Type,Price,Amount,Total,Fee,Fee Coin`. Neither has trade ids.
- The generic layout, CSV columns or JSON keys (names case-insensitive, other columns ignored):
  `time` (ISO-8601, `YYYY-MM-DD HH:MM:SS` UTC, or epoch s/ms/µs/ns), `symbol` (`BTCUSDT`,
  `BTC/USDT`, `BTC-USDT`), `side` (buy|sell), `price` (quote asset per unit, > 0), `quantity`
  (base asset, > 0), optional `fee` (>= 0, default 0), `fee_asset` (default: the quote asset) and
  `id` (the exchange's trade id).
- JSON objects as Binance's `GET /api/v3/myTrades` returns them (`symbol, id, price, qty,
  commission, commissionAsset, time, isBuyer`), e.g. saved from the API.

Rows without an id get one from their content (see `shared.transactions.model`). A row repeated
with the same id and the same values is a duplicate and dropped; the same id with other values is
an error naming both lines.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared import json_limits
from shared.errors import FieldError
from shared.market_data.parsing import JsonItemLocator, parse_timestamp_text
from shared.market_data.validation import MAX_REPORTED_PROBLEMS, ImportRejected
from shared.transactions.model import BUY, SELL, Fill, content_transaction_id, split_symbol

FILE_FORMATS = ("csv", "json")
FORMAT_BINANCE_EXPORT = "binance_trade_history"
FORMAT_BINANCE_EXPORT_LEGACY = "binance_trade_history_legacy"
FORMAT_GENERIC_CSV = "generic_csv"
FORMAT_GENERIC_JSON = "generic_json"
FORMAT_BINANCE_API = "binance_my_trades"

EARLIEST_MS = 1_230_768_000_000  # 2009-01-01: no crypto trade is older
LATEST_MS = 4_102_444_800_000  # 2100-01-01
MAX_ID_LENGTH = 64
GENERIC_COLUMNS = ("time", "symbol", "side", "price", "quantity", "fee", "fee_asset", "id")
REQUIRED_GENERIC = ("time", "symbol", "side", "price", "quantity")

_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")
_SYMBOL_SEPARATORS = re.compile(r"[/\-_ ]")
_ASSET = re.compile(r"^[A-Z0-9]{1,20}$")
_AMOUNT = re.compile(r"^([+-]?[0-9][0-9,]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z][A-Za-z0-9]*)?$")
_THOUSANDS = re.compile(r"^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$")
_PRINTABLE_ID = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True)
class ParsedFile:
    format: str
    fills: list[Fill]  # file order, duplicates dropped
    rows_in_file: int
    duplicates_dropped: int


@dataclass(frozen=True)
class _Row:
    """One row's fields under the generic names, as text or JSON values, and where it is."""

    place: str
    values: Mapping[str, Any]


class _Problems:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, place: str, message: str) -> None:
        self.items.append(FieldError(place, message))

    def reject_if_any(self, what: str) -> None:
        if self.items:
            total = len(self.items)
            shown = "" if total <= MAX_REPORTED_PROBLEMS else f"; the first {MAX_REPORTED_PROBLEMS} are listed"
            raise ImportRejected(
                f"{what}: {total} problem{'s' if total != 1 else ''}{shown}", self.items[:MAX_REPORTED_PROBLEMS], total
            )


def file_rejected(message: str, place: str = "file") -> ImportRejected:
    return ImportRejected(message, [FieldError(place, message)], 1)


def parse_transaction_file(content: bytes, file_format: str, exchange: str) -> ParsedFile:
    """Every fill of the file, or ImportRejected naming each bad line (nothing is imported then)."""
    if file_format not in FILE_FORMATS:
        raise file_rejected(f"file_format must be one of {', '.join(FILE_FORMATS)}", "file_format")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise file_rejected(f"the file is not UTF-8 text (byte {error.start})") from None
    if not text.strip():
        raise file_rejected("the file is empty")
    fmt, rows = _json_rows(text) if file_format == "json" else _csv_rows(text)
    return _fills(fmt, rows, exchange)


def fills_from_my_trades(records: list[dict[str, Any]], exchange: str) -> list[Fill]:
    """Binance `myTrades` records (as the API returns them) as fills; ImportRejected naming the
    record (`trade 3 (id 28457)`) for any that cannot be read. An account may have none."""
    if not records:
        return []
    rows = [
        _Row(f"trade {i + 1} (id {record.get('id')})", _my_trade_values(record)) for i, record in enumerate(records)
    ]
    return _fills(FORMAT_BINANCE_API, rows, exchange).fills


# ------------------------------------------------------------------ CSV
def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def _csv_rows(text: str) -> tuple[str, list[_Row]]:
    lines = text.splitlines()
    header_index = next(i for i, line in enumerate(lines) if line.strip())
    header_line = lines[header_index]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for _ in range(header_index + 1):
        header = next(reader)
    names = [_normalise(name) for name in header]
    fmt, extract = _csv_layout(names, header_index + 1)
    rows = []
    line = reader.line_num
    for cells in reader:
        first_line, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        row = dict(zip(names, (cell.strip() for cell in cells)))
        place = f"line {first_line}"
        if len(cells) != len(names):
            row["_shape"] = f"has {len(cells)} fields, the header has {len(names)}"
        rows.append(_Row(place, extract(row)))
    return fmt, rows


def _csv_layout(names: list[str], header_line: int) -> tuple[str, Callable[[dict[str, str]], dict[str, Any]]]:
    """The format a header announces and how to map its rows to the generic fields."""
    present = set(names)
    if {"date_utc", "pair", "side", "price", "executed", "fee"} <= present:
        return FORMAT_BINANCE_EXPORT, _binance_export_values
    if {"date_utc", "market", "type", "price", "amount", "fee", "fee_coin"} <= present:
        return FORMAT_BINANCE_EXPORT_LEGACY, _binance_legacy_values
    missing = [name for name in REQUIRED_GENERIC if name not in present]
    if missing:
        raise file_rejected(
            f"the header has no {', '.join(missing)} column; expected the generic columns "
            f"{', '.join(GENERIC_COLUMNS)} (fee, fee_asset and id optional) or Binance's trade-history export "
            "(Date(UTC), Pair, Side, Price, Executed, Amount, Fee)",
            f"line {header_line}",
        )
    return FORMAT_GENERIC_CSV, _generic_values


def _generic_values(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in (*GENERIC_COLUMNS, "_shape") if name in row}


def _binance_export_values(row: Mapping[str, str]) -> dict[str, Any]:
    """Executed `0.00100000BTC` and Fee `0.0421 BNB` carry their assets."""
    quantity, _ = _split_amount(row.get("executed", ""))
    fee, fee_asset = _split_amount(row.get("fee", ""))
    values = {
        "time": row.get("date_utc", ""),
        "symbol": row.get("pair", ""),
        "side": row.get("side", ""),
        "price": row.get("price", ""),
        "quantity": quantity,
        "fee": fee,
        "fee_asset": fee_asset or "",
    }
    return values | ({"_shape": row["_shape"]} if "_shape" in row else {})


def _binance_legacy_values(row: Mapping[str, str]) -> dict[str, Any]:
    values = {
        "time": row.get("date_utc", ""),
        "symbol": row.get("market", ""),
        "side": row.get("type", ""),
        "price": row.get("price", ""),
        "quantity": row.get("amount", ""),
        "fee": row.get("fee", ""),
        "fee_asset": row.get("fee_coin", ""),
    }
    return values | ({"_shape": row["_shape"]} if "_shape" in row else {})


def _split_amount(text: str) -> tuple[str, str | None]:
    """`0.00100000BTC` -> ("0.00100000", "BTC"); text that does not match is returned whole (and
    then reported as not a number)."""
    match = _AMOUNT.match(text.strip())
    return (match[1], match[2]) if match else (text, None)


# ------------------------------------------------------------------ JSON
def _json_rows(text: str) -> tuple[str, list[_Row]]:
    if json_limits.nesting_depth(text.encode()) > json_limits.MAX_DEPTH:
        raise file_rejected(f"nests arrays and objects more than {json_limits.MAX_DEPTH} levels deep", "line 1")
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise file_rejected(f"not valid JSON: {error.msg}", f"line {error.lineno}") from None
    if not isinstance(items, list):
        raise file_rejected("expected a JSON array of transaction objects", "line 1")
    locator = JsonItemLocator(text)
    rows, api_shaped = [], 0
    for index, item in enumerate(items):
        place = locator.describe(index)
        if not isinstance(item, dict):
            rows.append(_Row(place, {"_shape": "is not a JSON object"}))
        elif "isBuyer" in item:
            api_shaped += 1
            rows.append(_Row(place, _my_trade_values(item)))
        else:
            rows.append(_Row(place, {name.lower(): value for name, value in item.items()}))
    return (FORMAT_BINANCE_API if items and api_shaped == len(items) else FORMAT_GENERIC_JSON), rows


def _my_trade_values(record: Mapping[str, Any]) -> dict[str, Any]:
    is_buyer = record.get("isBuyer")
    side = BUY if is_buyer is True else SELL if is_buyer is False else f"isBuyer={is_buyer!r}"
    return {
        "time": record.get("time"),
        "symbol": record.get("symbol"),
        "side": side,
        "price": record.get("price"),
        "quantity": record.get("qty"),
        "fee": record.get("commission"),
        "fee_asset": record.get("commissionAsset"),
        "id": record.get("id"),
    }


# ------------------------------------------------------------------ rows -> fills
def _fills(fmt: str, rows: list[_Row], exchange: str) -> ParsedFile:
    if not rows:
        raise file_rejected("the file has no transactions")
    problems = _Problems()
    fills: list[Fill] = []
    first_seen: dict[tuple[str, str, str], tuple[Fill, str]] = {}
    identical_rank: dict[tuple[Any, ...], int] = {}
    duplicates = 0
    for row in rows:
        fill = _fill(row, exchange, problems, identical_rank)
        if fill is None:
            continue
        earlier = first_seen.get(fill.identity)
        if earlier is None:
            first_seen[fill.identity] = (fill, row.place)
            fills.append(fill)
        elif earlier[0] == fill:
            duplicates += 1
        else:
            problems.add(row.place, f"transaction id {fill.transaction_id} is also on {earlier[1]} with other values")
    problems.reject_if_any("the file has invalid transactions")
    return ParsedFile(fmt, fills, len(rows), duplicates)


def _fill(row: _Row, exchange: str, problems: _Problems, identical_rank: dict[tuple[Any, ...], int]) -> Fill | None:
    values, before = row.values, len(problems.items)

    def problem(message: str) -> None:
        problems.add(row.place, message)

    if "_shape" in values:
        problem(values["_shape"])
        return None
    time_ms = _time(values.get("time"), problem)
    symbol = _symbol(values.get("symbol"), problem)
    side = _side(values.get("side"), problem)
    price = _number(values.get("price"), "price", problem, positive=True)
    quantity = _number(values.get("quantity"), "quantity", problem, positive=True)
    fee_value = values.get("fee")
    fee = 0.0 if fee_value in (None, "") else _number(fee_value, "fee", problem, positive=False)
    fee_asset = _fee_asset(values.get("fee_asset"), symbol, problem)
    transaction_id = _identifier(values.get("id"), problem)
    assets = split_symbol(symbol)
    if assets and fee_asset == assets[0] and fee >= quantity > 0:
        problem(f"fee {fee!r} {fee_asset} must be less than the quantity {quantity!r} {fee_asset}")
    if len(problems.items) > before:
        return None
    if transaction_id is None:
        content = (time_ms, symbol, side, price, quantity, fee, fee_asset)
        rank = identical_rank.get(content, 0)
        identical_rank[content] = rank + 1
        transaction_id = content_transaction_id(*content, rank)
    return Fill(exchange, transaction_id, symbol, side, price, quantity, fee, fee_asset, time_ms)


def _time(value: Any, problem: Callable[[str], None]) -> int:
    if isinstance(value, bool) or value in (None, ""):
        problem("time is missing")
        return 0
    if isinstance(value, (int, float)):
        parsed = parse_timestamp_text(repr(value) if isinstance(value, float) else str(value))
    else:
        parsed = parse_timestamp_text(str(value))
    if parsed is None:
        problem(f"time {value!r} is not an ISO-8601 date-time or epoch number")
        return 0
    if not EARLIEST_MS <= parsed < LATEST_MS:
        problem(f"time {value!r} is outside 2009-2099")
    return parsed


def _symbol(value: Any, problem: Callable[[str], None]) -> str:
    symbol = _SYMBOL_SEPARATORS.sub("", str(value or "")).upper()
    if value is None or value == "":
        problem("symbol is missing")
    elif not _SYMBOL.match(symbol):
        problem(f"symbol {value!r} is not a trading pair such as BTCUSDT")
    return symbol


def _side(value: Any, problem: Callable[[str], None]) -> str:
    side = str(value or "").strip().lower()
    if value is None or value == "":
        problem("side is missing")
    elif side not in (BUY, SELL):
        problem(f"side {value!r} must be buy or sell")
    return side


def _number(value: Any, name: str, problem: Callable[[str], None], positive: bool) -> float:
    if isinstance(value, bool) or value is None or value == "":
        problem(f"{name} is missing")
        return 0.0
    text = str(value).strip()
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    try:
        number = float(text)
    except ValueError:
        problem(f"{name} {value!r} is not a number")
        return 0.0
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        problem(f"{name} {value!r} must be {'greater than 0' if positive else 'at least 0'}")
    return number


def _fee_asset(value: Any, symbol: str, problem: Callable[[str], None]) -> str | None:
    """The fee's asset; the quote asset when none is given (None when the pair's quote is unknown)."""
    asset = str(value or "").strip().upper()
    if not asset:
        assets = split_symbol(symbol)
        return assets[1] if assets else None
    if not _ASSET.match(asset):
        problem(f"fee_asset {value!r} is not an asset such as USDT or BNB")
    return asset


def _identifier(value: Any, problem: Callable[[str], None]) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        problem(f"id {value!r} must be a string or an integer")
        return None
    text = str(value).strip()
    if len(text) > MAX_ID_LENGTH or not _PRINTABLE_ID.match(text):
        problem(f"id {value!r} must be 1 to {MAX_ID_LENGTH} printable characters without spaces")
    return text
