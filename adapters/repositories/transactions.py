"""Transactions, import jobs and replay records in DynamoDB; replay inputs and comparisons in S3.

Storing an import's transactions reads which of them exist first (BatchGetItem, keys only), so
re-importing a file writes nothing; the new ones are then written with conditional puts in
parallel, which keeps two concurrent imports of one fill from storing it twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from adapters.models.transactions import (
    IMPORT_KIND,
    IMPORT_RECORD_DAYS,
    REPLAY_KIND,
    TimeIndex,
    TransactionItem,
    TransactionJobItem,
)
from adapters.repositories.binding import condition_failed
from adapters.repositories.trades import result_prefixes
from adapters.s3_objects import S3Objects
from shared.errors import FieldError, NotFound
from shared.times import datetime_of_ms
from shared.transactions.jobs import ImportJob, ReplayRecord
from shared.transactions.model import Transaction
from shared.transactions.ports import TransactionFilters

WRITE_WORKERS = 8
BATCH_GET_KEYS = 100


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


class DynamoTransactionRepository:
    def __init__(self, model: type[TransactionItem] = TransactionItem) -> None:
        self._model = model

    def add_new(self, transactions: Sequence[Transaction]) -> int:
        by_key = {(t.owner_id, t.id): t for t in transactions}
        stored = {(item.owner_id, item.id) for item in self._batch_get(by_key, attributes=["owner_id", "id"])}
        fresh = [t for key, t in by_key.items() if key not in stored]
        with ThreadPoolExecutor(WRITE_WORKERS) as pool:
            return sum(pool.map(self._put_if_absent, fresh))

    def get_many(self, owner_id: str, ids: Collection[str]) -> dict[str, Transaction]:
        return {item.id: self._transaction(item) for item in self._batch_get([(owner_id, i) for i in ids])}

    def page(
        self, owner_id: str, filters: TransactionFilters, offset: int, limit: int
    ) -> tuple[list[Transaction], int]:
        model = self._model
        time = TimeIndex.transaction_time
        if filters.start is not None and filters.end is not None:
            range_condition = time.between(filters.start, filters.end)
        elif filters.start is not None:
            range_condition = time >= filters.start
        elif filters.end is not None:
            range_condition = time <= filters.end
        else:
            range_condition = None
        condition = None
        if filters.symbol is not None:
            condition = model.symbol == filters.symbol
        if filters.side is not None:
            condition = model.side == filters.side if condition is None else condition & (model.side == filters.side)
        keys = [
            (item.transaction_time, item.id)
            for item in model.query(
                owner_id, range_condition, filter_condition=condition, index_name=TimeIndex.Meta.index_name
            )
        ]
        keys.sort(reverse=True)  # newest first; equal times in a stable (id) order
        wanted = [transaction_id for _, transaction_id in keys[offset : offset + limit]]
        found = self.get_many(owner_id, wanted)
        return [found[i] for i in wanted if i in found], len(keys)

    def mark_replayed(self, owner_id: str, ids: Collection[str]) -> None:
        model = self._model

        def mark(transaction_id: str) -> None:
            try:
                model(owner_id, transaction_id).update(
                    actions=[model.is_replayed.set(True)], condition=model.id.exists()
                )
            except UpdateError as error:
                if not condition_failed(error):  # deleted meanwhile: nothing to mark
                    raise

        with ThreadPoolExecutor(WRITE_WORKERS) as pool:
            list(pool.map(mark, ids))

    def _put_if_absent(self, transaction: Transaction) -> int:
        try:
            self._item(transaction).save(condition=self._model.id.does_not_exist())
        except PutError as error:
            if condition_failed(error):
                return 0
            raise
        return 1

    def _batch_get(self, keys: Iterable[tuple[str, str]], attributes: list[str] | None = None) -> list[TransactionItem]:
        keys = list(keys)
        items: list[TransactionItem] = []
        for start in range(0, len(keys), BATCH_GET_KEYS):
            items += self._model.batch_get(keys[start : start + BATCH_GET_KEYS], attributes_to_get=attributes)
        return items

    def _item(self, t: Transaction) -> TransactionItem:
        return self._model(
            t.owner_id,
            t.id,
            exchange=t.exchange,
            transaction_id=t.transaction_id,
            symbol=t.symbol,
            side=t.side,
            price=t.price,
            quantity=t.quantity,
            fee=t.fee,
            fee_asset=t.fee_asset,
            transaction_time=datetime_of_ms(t.time_ms),
            transaction_type=t.transaction_type,
            import_id=t.import_id,
            is_replayed=t.is_replayed,
            created_at=t.created_at,
        )

    @staticmethod
    def _transaction(item: TransactionItem) -> Transaction:
        return Transaction(
            exchange=item.exchange,
            transaction_id=item.transaction_id,
            symbol=item.symbol,
            side=item.side,
            price=float(item.price),
            quantity=float(item.quantity),
            fee=float(item.fee),
            fee_asset=item.fee_asset,
            time_ms=_epoch_ms(item.transaction_time),
            transaction_type=item.transaction_type,
            id=item.id,
            owner_id=item.owner_id,
            import_id=item.import_id,
            is_replayed=bool(item.is_replayed),
            created_at=item.created_at,
        )


class DynamoImportJobRepository:
    def __init__(self, model: type[TransactionJobItem] = TransactionJobItem) -> None:
        self._model = model

    def add(self, job: ImportJob) -> None:
        self._item(job).save(condition=self._model.job_id.does_not_exist())

    def get(self, owner_id: str, import_id: str) -> ImportJob | None:
        item = _job_item(self._model, owner_id, import_id, IMPORT_KIND)
        if item is None:
            return None
        document = dict(item.document)
        return ImportJob(
            **{
                **document,
                "created_at": datetime.fromisoformat(document["created_at"]),
                "updated_at": datetime.fromisoformat(document["updated_at"]),
                "symbols": tuple(document["symbols"]),
                "errors": tuple(FieldError(**error) for error in document["errors"]),
            }
        )

    def save(self, job: ImportJob) -> None:
        self._item(job).save()

    def _item(self, job: ImportJob) -> TransactionJobItem:
        document = vars(job) | {
            "created_at": job.created_at.isoformat(),
            "updated_at": job.updated_at.isoformat(),
            "symbols": list(job.symbols),
            "errors": [error.to_dict() for error in job.errors],
        }
        return self._model(
            job.owner_id,
            job.import_id,
            kind=IMPORT_KIND,
            document=document,
            expires_at=job.created_at + timedelta(days=IMPORT_RECORD_DAYS),
        )


class DynamoReplayRecordRepository:
    def __init__(self, model: type[TransactionJobItem] = TransactionJobItem) -> None:
        self._model = model

    def add(self, record: ReplayRecord) -> None:
        document = vars(record) | {"created_at": record.created_at.isoformat()}
        self._model(record.owner_id, record.replay_id, kind=REPLAY_KIND, document=document).save(
            condition=self._model.job_id.does_not_exist()
        )

    def get(self, owner_id: str, replay_id: str) -> ReplayRecord | None:
        item = _job_item(self._model, owner_id, replay_id, REPLAY_KIND)
        if item is None:
            return None
        return ReplayRecord(**{**item.document, "created_at": datetime.fromisoformat(item.document["created_at"])})


def _job_item(model: type[TransactionJobItem], owner_id: str, job_id: str, kind: str) -> TransactionJobItem | None:
    try:
        item = model.get(owner_id, job_id, consistent_read=True)
    except DoesNotExist:
        return None
    return item if item.kind == kind else None


def replay_input_key(backtest_id: str) -> str:
    return f"{result_prefixes(backtest_id)[0]}replay-input.json"


def replay_comparison_key(backtest_id: str) -> str:
    return f"{result_prefixes(backtest_id)[0]}replay-comparison.json"


class S3ReplayStore:
    """A replay's documents under its backtest's prefix in the results bucket, so deleting or
    cancelling the backtest removes them with its trades."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._objects = S3Objects(s3_client, bucket)

    def put_input(self, backtest_id: str, content: bytes) -> None:
        self._objects.put_bytes(replay_input_key(backtest_id), content, "application/json")

    def get_input(self, backtest_id: str) -> bytes:
        key = replay_input_key(backtest_id)
        content = self._objects.get_bytes(key)
        if content is None:
            raise NotFound(f"{self._objects.url(key)} is gone (the replay was cancelled or cleaned up)")
        return content

    def put_comparison(self, backtest_id: str, comparison: dict[str, Any]) -> None:
        self._objects.put_json(replay_comparison_key(backtest_id), comparison)

    def get_comparison(self, backtest_id: str) -> dict[str, Any] | None:
        document: dict[str, Any] | None = self._objects.get_json(replay_comparison_key(backtest_id))
        return document
