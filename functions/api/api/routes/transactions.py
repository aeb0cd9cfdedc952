"""Transaction history: imports from a file or an exchange, the owner's listing, and
replays of transactions as backtests with an alternative beside them.

Imports run in the transaction import function: these routes queue them (202) and report on them.
Replays are backtests: `POST /transactions/replay` queues one exactly like `POST /backtests`
(its progress, trades and summary are the backtest endpoints'), and `GET /transactions/replays/{id}`
adds the comparison with the alternative. The services, and the modules behind them (pairing,
rules, the candle store's inbox), load on the first transaction request (ApiServices.transactions):
at cold start this module costs only its schemas.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from api import PREFIX
from api.dependencies import CurrentUser, Pagination, Services
from api.errors import error_responses
from api.schemas import (
    Decimal,
    Id,
    PageMeta,
    RequestBody,
    Status,
    Timeframe,
    UtcDateTime,
    UtcDateTimeInput,
    round_numbers,
)
from shared.statuses import JOB_STATUSES
from shared.times import datetime_of_ms
from shared.transactions.jobs import (
    DEFAULT_WINDOW,
    MAX_REPLAY_TRANSACTIONS,
    MAX_SYMBOLS,
    REPLAY_QUEUED_MESSAGE,
    SOURCE_EXCHANGE,
    SOURCE_FILE,
    ExchangeCredentials,
    ImportJob,
)
from shared.transactions.model import SIDES, Transaction
from shared.transactions.rules import DURATION_PATTERN

if TYPE_CHECKING:
    from api.wiring import TransactionServices
    from shared.transactions.replays import ReplayView

ROUTE = f"{PREFIX}/transactions"
router = APIRouter(prefix=ROUTE, tags=["transactions"], responses=error_responses(401, 422, 429, 500))


def transaction_services(services: Services) -> TransactionServices:
    return services.transactions()


Transactions = Annotated[Any, Depends(transaction_services)]  # api.wiring.TransactionServices


# ------------------------------------------------------------------ bodies
class ExchangeApiCredentials(RequestBody):
    api_key: SecretStr = Field(min_length=1, max_length=256)
    api_secret: SecretStr = Field(min_length=1, max_length=256)


class FileImportCreate(RequestBody):
    """A trade-history file, sent in the body."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source": "file",
                    "file_format": "csv",
                    "exchange": "binance",
                    "file_content": "time,symbol,side,price,quantity,fee,fee_asset,id\n"
                    "2024-01-01T00:00:00Z,BTCUSDT,buy,42000,0.01,0.42,USDT,1001\n",
                },
            ]
        }
    )

    source: Literal[SOURCE_FILE]
    exchange: str = Field("binance", min_length=1, max_length=30, description="Where the trades were made (any name).")
    file_content: str = Field(description="The file, as text or base64 (recognised by its alphabet).")
    file_format: Literal["csv", "json"]


class ExchangeImportCreate(RequestBody):
    """The account's trades, fetched from the exchange with a read-only key pair."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source": "exchange",
                    "exchange": "binance",
                    "symbols": ["BTCUSDT"],
                    "start_time": "2024-01-01T00:00:00Z",
                    "api_credentials": {"api_key": "<key>", "api_secret": "<secret>"},
                },
            ]
        }
    )

    source: Literal[SOURCE_EXCHANGE]
    exchange: str = Field(
        "binance",
        min_length=1,
        max_length=30,
        description="The exchange to fetch them from (binance; another name is a 422).",
    )
    api_credentials: ExchangeApiCredentials = Field(
        description=(
            "Read-only API key pair: kept in AWS Secrets Manager for the import's duration, never returned or logged."
        )
    )
    symbols: list[str] = Field(
        max_length=MAX_SYMBOLS, description="The pairs to import (Binance lists trades per pair)."
    )
    start_time: UtcDateTimeInput | None = Field(None, description="Trades from this time (default: all).")


# One body, told apart by `source` (OpenAPI: oneOf with a discriminator).
TransactionImportCreate = Annotated[FileImportCreate | ExchangeImportCreate, Field(discriminator="source")]


class TransactionImportQueued(BaseModel):
    import_id: UUID
    status: Literal["pending"]
    message: str = Field(examples=["Import job queued successfully"])


class TransactionImportProblem(BaseModel):
    field: str = Field(examples=["line 12"])
    message: str = Field(examples=["price '-1' must be greater than 0"])


class TransactionImportOut(BaseModel):
    import_id: UUID
    status: Literal[JOB_STATUSES]  # type: ignore[valid-type]
    source: Literal[SOURCE_FILE, SOURCE_EXCHANGE]
    exchange: str
    file_format: str | None
    symbols: list[str]
    format: str | None = Field(description="The layout found: binance_trade_history, generic_csv, ...")
    received: int = Field(description="Rows in the file, or trades the exchange returned.")
    imported: int = Field(description="Transactions this import stored.")
    duplicates: int = Field(description="Rows repeated in the file or imported before: left as they were.")
    errors: list[TransactionImportProblem] = Field(
        description=("Why it failed: the first 100 problems, each naming its line.")
    )
    error_count: int
    message: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class TransactionOut(BaseModel):
    id: UUID
    transaction_time: UtcDateTime
    symbol: str = Field(examples=["BTCUSDT"])
    price: Decimal
    quantity: Decimal
    side: Literal[SIDES]  # type: ignore[valid-type]
    transaction_type: str = Field(examples=["trade"])
    transaction_id: str = Field(description="The exchange's trade id (or `row-...` derived from a file row's content).")
    exchange: str
    fee: Decimal
    fee_asset: str | None
    import_id: UUID
    is_replayed: bool
    created_at: UtcDateTime


class TransactionList(BaseModel):
    data: list[TransactionOut]
    meta: PageMeta


class ReplayMetadata(RequestBody):
    alternative_entry: str | None = Field(None, description="A strategy id: its entry rules pick the entries.")
    alternative_exit: str | None = Field(
        None,
        description=(
            "A strategy id, or rules: `stop_loss:2`, `take_profit:4`, `trailing_stop:1.5`, `time:24h`, comma-separated."
        ),
    )
    initial_balance: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description=("Default: the cash the transactions needed (most ever tied up net of profit realised before)."),
    )


class ReplayCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "transaction_ids": ["0b7e3c1e-4f5a-4d8b-9c1e-2f3a4b5c6d7e", "3c9a7f10-2b1d-4e8a-9f6c-1a2b3c4d5e6f"],
                    "symbol": "BTCUSDT",
                    "timeframe": "1h",
                    "window_before": "4h",
                    "window_after": "2d",
                    "metadata": {"alternative_exit": "stop_loss:2,take_profit:4"},
                }
            ]
        }
    )

    transaction_ids: list[Id] = Field(min_length=1, max_length=MAX_REPLAY_TRANSACTIONS)
    symbol: str = Field(min_length=1, max_length=30)
    timeframe: Timeframe
    window_before: str = Field(
        DEFAULT_WINDOW, max_length=20, pattern=DURATION_PATTERN, description="How early an alternative entry may come."
    )
    window_after: str = Field(
        DEFAULT_WINDOW, max_length=20, pattern=DURATION_PATTERN, description="How long after an exit alternatives run."
    )
    metadata: ReplayMetadata = Field(default_factory=ReplayMetadata)


class ReplayQueued(BaseModel):
    replay_id: UUID
    backtest_id: UUID
    status: Literal["pending"]
    message: str = Field(examples=[REPLAY_QUEUED_MESSAGE])


class ReplayOut(BaseModel):
    replay_id: UUID
    backtest_id: UUID
    status: Status
    progress: int
    symbol: str
    timeframe: str
    transaction_count: int
    round_trips: int
    window_before: str
    window_after: str
    alternative_entry: str | None
    alternative_exit: str | None
    created_at: UtcDateTime
    comparison: dict[str, Any] | None = Field(
        description=(
            "Once completed: `totals` (actual_pnl, alternative_pnl, pnl_difference), both performance summaries and, "
            "per round trip, the actual and alternative legs (null when the alternative never entered)."
        )
    )


# ------------------------------------------------------------------ routes
def _file_bytes(text: str) -> bytes:
    """base64 when the text is strictly base64 (no CSV or JSON file is), else the text itself."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.encode()


@router.post(
    "/import",
    status_code=202,
    response_model=TransactionImportQueued,
    responses=error_responses(400),
    summary="Import transactions from a file or an exchange",
    description="Queues the import. Progress: `transaction:import_update` events on `user:{id}` and "
    "`GET /transactions/imports/{import_id}`. A file with any bad line imports nothing.",
)
def import_transactions(
    body: TransactionImportCreate, user: CurrentUser, transactions: Transactions, response: Response
) -> TransactionImportQueued:
    if isinstance(body, FileImportCreate):
        job = transactions.imports.submit_file(user.id, body.file_format, _file_bytes(body.file_content), body.exchange)
    else:
        credentials = ExchangeCredentials(
            body.api_credentials.api_key.get_secret_value(), body.api_credentials.api_secret.get_secret_value()
        )
        job = transactions.imports.submit_exchange(user.id, body.exchange, credentials, body.symbols, body.start_time)
    response.headers["Location"] = f"{ROUTE}/imports/{job.import_id}"
    return TransactionImportQueued(import_id=job.import_id, status=job.status, message=job.message)


@router.get(
    "/imports/{import_id}",
    response_model=TransactionImportOut,
    responses=error_responses(404),
    summary="Get an import's status",
)
def get_import(import_id: UUID, user: CurrentUser, transactions: Transactions) -> TransactionImportOut:
    return _import_out(transactions.imports.get(user.id, str(import_id)))


@router.get(
    "",
    response_model=TransactionList,
    summary="List your transactions",
    description="Newest first. `start_time` and `end_time` bound `transaction_time`, both inclusive.",
)
def list_transactions(
    user: CurrentUser,
    transactions: Transactions,
    page: Pagination,
    symbol: Annotated[str | None, Query(max_length=30, examples=["BTCUSDT"])] = None,
    side: Annotated[Literal[SIDES] | None, Query()] = None,  # type: ignore[valid-type]
    start_time: Annotated[UtcDateTimeInput | None, Query()] = None,
    end_time: Annotated[UtcDateTimeInput | None, Query()] = None,
) -> TransactionList:
    from shared.transactions.ports import TransactionFilters

    found = transactions.history.list(user.id, TransactionFilters(symbol, side, start_time, end_time), page)
    return TransactionList(data=[_transaction_out(t) for t in found.items], meta=found.meta())


@router.post(
    "/replay",
    status_code=202,
    response_model=ReplayQueued,
    responses=error_responses(400, 404),
    summary="Replay transactions as a backtest",
    description="Pairs the transactions into round trips (FIFO, partial fills) and queues a backtest of "
    "them, with the alternative entry/exit beside them. 404 for transactions (or strategies) "
    "that are not yours; 422 for windows or rules that do not parse.",
)
def replay_transactions(
    body: ReplayCreate, user: CurrentUser, transactions: Transactions, response: Response
) -> ReplayQueued:
    from shared.transactions.replays import ReplayRequest

    request = ReplayRequest(
        transaction_ids=[str(i) for i in body.transaction_ids],
        symbol=body.symbol,
        timeframe=body.timeframe,
        window_before=body.window_before,
        window_after=body.window_after,
        alternative_entry=body.metadata.alternative_entry,
        alternative_exit=body.metadata.alternative_exit,
        initial_balance=body.metadata.initial_balance,
    )
    record, backtest = transactions.replays.request(user, request)
    response.headers["Location"] = f"{ROUTE}/replays/{record.replay_id}"
    return ReplayQueued(
        replay_id=record.replay_id, backtest_id=backtest.id, status=backtest.status, message=REPLAY_QUEUED_MESSAGE
    )


@router.get(
    "/replays/{replay_id}",
    response_model=ReplayOut,
    responses=error_responses(404),
    summary="Get a replay and its comparison",
)
def get_replay(replay_id: UUID, user: CurrentUser, transactions: Transactions) -> ReplayOut:
    return _replay_out(transactions.replays.get(user, str(replay_id)))


def _import_out(job: ImportJob) -> TransactionImportOut:
    return TransactionImportOut(
        import_id=job.import_id,
        status=job.status,
        source=job.source,
        exchange=job.exchange,
        file_format=job.file_format,
        symbols=list(job.symbols),
        format=job.format,
        received=job.received,
        imported=job.imported,
        duplicates=job.duplicates,
        errors=[TransactionImportProblem(**e.to_dict()) for e in job.errors],
        error_count=job.error_count,
        message=job.message,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


def _transaction_out(t: Transaction) -> TransactionOut:
    return TransactionOut(
        id=t.id,
        transaction_time=datetime_of_ms(t.time_ms),
        symbol=t.symbol,
        price=t.price,
        quantity=t.quantity,
        side=t.side,
        transaction_type=t.transaction_type,
        transaction_id=t.transaction_id,
        exchange=t.exchange,
        fee=t.fee,
        fee_asset=t.fee_asset,
        import_id=t.import_id,
        is_replayed=t.is_replayed,
        created_at=t.created_at,
    )


def _replay_out(view: ReplayView) -> ReplayOut:
    record, backtest = view.record, view.backtest
    return ReplayOut(
        replay_id=record.replay_id,
        backtest_id=record.backtest_id,
        status=backtest.status,
        progress=backtest.progress,
        symbol=record.symbol,
        timeframe=record.timeframe,
        transaction_count=record.transaction_count,
        round_trips=record.round_trips,
        window_before=record.window_before,
        window_after=record.window_after,
        alternative_entry=record.alternative_entry,
        alternative_exit=record.alternative_exit,
        created_at=record.created_at,
        comparison=round_numbers(view.comparison),
    )
