"""Import jobs and replays: their records, the imports-bucket keys that start imports, the
documents handed from the API to the workers, and exchange credentials.

An import is a job: the API writes its record (pending) and then one object to the imports bucket,
whose S3 event runs the transaction import function:

    imports/transactions/<owner_id>/<import_id>/file.csv|file.json   the uploaded file
    imports/transactions/<owner_id>/<import_id>/exchange.json        an exchange request:
        {exchange, symbols, start_ms, credentials_id}: the credentials stay in the secrets store,
        the request names them by id only.

A replay is a backtest (same record, same state machine, same endpoints) plus a replay record
naming it; the replay's input (transactions, windows, alternative rules and strategies) is a
document next to the backtest's results.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from shared.errors import FieldError
from shared.statuses import COMPLETED, FAILED, RUNNING

SOURCE_FILE, SOURCE_EXCHANGE = "file", "exchange"
EXCHANGES = ("binance",)
IMPORT_UPDATE_EVENT = "transaction:import_update"
IMPORTS_PREFIX = "imports/transactions/"
EXCHANGE_REQUEST_NAME = "exchange.json"
IMPORT_QUEUED_MESSAGE = "Import job queued successfully"
MAX_SYMBOLS = 20  # per exchange import
# Replays: the request's limits and defaults (the API's schema states them too).
MAX_REPLAY_TRANSACTIONS = 5000
DEFAULT_WINDOW = "1d"
REPLAY_QUEUED_MESSAGE = "Replay job queued successfully"

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_IMPORT_KEY = re.compile(rf"^{re.escape(IMPORTS_PREFIX)}({_UUID})/({_UUID})/(file\.csv|file\.json|exchange\.json)$")


def file_key(owner_id: str, import_id: str, file_format: str) -> str:
    return f"{IMPORTS_PREFIX}{owner_id}/{import_id}/file.{file_format}"


def exchange_request_key(owner_id: str, import_id: str) -> str:
    return f"{IMPORTS_PREFIX}{owner_id}/{import_id}/{EXCHANGE_REQUEST_NAME}"


@dataclass(frozen=True)
class ImportObject:
    """What an imports-bucket key under IMPORTS_PREFIX names."""

    key: str
    owner_id: str
    import_id: str
    is_exchange_request: bool


def parse_import_key(key: str) -> ImportObject | None:
    """The job a key (URL-encoded, as in S3 events) starts; None for any other key."""
    key = unquote_plus(key)
    match = _IMPORT_KEY.match(key)
    if match is None:
        return None
    return ImportObject(key, match[1], match[2], match[3] == EXCHANGE_REQUEST_NAME)


@dataclass(frozen=True)
class ExchangeCredentials:
    """An exchange API key pair. Never printed: both fields are left out of repr()."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)


@dataclass(frozen=True)
class ExchangeRequest:
    """The imports-bucket document of an exchange import (no credentials, only their id)."""

    exchange: str
    symbols: tuple[str, ...]
    start_ms: int | None
    credentials_id: str

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "exchange": self.exchange,
                "symbols": list(self.symbols),
                "start_ms": self.start_ms,
                "credentials_id": self.credentials_id,
            }
        ).encode()

    @classmethod
    def from_json(cls, content: bytes) -> ExchangeRequest:
        document = json.loads(content)
        return cls(document["exchange"], tuple(document["symbols"]), document["start_ms"], document["credentials_id"])


@dataclass(frozen=True)
class ImportJob:
    """The status record of one import."""

    import_id: str
    owner_id: str
    source: str  # file | exchange
    exchange: str
    status: str
    created_at: datetime
    updated_at: datetime
    file_format: str | None = None  # csv | json, for files
    symbols: tuple[str, ...] = ()  # for exchange imports
    format: str | None = None  # the layout found (binance_trade_history, generic_csv, ...)
    received: int = 0  # rows in the file / trades the exchange returned
    imported: int = 0  # transactions stored by this import
    duplicates: int = 0  # rows repeated in the file or stored before
    errors: tuple[FieldError, ...] = ()
    error_count: int = 0
    message: str = IMPORT_QUEUED_MESSAGE

    def running(self, now: datetime) -> ImportJob:
        return replace(self, status=RUNNING, updated_at=now, errors=(), error_count=0, message="Importing")

    def completed(self, fmt: str | None, received: int, imported: int, duplicates: int, now: datetime) -> ImportJob:
        message = f"Imported {imported} transaction{'s' if imported != 1 else ''}"
        if duplicates:
            message += f"; {duplicates} already imported or repeated"
        return replace(
            self,
            status=COMPLETED,
            updated_at=now,
            format=fmt,
            received=received,
            imported=imported,
            duplicates=duplicates,
            message=message,
        )

    def failed(self, message: str, errors: list[FieldError], error_count: int, now: datetime) -> ImportJob:
        return replace(
            self,
            status=FAILED,
            updated_at=now,
            errors=tuple(errors),
            error_count=error_count,
            imported=0,
            message=message,
        )

    def event(self) -> dict[str, Any]:
        """The `transaction:import_update` payload: the seed's {import_id, status, count, message}
        (count: transactions imported) plus the other counts and the errors."""
        return {
            "import_id": self.import_id,
            "status": self.status,
            "count": self.imported,
            "message": self.message,
            "received": self.received,
            "duplicates": self.duplicates,
            "error_count": self.error_count,
            "errors": [error.to_dict() for error in self.errors],
        }


@dataclass(frozen=True)
class ReplayRecord:
    """A replay: which backtest shows it and what was asked."""

    replay_id: str
    owner_id: str
    backtest_id: str
    created_at: datetime
    symbol: str
    timeframe: str
    transaction_count: int
    round_trips: int
    window_before: str
    window_after: str
    alternative_entry: str | None
    alternative_exit: str | None


@dataclass(frozen=True)
class ReplayFill:
    """What a replay needs of a transaction: what pairing (shared.transactions.pairing) reads."""

    id: str
    symbol: str
    side: str
    price: float
    quantity: float
    fee: float
    fee_asset: str | None
    time_ms: int


@dataclass(frozen=True)
class ReplayInput:
    """Everything the replay computation needs, fixed when the replay is requested: the
    transactions, the candle range, and the alternative with its strategies' definitions
    snapshotted (editing a strategy later changes no queued replay)."""

    replay_id: str
    owner_id: str
    symbol: str
    timeframe: str
    start_ms: int
    end_ms: int
    window_before_ms: int
    window_after_ms: int
    initial_balance: float
    fills: tuple[ReplayFill, ...]
    entry_strategy: dict[str, Any] | None = None
    exit_strategy: dict[str, Any] | None = None
    exit_rules: dict[str, Any] | None = None  # ExitRules.to_dict()

    def to_json(self) -> bytes:
        document = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "fills"}
        return json.dumps(document | {"fills": [vars(fill) for fill in self.fills]}).encode()

    @classmethod
    def from_json(cls, content: bytes) -> ReplayInput:
        document = json.loads(content)
        return cls(**{**document, "fills": tuple(ReplayFill(**fill) for fill in document["fills"])})
