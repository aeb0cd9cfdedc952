"""Importing transactions: queued by the API (`TransactionImports`), run by the transaction import
function (`ImportRunner`) when the job's object lands in the imports bucket.

A job goes pending -> running -> completed | failed; each change after pending is published as
`transaction:import_update` on the owner's channel. A file with any bad line imports nothing and
the job lists the lines. Transactions already stored (same owner, exchange, symbol and
transaction id) are counted as duplicates and left as they are, so importing a file again
changes nothing. Exchange credentials go to the secrets store when the job is queued and are
deleted once it has finished (kept for a retry when it fails unexpectedly).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.errors import DomainError, FieldError, NotFound, ValidationFailed
from shared.events import EventPublisher, user_channel
from shared.ids import new_id
from shared.market_data.ports import ImportInbox
from shared.statuses import COMPLETED, PENDING
from shared.times import utc_now
from shared.transactions.jobs import (
    EXCHANGES,
    IMPORT_UPDATE_EVENT,
    MAX_SYMBOLS,
    SOURCE_EXCHANGE,
    SOURCE_FILE,
    ExchangeCredentials,
    ExchangeRequest,
    ImportJob,
    ImportObject,
    exchange_request_key,
    file_key,
    parse_import_key,
)
from shared.transactions.model import Fill, Transaction
from shared.transactions.ports import (
    CredentialVault,
    ImportJobRepository,
    TradeHistorySource,
    TransactionRepository,
)

MAX_FILE_BYTES = 10 * 1024 * 1024  # API Gateway takes 10 MB per request; base64 content is larger still
MAX_REQUEST_BYTES = 64 * 1024
FILE_FORMATS = ("csv", "json")
_EXCHANGE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,29}$")
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")


@dataclass
class TransactionImports:
    """The API's side: queue imports and report on them."""

    jobs: ImportJobRepository
    inbox: ImportInbox
    vault: CredentialVault
    clock: Callable[[], datetime] = utc_now

    def submit_file(self, owner_id: str, file_format: str, content: bytes, exchange: str = "binance") -> ImportJob:
        """Queue a file (already base64-decoded). `exchange` names where its trades were made."""
        errors = []
        if file_format not in FILE_FORMATS:
            errors.append(FieldError("file_format", f"must be one of {', '.join(FILE_FORMATS)}"))
        if not _EXCHANGE_NAME.match(exchange):
            errors.append(FieldError("exchange", "must be an exchange name such as binance"))
        if not content:
            errors.append(FieldError("file_content", "is empty"))
        elif len(content) > MAX_FILE_BYTES:
            errors.append(FieldError("file_content", f"is larger than {MAX_FILE_BYTES} bytes"))
        if errors:
            raise ValidationFailed("invalid import", errors)
        job = self._new_job(owner_id, SOURCE_FILE, exchange, file_format=file_format)
        self.jobs.add(job)
        self.inbox.put(file_key(owner_id, job.import_id, file_format), content)
        return job

    def submit_exchange(
        self,
        owner_id: str,
        exchange: str,
        credentials: ExchangeCredentials,
        symbols: Sequence[str],
        start: datetime | None = None,
    ) -> ImportJob:
        """Queue an import of the account's trades in `symbols` (from `start`, else all of them)."""
        wanted = tuple(dict.fromkeys(symbol.strip().upper() for symbol in symbols))
        errors = []
        if exchange not in EXCHANGES:
            errors.append(FieldError("exchange", f"must be one of {', '.join(EXCHANGES)}"))
        if not credentials.api_key.strip():
            errors.append(FieldError("api_credentials.api_key", "is required"))
        if not credentials.api_secret.strip():
            errors.append(FieldError("api_credentials.api_secret", "is required"))
        if not 1 <= len(wanted) <= MAX_SYMBOLS:
            errors.append(FieldError("symbols", f"name 1 to {MAX_SYMBOLS} symbols (Binance lists trades per symbol)"))
        errors += [
            FieldError(f"symbols[{i}]", "is not a trading pair such as BTCUSDT")
            for i, symbol in enumerate(wanted)
            if not _SYMBOL.match(symbol)
        ]
        if start is not None and start > self.clock():
            errors.append(FieldError("start_time", "is in the future"))
        if errors:
            raise ValidationFailed("invalid import", errors)
        job = self._new_job(owner_id, SOURCE_EXCHANGE, exchange, symbols=wanted)
        self.jobs.add(job)
        credentials_id = None
        try:
            credentials_id = self.vault.store(owner_id, job.import_id, credentials)
            start_ms = None if start is None else int(start.timestamp() * 1000)
            request = ExchangeRequest(exchange, wanted, start_ms, credentials_id)
            self.inbox.put(exchange_request_key(owner_id, job.import_id), request.to_json())
        except Exception:
            # Nothing will run this job: say so, and keep no credentials for it.
            if credentials_id is not None:
                self.vault.delete(credentials_id)
            message = "the import could not be queued"
            self.jobs.save(job.failed(message, [FieldError("import", message)], 1, self.clock()))
            raise
        return job

    def get(self, owner_id: str, import_id: str) -> ImportJob:
        job = self.jobs.get(owner_id, import_id)
        if job is None:
            raise NotFound("import not found", [FieldError("import_id", f"no import {import_id}")])
        return job

    def _new_job(self, owner_id: str, source: str, exchange: str, **details: Any) -> ImportJob:
        now = self.clock()
        return ImportJob(
            import_id=new_id(),
            owner_id=owner_id,
            source=source,
            exchange=exchange,
            status=PENDING,
            created_at=now,
            updated_at=now,
            **details,
        )


@dataclass
class ImportRunner:
    """The worker's side: run the job an imports-bucket object starts."""

    jobs: ImportJobRepository
    transactions: TransactionRepository
    inbox: ImportInbox
    vault: CredentialVault
    exchanges: Mapping[str, TradeHistorySource]
    publisher: EventPublisher
    clock: Callable[[], datetime] = utc_now

    def run(self, key: str) -> ImportJob | None:
        """The job's final record; None for keys that are not transaction imports or name no job.

        A completed job is never run again. Unexpected errors mark the job failed and propagate,
        so the platform retries (the import is idempotent)."""
        target = parse_import_key(key)
        if target is None:
            return None
        job = self.jobs.get(target.owner_id, target.import_id)
        if job is None or job.status == COMPLETED:
            return job
        job = self._transition(job.running(self.clock()))
        request = None
        try:
            if target.is_exchange_request:
                request = ExchangeRequest.from_json(self.inbox.read(target.key, MAX_REQUEST_BYTES))
                fmt, fills, repeated = "binance_my_trades", self._exchange_fills(request), 0
            else:
                fmt, fills, repeated = self._file_fills(target, job)
            now = self.clock()
            transactions = [Transaction.of(fill, job.owner_id, job.import_id, now) for fill in fills]
            imported = self.transactions.add_new(transactions)
        except DomainError as error:
            problem_count = getattr(error, "problem_count", len(error.errors) or 1)
            errors = error.errors or [FieldError("import", error.message)]
            self._forget_credentials(request)
            return self._transition(job.failed(error.message, errors, problem_count, self.clock()))
        except Exception:
            message = "the import failed unexpectedly; it will be retried"
            self._transition(job.failed(message, [FieldError("import", message)], 1, self.clock()))
            raise
        self._forget_credentials(request)
        received = len(fills) + repeated
        return self._transition(job.completed(fmt, received, imported, received - imported, self.clock()))

    def _file_fills(self, target: ImportObject, job: ImportJob) -> tuple[str, list[Fill], int]:
        from shared.transactions.parsing import parse_transaction_file  # pyarrow-backed helpers: worker only

        parsed = parse_transaction_file(
            self.inbox.read(target.key, MAX_FILE_BYTES), job.file_format or "csv", job.exchange
        )
        return parsed.format, parsed.fills, parsed.duplicates_dropped

    def _exchange_fills(self, request: ExchangeRequest) -> list[Fill]:
        from shared.transactions.parsing import fills_from_my_trades

        source = self.exchanges[request.exchange]
        credentials = self.vault.load(request.credentials_id)
        fills: list[Fill] = []
        for symbol in request.symbols:
            fills += fills_from_my_trades(source.my_trades(credentials, symbol, request.start_ms), request.exchange)
        return fills

    def _forget_credentials(self, request: ExchangeRequest | None) -> None:
        if request is not None:
            self.vault.delete(request.credentials_id)

    def _transition(self, job: ImportJob) -> ImportJob:
        self.jobs.save(job)
        self.publisher.publish(user_channel(job.owner_id), IMPORT_UPDATE_EVENT, job.event())
        return job
