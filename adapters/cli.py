"""The `backtest` command line.

    backtest run --strategy STRATEGY.json --candles FILE [--timeframe 1h] [--initial-balance 10000]
                 [--commission 0.1] [--leverage 1] [--start ISO] [--end ISO] [--json]

Subcommands are argparse subparsers registered in `build_parser`, each with its own handler, so
others (e.g. `backtest users create`) plug in beside `run`. Heavy modules (NumPy, pyarrow, the
engine) are imported inside the handler: `backtest --help` stays instant and a run pays only for
what it uses. Bad input exits with status 2 and one line on stderr naming the field or line.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.candles import Candles

EXIT_BAD_INPUT = 2


class InputError(Exception):
    """Input the command cannot use; the message is the one line shown to the user."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except InputError as error:
        print(f"backtest {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backtest", description="Backtest crypto trading strategies.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_command(commands)
    _add_users_command(commands)
    return parser


def _add_run_command(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run",
        help="run a JSON strategy over a candle file",
        description="Run a strategy ({entry_rules, exit_rules, config} as POST /api/v1/strategies takes it) "
        "over OHLCV candles from a Parquet file (ts, open, high, low, close, volume) or a CSV file "
        "(header timestamp,open,high,low,close,volume; ISO-8601 or epoch-millisecond timestamps).",
    )
    run.add_argument("--strategy", required=True, metavar="STRATEGY.json")
    run.add_argument("--candles", required=True, metavar="FILE")
    run.add_argument("--timeframe", default="1h", help="candle timeframe, for annualisation (default 1h)")
    run.add_argument("--initial-balance", type=float, default=10_000.0, metavar="AMOUNT", help="default 10000")
    run.add_argument("--commission", type=float, default=0.1, metavar="PERCENT", help="per side, in percent (default 0.1)")
    run.add_argument("--leverage", type=float, default=1.0, help="default 1")
    run.add_argument("--start", type=_utc_ms, metavar="ISO", help="first candle open time included (UTC)")
    run.add_argument("--end", type=_utc_ms, metavar="ISO", help="candles open before this time (UTC)")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    from shared.engine import BacktestSettings, run_backtest
    from shared.errors import ValidationFailed
    from shared.strategy import validate_strategy

    try:
        settings = BacktestSettings(
            initial_balance=args.initial_balance,
            commission=args.commission,
            leverage=args.leverage,
            timeframe=args.timeframe,
        )
        strategy = validate_strategy(_read_strategy_file(args.strategy))
    except ValidationFailed as failure:
        raise InputError(f"{args.strategy}: {_describe(failure)}") from None
    candles = read_candles(args.candles).between(args.start, args.end)
    if not len(candles):
        raise InputError(f"{args.candles}: no candles between --start and --end")
    result = run_backtest(strategy, candles, settings)
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), allow_nan=False) + "\n")
    else:
        sys.stdout.write(_summary_table(result, args.timeframe))
    return 0


def _describe(failure) -> str:
    if not failure.errors:
        return failure.message
    return "; ".join(f"{error.field}: {error.message}" for error in failure.errors)


def _read_strategy_file(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as file:
            strategy = json.load(file)
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: line {error.lineno}: invalid JSON: {error.msg}") from None
    if not isinstance(strategy, dict):
        raise InputError(f"{path}: expected a JSON object with entry_rules, exit_rules and config")
    return strategy


def _utc_ms(text: str) -> int:
    """ISO-8601 (a time without offset is UTC) or epoch milliseconds -> epoch milliseconds."""
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


# --- candle files ---------------------------------------------------------------------------
# A deliberately small reader for the two formats the CLI documents. The market-data importer
# (shared/market_data) owns full validation; `read_candles` is the one seam to swap for it.

CSV_HEADER = ("timestamp", "open", "high", "low", "close", "volume")


def read_candles(path: str) -> Candles:
    """Candles from a Parquet or CSV file (told apart by Parquet's magic bytes), validated for
    finite prices and strictly increasing timestamps. Raises InputError naming the row or line."""
    try:
        with open(path, "rb") as file:
            is_parquet = file.read(4) == b"PAR1"
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    candles, first_line = (_read_parquet(path), 1) if is_parquet else (_read_csv(path), 2)
    _check_candles(path, candles, first_line, "row" if is_parquet else "line")
    return candles


def _read_parquet(path: str) -> Candles:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shared.candles import PRICE_FIELDS, Candles

    columns = ["ts", *PRICE_FIELDS]
    try:
        # ParquetFile, not read_table: read_table goes through pyarrow.dataset, ~50 ms more import.
        file = pq.ParquetFile(path)
        missing = [name for name in columns if name not in file.schema_arrow.names]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(columns)})")
        table = file.read(columns=columns)
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{path}: not a readable Parquet file: {error}") from None
    for name in columns:
        if table.column(name).null_count:
            row = table.column(name).is_null().to_numpy(zero_copy_only=False).argmax() + 1
            raise InputError(f"{path}: row {row}: {name} is empty")
    try:
        # Candles.from_arrow casts with pyarrow.compute (~40 ms of import); numpy does it here.
        ts = table.column("ts").to_numpy()
        if ts.dtype.kind == "M":
            ts = ts.astype("datetime64[ms]").view(np.int64)
        return Candles.from_arrays(ts, *(table.column(name).to_numpy() for name in PRICE_FIELDS))
    except (pa.ArrowException, TypeError, ValueError) as error:
        raise InputError(f"{path}: unexpected column types: {error}") from None


def _read_csv(path: str) -> Candles:
    import csv

    from shared.candles import Candles

    rows: list[tuple[int, float, float, float, float, float]] = []
    try:
        with open(path, newline="", encoding="utf-8") as file:
            reader = csv.reader(file)
            header = tuple(cell.strip().lower() for cell in next(reader, ()))
            if header != CSV_HEADER:
                raise InputError(f"{path}: line 1: expected the header {','.join(CSV_HEADER)}")
            for line, cells in enumerate(reader, start=2):
                rows.append(_csv_row(path, line, cells))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read: {error}") from None
    if not rows:
        raise InputError(f"{path}: no candles after the header")
    return Candles.from_arrays(*zip(*rows))


def _csv_row(path: str, line: int, cells: list[str]) -> tuple[int, float, float, float, float, float]:
    if len(cells) != len(CSV_HEADER):
        raise InputError(f"{path}: line {line}: expected {len(CSV_HEADER)} fields, found {len(cells)}")
    stamp = cells[0].strip()
    try:
        ts = int(stamp) if stamp.lstrip("-").isdigit() else _iso_ms(stamp)
    except ValueError:
        raise InputError(f"{path}: line {line}: timestamp {stamp!r} is neither ISO-8601 nor epoch milliseconds") from None
    values = []
    for name, cell in zip(CSV_HEADER[1:], cells[1:]):
        try:
            values.append(float(cell))
        except ValueError:
            raise InputError(f"{path}: line {line}: {name} {cell.strip()!r} is not a number") from None
    return (ts, *values)


def _iso_ms(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _check_candles(path: str, candles: Candles, first_line: int, unit: str) -> None:
    import numpy as np

    from shared.candles import PRICE_FIELDS

    for name in PRICE_FIELDS:
        bad = ~np.isfinite(getattr(candles, name))
        if bad.any():
            raise InputError(f"{path}: {unit} {first_line + int(bad.argmax())}: {name} is not a finite number")
    backwards = np.diff(candles.ts) <= 0
    if backwards.any():
        index = int(backwards.argmax()) + 1
        kind = "duplicate" if candles.ts[index] == candles.ts[index - 1] else "out-of-order"
        raise InputError(f"{path}: {unit} {first_line + index}: {kind} timestamp (candles must be sorted and unique)")


# --- output ---------------------------------------------------------------------------------


def _summary_table(result, timeframe: str) -> str:
    import numpy as np

    from shared.engine import EXIT_REASONS
    from shared.engine.result import iso_utc

    first, last = iso_utc(result.timestamps[[0, -1]])
    lines = [
        f"Backtest {first} .. {last}  ({len(result.timestamps)} candles, {timeframe})",
        f"{'initial_balance':<26}{result.initial_balance:>18,.2f}",
        f"{'final_balance':<26}{result.final_balance:>18,.2f}",
    ]
    for key, value in result.performance_summary.items():
        shown = "n/a" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:,.4f}"
        lines.append(f"{key:<26}{shown:>18}")
    trades = result.trades
    if len(trades):
        counts = [(EXIT_REASONS[code], int(count)) for code, count in enumerate(np.bincount(trades.exit_reason)) if count]
        lines.append("exits: " + ", ".join(f"{reason} {count}" for reason, count in counts))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- backtest users create
def _add_users_command(commands: argparse._SubParsersAction) -> None:
    users = commands.add_parser("users", help="manage user accounts").add_subparsers(
        dest="users_command", required=True, metavar="ACTION")
    create = users.add_parser(
        "create",
        help="create a user account",
        description="Create an account in the users table named by $USERS_TABLE (the AWS endpoint and "
        "credentials come from the environment, e.g. AWS_ENDPOINT_URL for the local stack). The password "
        "is prompted for, or read from standard input with --password-stdin; it never appears in arguments.",
    )
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    create.set_defaults(handler=users_create_command)


def users_create_command(args: argparse.Namespace) -> int:
    import getpass
    import os

    from adapters.models.users import UserItem
    from adapters.repositories.binding import bind
    from adapters.repositories.users import DynamoUserRepository
    from shared.errors import ValidationFailed
    from shared.services.accounts import register

    table = os.environ.get("USERS_TABLE")
    if not table:
        raise InputError("USERS_TABLE is not set: name the users table of the stack to add the account to")
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    try:
        user = register(DynamoUserRepository(bind(UserItem, table)), args.email, password, args.name)
    except ValidationFailed as failure:
        raise InputError(_describe(failure)) from None
    created_at = user.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    created = {"id": user.id, "email": user.email, "name": user.name, "created_at": created_at}
    sys.stdout.write(json.dumps(created) + "\n")
    return 0
