"""Detect a candle file's format and read it into raw columns, remembering where each row came from.

Formats are recognised from the content, never from a file name or a declared type:

- Binance kline CSV: no header, 12 columns, open time in milliseconds or microseconds
  (Binance's public spot files switched to microseconds in 2025; both occur). Kraken's OHLCVT:
  no header, 7 columns (time in seconds, OHLC, volume, trade count).
- OHLCV CSV with a header row: columns found by name, case-insensitively, with common synonyms
  (`date`/`time`/`timestamp`/`Gmt time`/`Datetime`, `vol`, `Volume BTC`, `Volume_(BTC)`,
  MetaTrader's `<DATE>` `<TIME>` `<OPEN>` ... `<VOL>`, or `<TICKVOL>` when every `<VOL>` is 0);
  other columns (`Adj Close`, trade counts, quote volumes) are ignored; banner lines above the header
  (CryptoDataDownload style) are skipped; rows may be in any order. Timestamps: see `timestamps`.
- JSON: an array of objects (keys named like CSV columns) or of arrays (Binance kline order).
- Parquet: columns named like CSV columns; `ts` as a timestamp of any unit and zone, epoch integer or text.
- Any of these gzip-compressed, or as the one file of a zip archive (exchanges' public dumps).
- A byte-order mark, CRLF line ends and quoted fields are read as such; numbers with thousands
  separators (`1,234.5`) are refused naming the line. A row whose prices are all empty or NaN is a
  period without trades (`RawCandles.without_trades`): a gap, not an error.

Parsing never judges candles (validation does). A cell that cannot be read becomes NaN and a
`RowProblem` naming it, so one pass reports every bad line. Clean CSV is read by pyarrow in one
vectorised pass; a file that pass cannot read is re-read row by row in Python, whose only job is
to say exactly which line is wrong and why.

pyarrow.compute (~40 ms of import) is imported only where it is needed, so reading a Parquet file
in the candle schema (the `backtest` CLI's usual input) does not pay for it; Parquet is read with
`ParquetFile`, not `read_table`, which would import pyarrow.dataset (~70 ms).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from shared.candles import PRICE_FIELDS
from shared.errors import FieldError, ValidationFailed
from shared.market_data.contract import MAX_IMPORT_BYTES
from shared.times import EPOCH, parse_iso_utc

FORMAT_BINANCE_CSV = "binance_kline_csv"
FORMAT_KRAKEN_CSV = "kraken_ohlcvt_csv"
FORMAT_OHLCV_CSV = "ohlcv_csv"
FORMAT_JSON = "json"
FORMAT_PARQUET = "parquet"
FORMAT_BINANCE_API = "binance_api"

# A header is looked for among the first lines only; exports put at most a line or two above it.
MAX_BANNER_LINES = 10
HEAD_BYTES = 1 << 16

# Normalised column names accepted for each field, best first. Names are lower-cased and every run of
# non-alphanumerics becomes "_": "Open Time" -> "open_time", "Volume (BTC)" -> "volume_btc".
TIME_SYNONYMS = (
    "open_time",
    "timestamp",
    "unix",
    "unix_timestamp",
    "datetime",
    "date_time",
    "gmt_time",
    "utc_time",
    "time_open",
    "start_time",
    "time",
    "date",
    "ts",
    "t",
)
FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "open": ("open", "o", "open_price", "opening_price", "price_open"),
    "high": ("high", "h", "high_price", "price_high", "max"),
    "low": ("low", "l", "low_price", "price_low", "min"),
    "close": ("close", "c", "close_price", "closing_price", "price_close", "last"),
    "volume": ("volume", "vol", "v", "base_volume", "volume_base", "base_asset_volume"),
}
# MetaTrader writes `<VOL>` (exchange volume, all 0 for most CFDs) and `<TICKVOL>` (ticks in the bar).
TICK_VOLUME_NAMES = ("tickvol", "tick_volume")
# Per-asset volume columns that are never the base asset's.
QUOTE_VOLUME_ASSETS = ("currency", "quote")
_THOUSANDS = re.compile(r"^\s*[+-]?\d{1,3}([,.' ]\d{3})+([.,]\d+)?\s*$")
_TIME_OF_DAY = re.compile(r"^\s*\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*$")
_NUMBER = r"^\s*[+-]?\d+(\.\d*)?([eE][+-]?\d+)?\s*$"
_INTEGER = r"^\s*[+-]?\d+\s*$"


@dataclass(frozen=True)
class RowProblem:
    """A cell or row that could not be read; `row` is the row's index in file order."""

    row: int
    message: str


class RowLocator(Protocol):
    def describe(self, row: int) -> str:
        """Where row `row` (0-based, file order) is in the file, e.g. `line 12`."""


@dataclass(frozen=True)
class LineLocator:
    """CSV rows: consecutive lines from `first_line`, or explicit `lines` when blank lines interleave."""

    first_line: int
    lines: NDArray[Any] | None = None

    def describe(self, row: int) -> str:
        line = self.first_line + row if self.lines is None else int(self.lines[row])
        return f"line {line}"


@dataclass(frozen=True)
class OrdinalLocator:
    """Rows known by position only (Parquet rows, klines from the Binance API)."""

    noun: str

    def describe(self, row: int) -> str:
        return f"{self.noun} {row + 1}"


@dataclass(eq=False)
class JsonItemLocator:
    """JSON items: the line each item starts on, found only when a message needs it."""

    text: str
    _item_lines: list[int] | None = field(default=None, repr=False)

    def describe(self, row: int) -> str:
        if self._item_lines is None:
            self._item_lines = _json_item_lines(self.text)
        return f"line {self._item_lines[row]} (item {row + 1})"


@dataclass(frozen=True, eq=False)
class RawCandles:
    """Columns as read, in file order (not yet sorted, deduplicated or checked)."""

    format: str
    ts: NDArray[Any]  # int64 epoch ms; meaningless where a problem names the row's timestamp
    open: NDArray[Any]
    high: NDArray[Any]
    low: NDArray[Any]
    close: NDArray[Any]
    volume: NDArray[Any]
    problems: tuple[RowProblem, ...]
    locator: RowLocator
    # Rows whose open, high, low and close are all empty or NaN (periods without trades).
    without_trades: NDArray[Any] | None = None

    def __len__(self) -> int:
        return len(self.ts)


def file_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, [FieldError("file", message)])


def parse_candle_file(content: bytes, symbol: str | None = None) -> RawCandles:
    """Detect the format of `content` and read it. `symbol` picks the base-asset volume column
    when a CSV has several (`Volume BTC` and `Volume USDT` for BTCUSDT)."""
    content = unpack_archive(content)
    if content.startswith(b"PAR1"):
        return _parse_parquet(content, symbol)
    content = content.removeprefix(b"\xef\xbb\xbf")
    head = content.lstrip()[:1]
    if not head:
        raise file_error("the file is empty")
    if head in (b"[", b"{"):
        return _parse_json(content, symbol)
    return _parse_csv(content, symbol)


def unpack_archive(content: bytes) -> bytes:
    """The file inside a gzip stream or a one-file zip archive; anything else as it is."""
    if content.startswith(b"\x1f\x8b"):
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(content)) as stream:
                data = stream.read(MAX_IMPORT_BYTES + 1)
        except (OSError, EOFError) as error:
            raise file_error(f"unreadable gzip file: {error}") from None
        return _within_limit(data, "the gzip file")
    if content.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            archive = zipfile.ZipFile(io.BytesIO(content))
            members = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
            if len(members) != 1:
                names = ", ".join(m.filename for m in members[:10]) or "nothing"
                raise file_error(f"the zip archive holds {len(members)} files ({names}); expected exactly one CSV")
            if members[0].file_size > MAX_IMPORT_BYTES:
                _within_limit(b"", f"{members[0].filename} ({members[0].file_size} bytes)", members[0].file_size)
            return archive.read(members[0])
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as error:
            raise file_error(f"unreadable zip archive: {error}") from None
    return content


def _within_limit(data: bytes, what: str, size: int | None = None) -> bytes:
    if (size if size is not None else len(data)) > MAX_IMPORT_BYTES:
        raise file_error(f"{what} unpacks to more than {MAX_IMPORT_BYTES} bytes, the most one import reads")
    return data


def parse_kline_rows(rows: list[list[Any]], locator: RowLocator, fmt: str = FORMAT_BINANCE_API) -> RawCandles:
    """Rows in Binance kline order [open_time, open, high, low, close, volume, ...], values as
    numbers or numeric strings: the Binance REST wire format and JSON arrays of arrays."""
    problems: list[RowProblem] = []
    columns: list[list[Any]] = [[] for _ in range(6)]
    for index, row in enumerate(rows):
        if not isinstance(row, list | tuple) or len(row) < 6:
            problems.append(
                RowProblem(index, "expected an array of at least 6 values [open_time, open, high, low, close, volume]")
            )
            row = [None] * 6
        for position in range(6):
            columns[position].append(row[position])
    return _raw_from_columns(
        fmt,
        _python_column(columns[0]),
        {name: _python_column(values) for name, values in zip(PRICE_FIELDS, columns[1:], strict=True)},
        locator,
        problems,
    )


def concat_raw(parts: list[RawCandles], locator: RowLocator) -> RawCandles:
    """Several reads of one source (an exchange's pages over several ranges) as one, rows in order."""
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [len(part) for part in parts])
    problems = tuple(
        RowProblem(int(offset) + p.row, p.message) for offset, part in zip(offsets, parts) for p in part.problems
    )
    columns = {name: np.concatenate([getattr(part, name) for part in parts]) for name in ("ts", *PRICE_FIELDS)}
    without = np.concatenate(
        [part.without_trades if part.without_trades is not None else np.zeros(len(part), bool) for part in parts]
    )
    return RawCandles(format=parts[0].format, problems=problems, locator=locator, without_trades=without, **columns)


# --- column mapping -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ColumnMap:
    ts: int
    time_of_day: int | None  # a separate time column to join to a date column
    prices: dict[str, int]
    tick_volume: int | None = None  # MetaTrader's <TICKVOL>: the volume when every <VOL> is 0


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().strip("\"'").lower()).strip("_")


def _map_columns(
    names: list[str], symbol: str | None, first_row: list[Any] | None = None
) -> tuple[_ColumnMap | None, list[str]]:
    """Positions of the candle fields among `names`, or None and the fields not found. A `date`
    column is joined with a `time` column when the first row's time is a time of day."""
    normalised = [_normalise(name) for name in names]
    position = {name: index for index, name in reversed(list(enumerate(normalised)))}
    missing: list[str] = []
    ts = next((position[name] for name in TIME_SYNONYMS if name in position), None)
    if ts is None:
        missing.append("timestamp")
    prices: dict[str, int] = {}
    for field_name, synonyms in FIELD_SYNONYMS.items():
        found = next((position[name] for name in synonyms if name in position), None)
        if found is None and field_name == "volume":
            found = _base_volume_column(normalised, symbol)
        if found is None:
            missing.append(field_name)
        else:
            prices[field_name] = found
    tick_volume = next((position[name] for name in TICK_VOLUME_NAMES if name in position), None)
    if "volume" in missing and tick_volume is not None:
        missing.remove("volume")
        prices["volume"], tick_volume = tick_volume, None
    if missing or ts is None:  # no timestamp column is missing too
        return None, missing
    time_of_day = None
    if normalised[ts] in ("date", "time") and "date" in position and "time" in position and first_row:
        sample = first_row[position["time"]] if position["time"] < len(first_row) else None
        if isinstance(sample, str) and _TIME_OF_DAY.match(sample):
            ts, time_of_day = position["date"], position["time"]
    return _ColumnMap(ts=ts, time_of_day=time_of_day, prices=prices, tick_volume=tick_volume), []


def _base_volume_column(normalised: list[str], symbol: str | None) -> int | None:
    """`volume_btc` for BTCUSDT: the volume in the base asset, never the quote asset's."""
    candidates = [
        (i, name.split("_", 1)[1])
        for i, name in enumerate(normalised)
        if re.match(r"^vol(ume)?_[a-z0-9]+$", name) and name.split("_", 1)[1] not in QUOTE_VOLUME_ASSETS
    ]
    if symbol:
        for index, asset in candidates:
            if symbol.lower().startswith(asset):
                return index
        candidates = [(i, asset) for i, asset in candidates if not symbol.lower().endswith(asset)]
    return candidates[0][0] if len(candidates) == 1 else None


# --- CSV -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CsvLayout:
    fmt: str
    delimiter: str
    columns: _ColumnMap
    field_count: int
    body_offset: int  # byte offset of the first data line
    body_first_line: int  # its 1-based line number


def _split_fields(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def _guess_delimiter(line: str) -> str:
    return max((",", ";", "\t"), key=line.count)


def _is_number(text: str) -> bool:
    return re.match(_NUMBER, text) is not None


def _csv_layout(content: bytes, symbol: str | None) -> _CsvLayout:
    head = content[:HEAD_BYTES].split(b"\n")
    if len(content) > HEAD_BYTES:
        head.pop()  # cut mid-line
    offset = 0
    best_candidate: tuple[int, int, list[str]] | None = None  # (fields matched, line, fields missing)
    examined = 0
    for index, raw_line in enumerate(head):
        line = raw_line.decode("utf-8", errors="replace").rstrip("\r")
        next_offset = offset + len(raw_line) + 1
        if not line.strip():
            offset = next_offset
            continue
        delimiter = _guess_delimiter(line)
        fields = _split_fields(line, delimiter)
        if examined == 0 and len(fields) >= 6 and all(_is_number(value) for value in fields[:6]):
            positional = _ColumnMap(ts=0, time_of_day=None, prices={name: i + 1 for i, name in enumerate(PRICE_FIELDS)})
            fmt = {12: FORMAT_BINANCE_CSV, 7: FORMAT_KRAKEN_CSV}.get(len(fields), FORMAT_OHLCV_CSV)
            return _CsvLayout(fmt, delimiter, positional, len(fields), offset, index + 1)
        next_line = next((line for line in head[index + 1 :] if line.strip()), b"").decode("utf-8", errors="replace")
        columns, missing = _map_columns(fields, symbol, _split_fields(next_line.rstrip("\r"), delimiter))
        if columns is not None:
            return _CsvLayout(FORMAT_OHLCV_CSV, delimiter, columns, len(fields), next_offset, index + 2)
        matched = 6 - len(missing)
        if matched >= 3 and (best_candidate is None or matched > best_candidate[0]):
            best_candidate = (matched, index + 1, missing)
        offset = next_offset
        examined += 1
        if examined > MAX_BANNER_LINES:
            break
    if best_candidate is not None:
        _, line_number, missing = best_candidate
        raise ValidationFailed(
            f"the header on line {line_number} has no {', '.join(missing)} column",
            [
                FieldError(
                    f"line {line_number}", f"no column for {name}; accepted names: {', '.join(_accepted_names(name))}"
                )
                for name in missing
            ],
        )
    raise file_error(
        "unrecognised file: expected a Binance kline CSV (no header), a CSV with a header row naming "
        "timestamp/open/high/low/close/volume columns, a JSON array, or Parquet"
    )


def _accepted_names(field_name: str) -> tuple[str, ...]:
    return TIME_SYNONYMS if field_name == "timestamp" else FIELD_SYNONYMS[field_name]


def _parse_csv(content: bytes, symbol: str | None) -> RawCandles:
    layout = _csv_layout(content, symbol)
    body = pa.py_buffer(content)[layout.body_offset :]  # a view: slicing the bytes would copy the file
    try:
        return _read_csv_vectorised(body, layout)
    except (pa.ArrowInvalid, _NeedsRowByRow):
        return _read_csv_row_by_row(body.to_pybytes(), layout)


class _NeedsRowByRow(Exception):
    """The vectorised reader met something only the row-by-row reader can describe."""


def _read_csv_vectorised(body: pa.Buffer, layout: _CsvLayout) -> RawCandles:
    import pyarrow.compute as pc

    names = [f"c{i}" for i in range(layout.field_count)]
    wanted = _wanted_positions(layout.columns)
    ts_type = pa.int64() if layout.fmt == FORMAT_BINANCE_CSV else pa.string()
    column_types = {f"c{layout.columns.ts}": ts_type} | {f"c{i}": pa.float64() for i in layout.columns.prices.values()}
    if layout.columns.time_of_day is not None:
        column_types[f"c{layout.columns.time_of_day}"] = pa.string()
    if layout.columns.tick_volume is not None:
        column_types[f"c{layout.columns.tick_volume}"] = pa.float64()
    # One thread: on the 2-vCPU machines imports run on, pyarrow's threaded reader took 2.4x as long
    # on a 1M-row file (its blocks' hand-offs cost more than the second core gives).
    table = pacsv.read_csv(
        pa.BufferReader(body),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=layout.delimiter, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            include_columns=[f"c{i}" for i in wanted], column_types=column_types, strings_can_be_null=True
        ),
    )
    # pyarrow skips blank lines (and nothing else: values hold no newlines): when it read one row per
    # line, row i is on line body_first_line + i; otherwise the blank lines are located (rarely needed,
    # so not paid for on every file). A file without any "\n" (one line, or old Mac "\r" line ends)
    # has no blank line to locate.
    lines = None
    line_count = _line_count(body)
    if line_count > 1 and table.num_rows != line_count:
        lines = _nonblank_line_numbers(body, layout.body_first_line)
        if table.num_rows != len(lines):
            raise _NeedsRowByRow
    ts_column = table.column(f"c{layout.columns.ts}")
    if layout.columns.time_of_day is not None:
        ts_column = pc.binary_join_element_wise(ts_column, table.column(f"c{layout.columns.time_of_day}"), " ")
    prices = {name: table.column(f"c{i}") for name, i in layout.columns.prices.items()}
    ticks = None if layout.columns.tick_volume is None else table.column(f"c{layout.columns.tick_volume}")
    raw = _raw_from_columns(layout.fmt, ts_column, prices, LineLocator(layout.body_first_line, lines), [], ticks)
    if raw.problems:
        raise _NeedsRowByRow
    return raw


def _wanted_positions(columns: _ColumnMap) -> list[int]:
    wanted = [columns.ts, *columns.prices.values()]
    wanted += [i for i in (columns.time_of_day, columns.tick_volume) if i is not None]
    return sorted(set(wanted))


def _line_count(body: pa.Buffer) -> int:
    """Lines in `body` ("\n"-separated; a last line without one counts), in 16 MiB pieces so the
    comparison's temporary stays small."""
    data = np.frombuffer(body, dtype=np.uint8)
    step = 1 << 24
    newlines = sum(int(np.count_nonzero(data[i : i + step] == 10)) for i in range(0, len(data), step))
    return newlines + int(len(data) > 0 and data[-1] != 10)


def _nonblank_line_numbers(body: pa.Buffer, first_line: int) -> NDArray[Any]:
    """Line numbers of the lines of `body` that are not empty (a lone carriage return is empty)."""
    data = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(data)]))
    lengths = ends - starts
    carriage_return_only = (lengths == 1) & (data[np.minimum(starts, len(data) - 1)] == 13)
    keep = (lengths > 0) & ~carriage_return_only
    return (np.flatnonzero(keep) + first_line).astype(np.int64)


def _read_csv_row_by_row(body: bytes, layout: _CsvLayout) -> RawCandles:
    wanted = _wanted_positions(layout.columns)
    needed = max(wanted) + 1
    cells: dict[int, list[str | None]] = {i: [] for i in wanted}
    line_numbers: list[int] = []
    problems: list[RowProblem] = []
    for offset, raw_line in enumerate(body.split(b"\n")):
        try:
            line = raw_line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            line, bad_encoding = raw_line.decode("utf-8", errors="replace"), True
        else:
            bad_encoding = False
        if not line.strip():
            continue
        row = len(line_numbers)
        line_numbers.append(layout.body_first_line + offset)
        fields = _split_fields(line, layout.delimiter)
        if bad_encoding:
            problems.append(RowProblem(row, "the line is not valid UTF-8 text"))
            fields = []
        elif len(fields) < needed:
            problems.append(RowProblem(row, f"expected {layout.field_count} fields, found {len(fields)}"))
            fields = []
        for i in wanted:
            cells[i].append(fields[i] if fields else None)
    ts_cells = cells[layout.columns.ts]
    if layout.columns.time_of_day is not None:
        ts_cells = [
            None if d is None or t is None else f"{d} {t}"
            for d, t in zip(ts_cells, cells[layout.columns.time_of_day], strict=True)
        ]
    return _raw_from_columns(
        layout.fmt,
        pa.array(ts_cells, type=pa.string()),
        {name: pa.array(cells[i], type=pa.string()) for name, i in layout.columns.prices.items()},
        LineLocator(0, np.asarray(line_numbers, dtype=np.int64)),
        problems,
        None if layout.columns.tick_volume is None else pa.array(cells[layout.columns.tick_volume], type=pa.string()),
    )


# --- JSON ------------------------------------------------------------------------------------------


def _parse_json(content: bytes, symbol: str | None) -> RawCandles:
    try:
        text = content.decode("utf-8")
        items = json.loads(text)
    except UnicodeDecodeError as error:
        raise file_error(f"the JSON file is not UTF-8 text (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise ValidationFailed(
            f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}",
            [FieldError(f"line {error.lineno}", f"invalid JSON at column {error.colno}: {error.msg}")],
        ) from None
    if not isinstance(items, list):
        raise file_error("expected a JSON array of candles (objects or arrays)")
    locator = JsonItemLocator(text)
    if all(isinstance(item, list) for item in items):
        return parse_kline_rows(items, locator, FORMAT_JSON)
    return _json_objects(items, locator, symbol)


def _json_objects(items: list[Any], locator: JsonItemLocator, symbol: str | None) -> RawCandles:
    first = next((item for item in items if isinstance(item, dict)), None)
    if first is None:
        raise file_error("expected a JSON array of candle objects or arrays")
    keys = list(first)
    columns, missing = _map_columns(keys, symbol, list(first.values()))
    if columns is None:
        raise ValidationFailed(
            f"the JSON objects have no {', '.join(missing)} key",
            [
                FieldError("file", f"no key for {name}; accepted names: {', '.join(_accepted_names(name))}")
                for name in missing
            ],
        )
    problems: list[RowProblem] = []
    wanted = {"ts": keys[columns.ts]} | {name: keys[i] for name, i in columns.prices.items()}
    values: dict[str, list[Any]] = {name: [] for name in wanted}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(RowProblem(index, "expected an object like the first item"))
            item = {}
        elif absent := [key for key in wanted.values() if key not in item]:
            problems.append(RowProblem(index, f"missing key {', '.join(absent)}"))
        for name, key in wanted.items():
            values[name].append(item.get(key))
    ts_values = values.pop("ts")
    if columns.time_of_day is not None:
        time_key = keys[columns.time_of_day]
        times = [item.get(time_key) if isinstance(item, dict) else None for item in items]
        ts_values = [None if d is None or t is None else f"{d} {t}" for d, t in zip(ts_values, times, strict=True)]
    return _raw_from_columns(
        FORMAT_JSON,
        _python_column(ts_values),
        {name: _python_column(v) for name, v in values.items()},
        locator,
        problems,
    )


def _python_column(values: list[Any]) -> pa.Array:
    """An Arrow column from JSON values: numeric when every value is a number, else text."""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pa.array(values, type=pa.int64())
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return pa.array(values, type=pa.float64())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _json_item_lines(text: str) -> list[int]:
    decoder = json.JSONDecoder()
    separators = re.compile(r"[\s,]*")
    position = text.index("[") + 1
    line, counted_to = 1, 0
    lines: list[int] = []
    while True:
        skipped = separators.match(text, position)
        assert skipped is not None  # the pattern matches the empty string
        position = skipped.end()
        if position >= len(text) or text[position] == "]":
            return lines
        line += text.count("\n", counted_to, position)
        counted_to = position
        lines.append(line)
        _, position = decoder.raw_decode(text, position)


# --- Parquet ---------------------------------------------------------------------------------------


def _parse_parquet(content: bytes, symbol: str | None) -> RawCandles:
    try:
        table = pq.ParquetFile(pa.BufferReader(content)).read()
    except (pa.ArrowInvalid, OSError) as error:
        raise file_error(f"unreadable Parquet file: {error}") from None
    first_row = [str(value) for value in table.slice(0, 1).to_pylist()[0].values()] if table.num_rows else None
    columns, missing = _map_columns(table.column_names, symbol, first_row)
    if columns is None:
        raise ValidationFailed(
            f"the Parquet file has no {', '.join(missing)} column",
            [
                FieldError("file", f"no column for {name}; accepted names: {', '.join(_accepted_names(name))}")
                for name in missing
            ],
        )
    ts_column = table.column(columns.ts)
    if columns.time_of_day is not None:
        import pyarrow.compute as pc

        ts_column = pc.binary_join_element_wise(
            ts_column.cast(pa.string()), table.column(columns.time_of_day).cast(pa.string()), " "
        )
    prices = {name: table.column(i) for name, i in columns.prices.items()}
    return _raw_from_columns(FORMAT_PARQUET, ts_column, prices, OrdinalLocator("row"), [])


# --- cells to arrays -------------------------------------------------------------------------------


def _raw_from_columns(
    fmt: str,
    ts_column: pa.Array | pa.ChunkedArray,
    prices: dict[str, pa.Array | pa.ChunkedArray],
    locator: RowLocator,
    problems: list[RowProblem],
    tick_volume: pa.Array | pa.ChunkedArray | None = None,
) -> RawCandles:
    """Convert columns of any type to the canonical arrays, adding a problem for each unreadable
    cell (rows already known to be broken are not reported again). Empty price cells become NaN:
    a row without any price is a period without trades, one with some prices missing is invalid
    (validation says so). `tick_volume` replaces a volume column that is 0 throughout."""
    broken = {problem.row for problem in problems}
    ts = _timestamps_ms(_combined(ts_column), problems, broken)
    arrays = {name: _floats(_combined(prices[name]), name, problems, broken) for name in PRICE_FIELDS}
    if tick_volume is not None and not np.any(arrays["volume"][np.isfinite(arrays["volume"])]):
        arrays["volume"] = _floats(_combined(tick_volume), "tick volume", problems, broken)
    problems.sort(key=lambda problem: problem.row)
    without_trades = np.all([np.isnan(arrays[name]) for name in PRICE_FIELDS[:4]], axis=0)
    if problems:
        without_trades[[problem.row for problem in problems]] = False
    return RawCandles(
        format=fmt, ts=ts, problems=tuple(problems), locator=locator, without_trades=without_trades, **arrays
    )


def _combined(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if not isinstance(column, pa.ChunkedArray):
        return column
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()  # one chunk: no copy


def read_timestamps(column: pa.Array) -> tuple[NDArray[Any], list[tuple[int, str]]]:
    """Epoch ms of a column of timestamps in any layout candle files accept, and (row, problem)
    for each unreadable one (other readers of dated rows use it: funding-rate files)."""
    problems: list[RowProblem] = []
    values = _timestamps_ms(column, problems, set())
    return values, [(problem.row, problem.message) for problem in problems]


def _report_nulls(column: pa.Array, name: str, problems: list[RowProblem], broken: set[int]) -> None:
    """One problem per empty cell, unless its row is already reported; the row is then broken."""
    if column.null_count:
        for row in map(int, np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))):
            if row not in broken:
                problems.append(RowProblem(row, f"{name} is empty"))
                broken.add(row)


def _floats(column: pa.Array, name: str, problems: list[RowProblem], broken: set[int]) -> NDArray[Any]:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        import pyarrow.compute as pc

        try:
            column = pc.cast(pc.utf8_trim_whitespace(column), pa.float64())
        except pa.ArrowInvalid:
            return _floats_row_by_row(column, name, problems, broken)
    elif not (
        pa.types.is_floating(column.type) or pa.types.is_integer(column.type) or pa.types.is_decimal(column.type)
    ):
        raise file_error(f"column {name} has type {column.type}, expected numbers")
    if column.type != pa.float64():
        column = column.cast(pa.float64())  # Array.cast imports pyarrow.compute: only when needed
    return column.to_numpy(zero_copy_only=False)


def _floats_row_by_row(column: pa.Array, name: str, problems: list[RowProblem], broken: set[int]) -> NDArray[Any]:
    values = np.full(len(column), np.nan)
    for row, text in enumerate(column.to_pylist()):
        if text is None or not text.strip():
            continue  # NaN: judged with the row's other prices
        try:
            values[row] = float(text)
        except ValueError:
            if _THOUSANDS.match(text):
                problems.append(
                    RowProblem(row, f"{name} {text!r} has a thousands separator; write numbers without one")
                )
            else:
                problems.append(RowProblem(row, f"{name} {text!r} is not a number"))
    return values


def _timestamps_ms(column: pa.Array, problems: list[RowProblem], broken: set[int]) -> NDArray[Any]:
    _report_nulls(column, "timestamp", problems, broken)
    if column.null_count == len(column):
        return np.zeros(len(column), dtype=np.int64)
    if column.null_count:
        import pyarrow.compute as pc

        column = column.fill_null(pc.drop_null(column)[0])  # reported above; any valid value keeps the column's kind
    if pa.types.is_timestamp(column.type):
        unit_per_s = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[column.type.unit]
        values = column.to_numpy(zero_copy_only=False).view(np.int64)  # datetime64 of the unit, no cast
        return values * 1000 if unit_per_s == 1 else _whole_ms(values, unit_per_s // 1000, problems)
    if pa.types.is_date(column.type):
        return column.cast(pa.timestamp("ms")).cast(pa.int64()).to_numpy()
    if pa.types.is_integer(column.type):
        return _epoch_to_ms((column if column.type == pa.int64() else column.cast(pa.int64())).to_numpy(), problems)
    if pa.types.is_floating(column.type):
        return _epoch_to_ms(column.to_numpy(), problems)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise file_error(f"the timestamp column has type {column.type}, expected text, numbers or timestamps")
    import pyarrow.compute as pc

    # The common layouts first, each a cast in C: epoch integers, ISO-8601 with an offset, without
    # one. A cast that fails has read the whole column first, so each is tried on the first value
    # before the column; the regular expressions and dateutil come only after.
    text = pc.utf8_trim_whitespace(column)
    for target in (pa.int64(), pa.timestamp("ms", tz="UTC"), pa.timestamp("ms")):
        try:
            pc.cast(text.slice(0, 1), target)
            values = pc.cast(text, target)
        except pa.ArrowInvalid:
            continue
        return _epoch_to_ms(values.to_numpy(), problems) if target == pa.int64() else values.cast(pa.int64()).to_numpy()
    numeric = pc.match_substring_regex(text, _NUMBER).to_numpy(zero_copy_only=False)
    if numeric.all():
        return _epoch_to_ms(pc.cast(text, pa.float64()).to_numpy(), problems)
    from shared.market_data.timestamps import parse_text_timestamps  # dateutil: only for other layouts

    if not numeric.any():
        values, unreadable = parse_text_timestamps(text)
        problems.extend(RowProblem(row, message) for row, message in unreadable if row not in broken)
        return values
    dated = np.flatnonzero(~numeric)
    values = np.zeros(len(text), dtype=np.int64)
    parsed, unreadable = parse_text_timestamps(text.take(pa.array(dated)))
    values[dated] = parsed
    problems.extend(RowProblem(int(dated[i]), message) for i, message in unreadable if int(dated[i]) not in broken)
    # epoch numbers among the dates (a few exporters mix them)
    for row, value in zip(np.flatnonzero(numeric).tolist(), text.filter(pa.array(numeric)).to_pylist(), strict=True):
        epoch = parse_timestamp_text(value)
        if epoch is None:
            problems.append(RowProblem(row, f"timestamp {value!r} is not a whole millisecond"))
        else:
            values[row] = epoch
    return values


def parse_timestamp_text(text: str) -> int | None:
    """Epoch ms of one timestamp written as epoch s/ms/µs/ns or ISO-8601 (UTC unless an offset
    says otherwise); None when it is neither or not a whole millisecond."""
    text = text.strip()
    if re.match(_NUMBER, text):
        problems: list[RowProblem] = []
        value = _epoch_to_ms(np.array([int(text) if re.match(_INTEGER, text) else float(text)]), problems)
        return None if problems else int(value[0])
    try:
        moment = parse_iso_utc(text)
    except ValueError:
        return None
    milliseconds, remainder = divmod(moment - EPOCH, timedelta(milliseconds=1))
    return None if remainder else milliseconds


# Epoch units told apart by magnitude: seconds below 1e11 (year 5138), milliseconds below 1e14,
# microseconds below 1e17, nanoseconds above.
_UNIT_LIMITS = (1e11, 1e14, 1e17)


def _epoch_to_ms(values: NDArray[Any], problems: list[RowProblem]) -> NDArray[Any]:
    """Epoch numbers in any unit (each value's own) to whole milliseconds; integers stay exact."""
    if values.dtype.kind == "f":
        for row in np.flatnonzero(~np.isfinite(values)):
            problems.append(RowProblem(int(row), f"timestamp {values[row]} is not a number"))
        values = np.where(np.isfinite(values), values, 0.0)
    magnitude = np.abs(values)
    unit = np.searchsorted(np.asarray(_UNIT_LIMITS), magnitude, side="right")  # 0 s, 1 ms, 2 µs, 3 ns
    if values.dtype.kind == "f":
        if np.all(values == np.trunc(values)) and np.all(magnitude < 2**53):
            values = values.astype(np.int64)
        else:  # fractional epoch seconds, e.g. 1704067200.5
            scaled = values * np.array([1e3, 1.0, 1e-3, 1e-6])[unit]
            ms = np.round(scaled)
            for row in np.flatnonzero(np.abs(scaled - ms) > 1e-3):
                problems.append(RowProblem(int(row), f"timestamp {float(values[row])} is not a whole millisecond"))
            return ms.astype(np.int64)
    multiplier = np.array([1000, 1, 1, 1], dtype=np.int64)[unit]
    divisor = np.array([1, 1, 1_000, 1_000_000], dtype=np.int64)[unit]
    ms, remainder = np.divmod(values * multiplier, divisor)
    for row in np.flatnonzero(remainder):
        problems.append(RowProblem(int(row), f"timestamp {values[row]} is not a whole millisecond"))
    return ms


def _whole_ms(values: NDArray[Any], unit_per_ms: int, problems: list[RowProblem]) -> NDArray[Any]:
    ms, remainder = np.divmod(values, unit_per_ms)
    for row in np.flatnonzero(remainder):
        problems.append(RowProblem(int(row), "timestamp is not a whole millisecond"))
    return ms
