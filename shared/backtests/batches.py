"""Backtests in bulk from a file dropped into the imports bucket: imports/batches/<name>.json.

    {"owner": "ada@example.com",
     "backtests": [{"strategy_id": ..., "symbol": "BTCUSDT", "timeframe": "1h",
                    "start_time": "2024-01-01T00:00:00Z", "end_time": "2024-07-01T00:00:00Z",
                    "initial_balance": 10000, "metadata": {"leverage": 1, "commission": 0.1}}, ...]}

The owner is an account's email; each entry is what POST /api/v1/backtests takes, validated by
the same request contract (`parse_entry`: the composition root gives `adapters.contracts.
backtest_request`, the API's body model) and checked by the same service, so every valid entry becomes a backtest of the owner, started at once, and every
invalid one is reported, field by field, in the batch's status object
(imports/batch-status/<name>.json, outside the batches/ prefix so writing it triggers nothing).
Invalid entries never stop the valid ones.

Once only: each entry's backtest id is derived from the object (bucket, key, S3 sequencer) and
its position, so processing the same S3 event again finds the backtests already created and
starts nothing twice (the function also skips a redelivered event outright: Powertools
idempotency); a new upload of the same key (a new sequencer) is a new batch.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import json_limits
from shared.accounts.ports import UserRepository
from shared.backtests.ports import BatchInbox
from shared.backtests.service import BacktestRequest, Backtests
from shared.errors import FieldError, NotFound, ValidationFailed
from shared.statuses import FAILED
from shared.times import iso_utc_ms, utc_now

BATCHES_PREFIX = "imports/batches/"
STATUS_PREFIX = "imports/batch-status/"
MAX_ENTRIES = 1_000
# Entry ids: uuid5 in a namespace of our own, from "<bucket>/<key>#<sequencer>#<position>".
_NAMESPACE = uuid.UUID("9a6c1a4e-2f0b-5a43-9d7e-3c1f2b8e7d60")


# An entry as a request (the API's body model, given by the composition root); ValidationFailed
# naming each bad field under the path ("backtests[3]").
EntryParser = Callable[[Any, str], BacktestRequest]


def status_key(batch_key: str) -> str:
    """imports/batches/<name>.json -> imports/batch-status/<name>.json."""
    return STATUS_PREFIX + batch_key.removeprefix(BATCHES_PREFIX)


def entry_id(bucket: str, key: str, sequencer: str, position: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{bucket}/{key}#{sequencer}#{position}"))


@dataclass
class BacktestBatches:
    backtests: Backtests
    users: UserRepository
    inbox: BatchInbox
    bucket: str
    parse_entry: EntryParser
    clock: Callable[[], datetime] = utc_now

    def run(self, key: str, sequencer: str) -> dict[str, Any]:
        """Create and start the batch's valid backtests; write and return its status."""
        status: dict[str, Any] = {"batch": key, "sequencer": sequencer}
        try:
            owner, entries = parse_batch(self.inbox.read(key))
        except ValidationFailed as error:
            status |= {"status": "invalid", "error": error.message, "details": [e.to_dict() for e in error.errors]}
        else:
            account = self.users.find_by_email(owner.strip().lower())
            if account is None:
                status |= {
                    "status": "invalid",
                    "error": f"no account with email {owner!r}",
                    "details": [{"field": "owner", "message": "must be the email of an account"}],
                }
            else:
                results = [
                    self._entry(account.user, key, sequencer, position, entry) for position, entry in enumerate(entries)
                ]
                started = sum(1 for result in results if result["status"] == "started")
                status |= {
                    "status": "done",
                    "owner_id": account.user.id,
                    "started": started,
                    "invalid": len(results) - started,
                    "entries": results,
                }
        status["processed_at"] = iso_utc_ms(self.clock())
        self.inbox.put_status(status_key(key), status)
        return status

    def _entry(self, user: Any, key: str, sequencer: str, position: int, entry: Any) -> dict[str, Any]:
        backtest_id = entry_id(self.bucket, key, sequencer, position)
        try:
            request = self.parse_entry(entry, f"backtests[{position}]")
            existing = self.backtests.repository.get(backtest_id)
            if existing is None:
                self.backtests.create(user, request, backtest_id=backtest_id)
            elif existing.status == FAILED:  # its start failed the first time (create marked it failed)
                return {"index": position, "status": FAILED, "backtest_id": backtest_id, "error": existing.error}
            else:  # created by an earlier attempt at this same event: started once, by name
                self.backtests.launcher.start(backtest_id)
        except (ValidationFailed, NotFound) as error:
            return {
                "index": position,
                "status": "invalid",
                "error": error.message,
                "details": [_prefixed(detail, position) for detail in error.errors],
            }
        return {"index": position, "status": "started", "backtest_id": backtest_id}


def _prefixed(detail: FieldError, position: int) -> dict[str, str]:
    prefix = f"backtests[{position}]"
    field = detail.field if detail.field.startswith(prefix) else f"{prefix}.{detail.field}"
    return {"field": field, "message": detail.message}


MAX_BATCH_BYTES = 64 * 1024 * 1024  # a batch is read whole into a 300 s, 1 GB function


def parse_batch(content: bytes) -> tuple[str, list[Any]]:
    json_limits.check(content, MAX_BATCH_BYTES, field="file")
    try:
        document = json.loads(content)
    except json.JSONDecodeError as error:
        problem = f"line {error.lineno} column {error.colno}: {error.msg}"
        raise ValidationFailed("the batch is not valid JSON", [FieldError("file", problem)]) from None
    except UnicodeDecodeError as error:
        raise ValidationFailed("the batch is not UTF-8 text", [FieldError("file", str(error))]) from None
    if not isinstance(document, dict):
        raise ValidationFailed("invalid batch", [FieldError("file", "must be an object {owner, backtests}")])
    errors = []
    owner, entries = document.get("owner"), document.get("backtests")
    if not isinstance(owner, str) or not owner.strip():
        errors.append(FieldError("owner", "must be the email of an account"))
    if not isinstance(entries, list) or not entries:
        errors.append(FieldError("backtests", "must be a non-empty list of backtests"))
    elif len(entries) > MAX_ENTRIES:
        errors.append(FieldError("backtests", f"lists {len(entries)} backtests; at most {MAX_ENTRIES}"))
    unknown = sorted(set(document) - {"owner", "backtests"})
    errors += [FieldError(name, "unknown field (allowed: owner, backtests)") for name in unknown]
    if errors:
        raise ValidationFailed("invalid batch", errors)
    return document["owner"], document["backtests"]
