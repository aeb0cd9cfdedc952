"""The `backtest` command line.

    backtest run --strategy STRATEGY.json --candles FILE [--symbol BTCUSDT] [--timeframe 1h]
                 [--initial-balance 10000] [--commission 0.1] [--leverage 1] [--start ISO] [--end ISO] [--json]
                 [--maker-fee PCT] [--taker-fee PCT] [--slippage-ticks N] [--same-bar-priority stop_loss|take_profit]
                 [--tick-size X] [--lot-size X] [--min-notional X] [--funding RATES.csv]
                 [--intrabar-candles FILE --intrabar-timeframe 1m]

Subcommands are argparse subparsers registered in `build_parser`, each with its own handler, so
others (e.g. `backtest users create`) plug in beside `run`. Heavy modules (NumPy, pyarrow, the
engine) are imported inside the handler: `backtest --help` stays instant and a run pays only for
what it uses. Bad input exits with status 2 and one line on stderr naming the field or line.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from shared.backtest_settings import BacktestSettings
from shared.times import epoch_ms, iso_utc_ms, parse_iso_utc

if TYPE_CHECKING:
    from shared.candles import Candles
    from shared.errors import ValidationFailed
    from shared.market_data.parsing import RawCandles
    from shared.market_data.validation import Finding, ValidCandles

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
        "over OHLCV candles from any file the market-data importer reads (Parquet; Binance kline CSV; "
        "CSV with a header naming timestamp/open/high/low/close/volume; JSON), checked by its validator. "
        "Rows must be in one time order, oldest or newest first, with no row repeated.",
    )
    run.add_argument("--strategy", required=True, metavar="STRATEGY.json")
    run.add_argument("--candles", required=True, metavar="FILE")
    run.add_argument(
        "--symbol",
        help="e.g. BTCUSDT: picks the base-asset volume of a CSV with one per asset (Volume BTC, Volume USDT)",
    )
    run.add_argument(
        "--timeframe",
        default="1h",
        help="candle timeframe: timestamps must lie on its boundaries; annualises ratios (default 1h)",
    )
    run.add_argument(
        "--initial-balance",
        type=float,
        default=BacktestSettings.initial_balance,
        metavar="AMOUNT",
        help="default 10000",
    )
    run.add_argument(
        "--commission",
        type=float,
        default=BacktestSettings.commission,
        metavar="PERCENT",
        help="per side, in percent (default 0.1)",
    )
    run.add_argument("--leverage", type=float, default=BacktestSettings.leverage, help="default 1")
    run.add_argument("--start", type=_utc_ms, metavar="ISO", help="first candle open time included (UTC)")
    run.add_argument("--end", type=_utc_ms, metavar="ISO", help="candles open before this time (UTC)")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    costs = run.add_argument_group("orders and costs (README: execution conventions)")
    costs.add_argument("--maker-fee", type=float, metavar="PERCENT", help="limit fills (default: --commission)")
    costs.add_argument(
        "--taker-fee", type=float, metavar="PERCENT", help="market and stop fills (default: --commission)"
    )
    costs.add_argument(
        "--slippage-ticks", type=float, metavar="N", help="market fills move N ticks (needs --tick-size)"
    )
    costs.add_argument(
        "--same-bar-priority",
        choices=("stop_loss", "take_profit"),
        default="stop_loss",
        help="which of a stop and a target inside one bar fills first (default stop_loss)",
    )
    costs.add_argument("--tick-size", type=float, metavar="PRICE", help="prices round to this tick")
    costs.add_argument("--lot-size", type=float, metavar="UNITS", help="quantities round down to this step")
    costs.add_argument("--min-notional", type=float, metavar="AMOUNT", help="smaller orders are skipped")
    costs.add_argument(
        "--funding",
        metavar="RATES.csv",
        help="charge funding from a CSV of time (ISO or epoch ms), rate (a fraction) rows",
    )
    costs.add_argument("--intrabar-candles", metavar="FILE", help="finer candles resolving fills inside each bar")
    costs.add_argument("--intrabar-timeframe", default="1m", help="their timeframe (default 1m)")
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    from shared.engine import run_backtest
    from shared.engine.positions import MarketData
    from shared.errors import ValidationFailed
    from shared.market_data.symbol_rules import SymbolRules
    from shared.strategy import validate_strategy

    try:
        settings = BacktestSettings(
            initial_balance=args.initial_balance,
            commission=args.commission,
            leverage=args.leverage,
            timeframe=args.timeframe,
            maker_fee=args.maker_fee,
            taker_fee=args.taker_fee,
            slippage_ticks=args.slippage_ticks,
            funding=args.funding is not None,
            intrabar_timeframe=args.intrabar_timeframe if args.intrabar_candles else None,
            same_bar_priority=args.same_bar_priority,
        )
    except ValidationFailed as failure:
        raise InputError(f"{args.strategy}: {_describe(failure)}") from None
    for flag in ("tick_size", "lot_size", "min_notional"):
        if getattr(args, flag) is not None and not getattr(args, flag) > 0:
            raise InputError(f"--{flag.replace('_', '-')}: must be greater than 0")
    if args.slippage_ticks is not None and args.tick_size is None:
        raise InputError("--slippage-ticks: needs --tick-size")
    try:
        strategy = validate_strategy(_read_strategy_file(args.strategy))
    except ValidationFailed as failure:
        raise InputError(f"{args.strategy}: {_describe(failure)}") from None
    problems = strategy.timeframe_problems(args.timeframe)
    if problems:
        raise InputError(f"{args.strategy}: {'; '.join(problems)}")
    candles = read_candles(args.candles, args.timeframe, args.symbol).between(args.start, args.end)
    if not len(candles):
        raise InputError(f"{args.candles}: no candles between --start and --end")
    market = MarketData(
        rules=SymbolRules(args.tick_size, args.lot_size, args.min_notional),
        funding=_read_funding_file(args.funding, candles) if args.funding else None,
        fine=read_candles(args.intrabar_candles, args.intrabar_timeframe, args.symbol)
        if args.intrabar_candles
        else None,
    )
    result = run_backtest(strategy, candles, settings, market)
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


def _read_funding_file(path: str, candles: Candles):
    """Funding rates from a CSV of `time,rate` rows (a header line is allowed), covering the candles."""
    import csv

    from shared.backtests.execution import checked_funding
    from shared.errors import ValidationFailed
    from shared.market_data.funding_history import funding_rates

    times, rates = [], []
    try:
        with open(path, encoding="utf-8", newline="") as file:
            for number, row in enumerate(csv.reader(file), start=1):
                if not row or (number == 1 and not row[0].strip().lstrip("-").isdigit() and row[0][:1].isalpha()):
                    continue
                try:
                    times.append(_utc_ms(row[0].strip()))
                    rates.append(float(row[1]))
                except (IndexError, ValueError, argparse.ArgumentTypeError):
                    raise InputError(f"{path}: line {number}: expected time,rate") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    try:
        step = int(candles.ts[1] - candles.ts[0]) if len(candles) > 1 else 0
        return checked_funding(
            "the file's", funding_rates(times, rates), int(candles.ts[0]), int(candles.ts[-1]) + step
        )
    except ValidationFailed as failure:
        raise InputError(f"{path}: {_describe(failure).replace('metadata.funding', '--funding')}") from None


def _utc_ms(text: str) -> int:
    """ISO-8601 (a time without offset is UTC) or epoch milliseconds -> epoch milliseconds."""
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return epoch_ms(parse_iso_utc(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None


# --- candle files ---------------------------------------------------------------------------
# The market-data importer's parser and validator read the file, so the CLI takes every format
# the importer takes, under the same rules. On top of them the CLI refuses what the importer
# quietly repairs: rows in mixed time order (the importer sorts) and repeated rows (it drops them).


def read_candles(path: str, timeframe: str, symbol: str | None = None) -> Candles:
    """Candles from any file the market-data importer reads, valid for `timeframe` (aligned
    timestamps included), whose rows are in one time order (oldest first, or newest first as
    some exports are) with no row repeated. `symbol` picks the base-asset volume column where a
    file has one per asset. Raises InputError with the first problem and its line."""
    from shared.errors import ValidationFailed
    from shared.market_data.parsing import parse_candle_file
    from shared.market_data.validation import reject, validate_candles

    try:
        with open(path, "rb") as file:
            content = file.read()
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    try:
        raw = parse_candle_file(content, symbol)
        valid = validate_candles(raw, timeframe)
        findings = [*_repeated_rows(raw, valid), *_mixed_order(valid)]
        if findings:
            raise reject(findings, valid.locator, "the file was rejected")
    except ValidationFailed as failure:
        raise InputError(f"{path}: {_first_problem(failure)}") from None
    return valid.candles


def _first_problem(failure: ValidationFailed) -> str:
    """`line 7: high 99.0 is below ... (and 3 more problems)` on one line."""
    if not failure.errors:
        return failure.message
    first = failure.errors[0]
    text = first.message if first.field == "file" else f"{first.field}: {first.message}"
    more = getattr(failure, "problem_count", len(failure.errors)) - 1
    if more:
        text += f" (and {more} more problem{'s' if more > 1 else ''})"
    return " ".join(text.split())


def _repeated_rows(raw: RawCandles, valid: ValidCandles) -> list[Finding]:
    """Rows the validator dropped as identical repeats of an earlier row (the only rows it drops)."""
    import numpy as np

    from shared.market_data.validation import Finding
    from shared.times import iso_utc

    if not valid.duplicates_dropped:
        return []
    traded = np.arange(valid.rows_in_file) if raw.without_trades is None else np.flatnonzero(~raw.without_trades)
    repeats = np.setdiff1d(traded, valid.rows)
    originals = valid.rows[np.searchsorted(valid.candles.ts, raw.ts[repeats])]

    def message(k: int) -> str:
        return f"timestamp {iso_utc(raw.ts[repeats[k]])} repeats {valid.locator.describe(int(originals[k]))} (duplicate row)"

    return [Finding(repeats, message)]


def _mixed_order(valid: ValidCandles) -> list[Finding]:
    """Rows that break the time order the file starts in (the validator sorts whatever it gets)."""
    import numpy as np

    from shared.market_data.validation import Finding
    from shared.times import iso_utc

    steps = np.diff(valid.rows)  # file rows in time order: all up = oldest first, all down = newest first
    if np.all(steps > 0) or np.all(steps < 0):
        return []
    in_file_order = np.argsort(valid.rows)
    rows, ts = valid.rows[in_file_order], valid.candles.ts[in_file_order]
    later = np.diff(ts) > 0
    breaks = np.flatnonzero(later != later[0]) + 1
    order = "ascending" if later[0] else "descending"

    def message(k: int) -> str:
        row = breaks[k]
        previous = f"{valid.locator.describe(int(rows[row - 1]))} has {iso_utc(ts[row - 1])}"
        return f"timestamp {iso_utc(ts[row])} is out of order: {previous} and the file starts in {order} time order"

    return [Finding(rows[breaks], message)]


# --- output ---------------------------------------------------------------------------------


def _summary_table(result, timeframe: str) -> str:
    import numpy as np

    from shared.engine import EXIT_REASONS
    from shared.times import iso_utc_array

    first, last = iso_utc_array(result.timestamps[[0, -1]])
    lines = [
        f"Backtest {first} .. {last}  ({len(result.timestamps)} candles, {timeframe})",
        f"{'initial_balance':<26}{result.initial_balance:>18,.2f}",
        f"{'final_balance':<26}{result.final_balance:>18,.2f}",
    ]

    def shown(value: Any) -> str:
        return "n/a" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:,.4f}"

    for key, value in result.performance_summary.items():
        if isinstance(value, dict):  # the long / short sub-summaries
            lines.append(f"{key:<26}" + "  ".join(f"{name} {shown(part)}" for name, part in value.items()))
        else:
            lines.append(f"{key:<26}{shown(value):>18}")
    trades = result.trades
    if len(trades):
        counts = [
            (EXIT_REASONS[code], int(count)) for code, count in enumerate(np.bincount(trades.exit_reason)) if count
        ]
        lines.append("exits: " + ", ".join(f"{reason} {count}" for reason, count in counts))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- backtest users create
def _add_users_command(commands: argparse._SubParsersAction) -> None:
    users = commands.add_parser("users", help="manage user accounts").add_subparsers(
        dest="users_command", required=True, metavar="ACTION"
    )
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
    from shared.accounts.service import register
    from shared.errors import ValidationFailed

    table = os.environ.get("USERS_TABLE")
    if not table:
        raise InputError("USERS_TABLE is not set: name the users table of the stack to add the account to")
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    try:
        user = register(DynamoUserRepository(bind(UserItem, table)), args.email, password, args.name)
    except ValidationFailed as failure:
        raise InputError(_describe(failure)) from None
    created_at = iso_utc_ms(user.created_at)
    created = {"id": user.id, "email": user.email, "name": user.name, "created_at": created_at}
    sys.stdout.write(json.dumps(created) + "\n")
    return 0
