"""Transaction imports from files, end to end on moto: queued by the API's service, run by the
import function from the imports bucket's S3 event; duplicates, bad files, listings, owners."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from adapters.candle_store import S3ImportInbox
from adapters.models.transactions import TransactionItem, TransactionJobItem
from adapters.repositories.binding import bind
from adapters.repositories.transactions import DynamoImportJobRepository, DynamoTransactionRepository
from adapters.secrets import SecretsManagerVault
from shared.errors import NotFound, ValidationFailed
from shared.pagination import PageRequest
from shared.statuses import COMPLETED, FAILED, RUNNING
from shared.transactions.history import TransactionHistory
from shared.transactions.imports import ImportRunner, TransactionImports
from shared.transactions.jobs import IMPORT_UPDATE_EVENT, file_key
from shared.transactions.model import transaction_uuid
from shared.transactions.ports import TransactionFilters
from tests.fakes.market_data import RecordingPublisher

IMPORTS_BUCKET = "test-imports"
TRANSACTIONS_TABLE, JOBS_TABLE, IDEMPOTENCY_TABLE = "test-transactions", "test-transaction-jobs", "test-idempotency"
SECRETS_PREFIX = "test-stack/exchange-credentials"
ADA, BOB = "5f0e7c56-7a4c-4f55-9f57-1f9f0e6a1a01", "5f0e7c56-7a4c-4f55-9f57-1f9f0e6a1a02"
JAN_1 = 1_704_067_200_000
HOUR = 3_600_000

GENERIC_CSV = (
    b"time,symbol,side,price,quantity,fee,fee_asset,id\n"
    b"2024-01-01T00:00:00Z,BTCUSDT,buy,42000,0.5,21,USDT,1001\n"
    b"2024-01-01T01:00:00Z,ETHUSDT,buy,2200,2,4.4,USDT,2001\n"
    b"2024-01-01T02:00:00Z,BTCUSDT,sell,42500,0.5,21.25,USDT,1002\n"
    b"2024-01-01T03:00:00Z,ETHUSDT,sell,2300,2,4.6,USDT,2002\n"
)


def _load(name: str, folder: str):
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).resolve().parents[1] / "functions" / folder / "app.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


transaction_import = _load("transaction_import_app", "transaction_import")


class Context:
    function_name = "TransactionImportFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:TransactionImportFunction"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


class Stack:
    """The import's adapters on moto, the API's service and the function's runner."""

    def __init__(self, models: tuple, publisher: RecordingPublisher, exchanges: dict | None = None) -> None:
        self.s3 = boto3.client("s3")
        self.s3.create_bucket(Bucket=IMPORTS_BUCKET)
        self.dynamodb = boto3.client("dynamodb")
        transactions, jobs = models
        for model in (transactions, jobs):
            model.create_table()  # moto creates tables ACTIVE: no waiting
        self.dynamodb.create_table(
            TableName=IDEMPOTENCY_TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        )
        self.repository = DynamoTransactionRepository(transactions)
        self.jobs = DynamoImportJobRepository(jobs)
        inbox = S3ImportInbox(self.s3, IMPORTS_BUCKET)
        self.vault = SecretsManagerVault(boto3.client("secretsmanager"), SECRETS_PREFIX)
        self.imports = TransactionImports(self.jobs, inbox, self.vault)
        self.runner = ImportRunner(self.jobs, self.repository, inbox, self.vault, exchanges or {}, publisher)
        self.history = TransactionHistory(self.repository)
        self.publisher = publisher

    def s3_event(self, key: str, sequencer: str = "0001") -> dict:
        return {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "s3": {"bucket": {"name": IMPORTS_BUCKET}, "object": {"key": key, "sequencer": sequencer}},
                }
            ]
        }

    def deliver(self, key: str, sequencer: str = "0001") -> list:
        """What S3 does once the object lands: the import function runs with the event."""
        return transaction_import.handle_event(self.s3_event(key, sequencer), Context(), self.runner)

    def import_file(self, owner: str, content: bytes, file_format: str = "csv", exchange: str = "binance"):
        job = self.imports.submit_file(owner, file_format, content, exchange)
        self.deliver(file_key(owner, job.import_id, file_format))
        return self.imports.get(owner, job.import_id)

    def listing(self, owner: str, page: PageRequest = PageRequest(), **filters):
        return self.history.list(owner, TransactionFilters(**filters), page)


@pytest.fixture(scope="session")
def transaction_models(moto_server) -> tuple:
    """The models bound once for the session: each bound class makes its own DynamoDB client (~0.1 s)."""
    return bind(TransactionItem, TRANSACTIONS_TABLE, moto_server), bind(TransactionJobItem, JOBS_TABLE, moto_server)


@pytest.fixture
def stack(aws, transaction_models, monkeypatch) -> Stack:
    monkeypatch.setenv("IDEMPOTENCY_TABLE", IDEMPOTENCY_TABLE)
    return Stack(transaction_models, RecordingPublisher())


# ---------------------------------------------------------------- files in
def test_a_file_import_queues_a_pending_job_then_the_function_imports_it(stack):
    job = stack.imports.submit_file(ADA, "csv", GENERIC_CSV)
    assert (job.status, job.source, job.exchange, job.file_format) == ("pending", "file", "binance", "csv")
    key = file_key(ADA, job.import_id, "csv")
    assert stack.s3.get_object(Bucket=IMPORTS_BUCKET, Key=key)["Body"].read() == GENERIC_CSV

    [outcome] = stack.deliver(key)
    assert outcome == {"import_id": job.import_id, "status": COMPLETED}
    done = stack.imports.get(ADA, job.import_id)
    assert (done.status, done.format, done.received, done.imported, done.duplicates) == (
        COMPLETED,
        "generic_csv",
        4,
        4,
        0,
    )
    events = stack.publisher.on(f"user:{ADA}")
    assert [(event, data["status"], data["count"]) for event, data in events] == [
        (IMPORT_UPDATE_EVENT, RUNNING, 0),
        (IMPORT_UPDATE_EVENT, COMPLETED, 4),
    ]
    assert events[-1][1] == {
        "import_id": job.import_id,
        "status": COMPLETED,
        "count": 4,
        "message": "Imported 4 transactions",
        "received": 4,
        "duplicates": 0,
        "error_count": 0,
        "errors": [],
    }
    listed = stack.listing(ADA)
    assert listed.total_count == 4
    newest = listed.items[0]
    assert (newest.symbol, newest.side, newest.price, newest.quantity, newest.fee, newest.fee_asset) == (
        "ETHUSDT",
        "sell",
        2300.0,
        2.0,
        4.6,
        "USDT",
    )
    assert (newest.transaction_id, newest.exchange, newest.import_id, newest.is_replayed) == (
        "2002",
        "binance",
        job.import_id,
        False,
    )
    assert newest.id == transaction_uuid(ADA, "binance", "ETHUSDT", "2002")
    assert newest.time_ms == JAN_1 + 3 * HOUR


def test_reimporting_the_same_file_changes_nothing(stack):
    first = stack.import_file(ADA, GENERIC_CSV)
    stack.repository.mark_replayed(ADA, [transaction_uuid(ADA, "binance", "BTCUSDT", "1001")])
    before = stack.dynamodb.scan(TableName=TRANSACTIONS_TABLE)["Items"]

    again = stack.import_file(ADA, GENERIC_CSV)
    assert (again.status, again.received, again.imported, again.duplicates) == (COMPLETED, 4, 0, 4)
    assert again.message == "Imported 0 transactions; 4 already imported or repeated"
    after = stack.dynamodb.scan(TableName=TRANSACTIONS_TABLE)["Items"]
    assert sorted(after, key=lambda item: item["id"]["S"]) == sorted(before, key=lambda item: item["id"]["S"])
    assert first.import_id != again.import_id


def test_an_overlapping_file_adds_only_its_new_transactions_and_duplicates_inside_a_file_count_once(stack):
    stack.import_file(ADA, GENERIC_CSV)
    overlapping = (
        GENERIC_CSV + b"2024-01-01T04:00:00Z,BTCUSDT,buy,42600,1,0,USDT,1003\n"
        b"2024-01-01T04:00:00Z,BTCUSDT,buy,42600,1,0,USDT,1003\n"
    )
    job = stack.import_file(ADA, overlapping)
    assert (job.received, job.imported, job.duplicates) == (6, 1, 5)
    assert stack.listing(ADA).total_count == 5


def test_the_same_fill_from_two_owners_is_each_owners_own(stack):
    stack.import_file(ADA, GENERIC_CSV)
    job = stack.import_file(BOB, GENERIC_CSV)
    assert job.imported == 4
    assert stack.listing(BOB).total_count == 4 and stack.listing(ADA).total_count == 4


def test_a_bad_file_imports_nothing_and_its_job_names_each_bad_line(stack):
    bad = (
        GENERIC_CSV + b"2024-01-01T05:00:00Z,BTCUSDT,hold,42600,1,0,USDT,1004\n"
        b"2024-01-01T06:00:00Z,BTCUSDT,buy,-3,1,0,USDT,1005\n"
    )
    job = stack.import_file(ADA, bad)
    assert (job.status, job.imported, job.error_count) == (FAILED, 0, 2)
    assert [(e.field, e.message) for e in job.errors] == [
        ("line 6", "side 'hold' must be buy or sell"),
        ("line 7", "price '-3' must be greater than 0"),
    ]
    assert job.message == "the file has invalid transactions: 2 problems"
    assert stack.listing(ADA).total_count == 0
    [(_, failed)] = [item for item in stack.publisher.on(f"user:{ADA}") if item[1]["status"] == FAILED]
    assert failed["errors"][0] == {"field": "line 6", "message": "side 'hold' must be buy or sell"}


def test_a_json_file_and_a_binance_export(stack):
    items = [{"time": "2024-01-01T00:00:00Z", "symbol": "BTCUSDT", "side": "buy", "price": 100, "quantity": 1}]
    assert stack.import_file(ADA, json.dumps(items).encode(), "json").imported == 1
    export = (
        b"Date(UTC),Pair,Side,Price,Executed,Amount,Fee\n2024-01-02 00:00:00,BTCUSDT,SELL,101,1BTC,101USDT,0.101USDT\n"
    )
    job = stack.import_file(ADA, export)
    assert (job.format, job.imported) == ("binance_trade_history", 1)
    assert [t.side for t in stack.listing(ADA).items] == ["sell", "buy"]


def test_the_same_s3_event_delivered_twice_runs_once(stack):
    job = stack.imports.submit_file(ADA, "csv", GENERIC_CSV)
    key = file_key(ADA, job.import_id, "csv")
    stack.deliver(key)
    stack.deliver(key)
    assert [data["status"] for _, data in stack.publisher.on(f"user:{ADA}")] == [RUNNING, COMPLETED]


def test_keys_that_are_not_transaction_imports_are_ignored(stack):
    assert stack.deliver("imports/transactions/not-a-user/x/file.csv") == [None]
    assert stack.runner.run(file_key(ADA, "5f0e7c56-7a4c-4f55-9f57-1f9f0e6a1aff", "csv")) is None


@pytest.mark.parametrize(
    "file_format, content, exchange, field",
    [
        ("xlsx", b"x", "binance", "file_format"),
        ("csv", b"", "binance", "file_content"),
        ("csv", b"x", "Not An Exchange!", "exchange"),
    ],
)
def test_submissions_that_cannot_be_queued(stack, file_format, content, exchange, field):
    with pytest.raises(ValidationFailed) as caught:
        stack.imports.submit_file(ADA, file_format, content, exchange)
    assert [e.field for e in caught.value.errors] == [field]


def test_an_import_is_visible_to_its_owner_only(stack):
    job = stack.imports.submit_file(ADA, "csv", GENERIC_CSV)
    with pytest.raises(NotFound):
        stack.imports.get(BOB, job.import_id)


def test_the_deployed_handler_wires_everything_from_its_environment(stack, monkeypatch):
    monkeypatch.setenv("TRANSACTIONS_TABLE", TRANSACTIONS_TABLE)
    monkeypatch.setenv("TRANSACTION_JOBS_TABLE", JOBS_TABLE)
    monkeypatch.setenv("IMPORTS_BUCKET", IMPORTS_BUCKET)
    monkeypatch.setenv("EXCHANGE_SECRETS_PREFIX", SECRETS_PREFIX)
    monkeypatch.setenv("CONNECTIONS_TABLE", "test-connections")
    monkeypatch.setenv("WEBSOCKET_API_ENDPOINT", "https://example.execute-api.us-east-1.amazonaws.com/dev")
    monkeypatch.setattr(transaction_import, "publisher_from_env", lambda: stack.publisher)
    transaction_import._runner.cache_clear()
    job = stack.imports.submit_file(ADA, "csv", GENERIC_CSV)
    try:
        [outcome] = transaction_import.handler(stack.s3_event(file_key(ADA, job.import_id, "csv")), Context())
    finally:
        transaction_import._runner.cache_clear()
    assert outcome == {"import_id": job.import_id, "status": COMPLETED}


# ---------------------------------------------------------------- listing
def test_listing_filters_by_symbol_side_and_time_newest_first_with_pages(stack):
    stack.import_file(ADA, GENERIC_CSV)
    stack.import_file(BOB, b"time,symbol,side,price,quantity\n2024-01-01T00:30:00Z,BTCUSDT,buy,1,1\n")

    def ids(page) -> list[str]:
        return [t.transaction_id for t in page.items]

    assert ids(stack.listing(ADA)) == ["2002", "1002", "2001", "1001"]
    assert ids(stack.listing(ADA, symbol="btc/usdt")) == ["1002", "1001"]
    assert ids(stack.listing(ADA, side="buy")) == ["2001", "1001"]
    assert ids(stack.listing(ADA, symbol="ETHUSDT", side="sell")) == ["2002"]
    hour = lambda h: datetime.fromtimestamp((JAN_1 + h * HOUR) / 1000, UTC)  # noqa: E731
    assert ids(stack.listing(ADA, start=hour(1), end=hour(2))) == ["1002", "2001"]  # both bounds inclusive
    assert ids(stack.listing(ADA, start=hour(2))) == ["2002", "1002"]
    assert ids(stack.listing(ADA, end=hour(0))) == ["1001"]
    second = stack.listing(ADA, PageRequest.parse(page=2, per_page=3))
    assert (ids(second), second.total_count, second.meta()["total_pages"]) == (["1001"], 4, 2)
    bobs = stack.listing(BOB)
    assert ([t.owner_id for t in bobs.items], bobs.total_count) == ([BOB], 1)


@pytest.mark.parametrize(
    "filters, field",
    [
        ({"side": "hold"}, "side"),
        ({"start": datetime(2024, 2, 1, tzinfo=UTC), "end": datetime(2024, 1, 1, tzinfo=UTC)}, "end_time"),
    ],
)
def test_listing_filters_that_make_no_sense(stack, filters, field):
    with pytest.raises(ValidationFailed) as caught:
        stack.listing(ADA, **filters)
    assert [e.field for e in caught.value.errors] == [field]


def test_get_many_answers_only_the_owners_transactions(stack):
    stack.import_file(ADA, GENERIC_CSV)
    ada_id = transaction_uuid(ADA, "binance", "BTCUSDT", "1001")
    assert set(stack.repository.get_many(ADA, [ada_id, "nope"])) == {ada_id}
    assert stack.repository.get_many(BOB, [ada_id]) == {}
