"""Exchange imports: signed myTrades against the fake Binance (which checks every signature), paged by
id and found by time; credentials only in Secrets Manager and never anywhere else."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from adapters.binance import BinanceClient
from adapters.binance_account import MY_TRADES_PATH, RECV_WINDOW_MS, BinanceAccountClient
from shared.errors import ValidationFailed
from shared.statuses import COMPLETED, FAILED
from shared.transactions.jobs import ExchangeCredentials, exchange_request_key
from tests.fakes.binance import FakeBinance, FakeRequest
from tests.fakes.market_data import RecordingPublisher
from tests.test_transactions_imports import (  # noqa: F401 - fixture
    ADA,
    IDEMPOTENCY_TABLE,
    IMPORTS_BUCKET,
    JOBS_TABLE,
    Stack,
    transaction_models,
)

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
API_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
MAR_1 = 1_709_251_200_000  # 2024-03-01T00:00:00Z
HOUR, DAY = 3_600_000, 86_400_000
SIGNATURE_INVALID = {"code": -1022, "msg": "Signature for this request is not valid."}


def api_key_of(request: FakeRequest) -> str | None:
    """The X-MBX-APIKEY header (header names are case-insensitive; urllib sends `X-mbx-apikey`)."""
    return {name.lower(): value for name, value in request.headers.items()}.get("x-mbx-apikey")


@dataclass
class FakeAccount:
    """A Binance account behind GET /api/v3/myTrades, answering as Binance does and refusing any
    request whose key, signature or timestamp is wrong."""

    api_key: str
    api_secret: str
    trades: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    timestamps: list[int] = field(default_factory=list)

    def add_trades(self, symbol: str, count: int, first_id: int, start_ms: int, step_ms: int) -> None:
        self.trades[symbol] = [
            {
                "symbol": symbol,
                "id": first_id + i,
                "orderId": 900 + i,
                "orderListId": -1,
                "price": f"{100 + i % 7}.5",
                "qty": "0.25000000",
                "quoteQty": "25.125",
                "commission": "0.02512500",
                "commissionAsset": "USDT",
                "time": start_ms + i * step_ms,
                "isBuyer": i % 2 == 0,
                "isMaker": False,
                "isBestMatch": True,
            }
            for i in range(count)
        ]

    def serve(self, request: FakeRequest) -> tuple[int, Any]:
        if api_key_of(request) != self.api_key:
            return 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
        params = dict(request.params)
        signature = params.pop("signature", "")
        expected = hmac.new(self.api_secret.encode(), urllib.parse.urlencode(params).encode(), hashlib.sha256)
        if not hmac.compare_digest(signature, expected.hexdigest()):
            return 400, SIGNATURE_INVALID
        timestamp, window = int(params["timestamp"]), int(params.get("recvWindow", 5000))
        if not (window <= 60_000 and abs(time.time() * 1000 - timestamp) <= window):
            return 400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
        self.timestamps.append(timestamp)
        trades = self.trades.get(params["symbol"])
        if trades is None:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        limit = min(int(params.get("limit", 500)), 1000)
        if "fromId" in params:
            chosen = [t for t in trades if t["id"] >= int(params["fromId"])]
        elif "startTime" in params and "endTime" in params:
            start, end = int(params["startTime"]), int(params["endTime"])
            if end - start > DAY:
                return 400, {"code": -1127, "msg": "More than 24 hours between startTime and endTime."}
            chosen = [t for t in trades if start <= t["time"] <= end]
        else:
            chosen = trades[-limit:]
        return 200, chosen[:limit]


@pytest.fixture
def account(fake_binance) -> FakeAccount:
    account = FakeAccount(API_KEY, API_SECRET)
    fake_binance.route("GET", MY_TRADES_PATH, account.serve)
    return account


PAGE = 10  # trades per page in these tests (Binance's 1000 is the client's default)


class WaitingClock:
    """Wall time plus every wait the client asked for, so retries are instant yet carry later
    timestamps, as they would after a real wait (the fake's recvWindow check still holds)."""

    def __init__(self) -> None:
        self.waited = 0.0

    def sleep(self, seconds: float) -> None:
        self.waited += seconds

    def __call__(self) -> float:
        return time.time() + self.waited


@pytest.fixture
def stack(aws, transaction_models, fake_binance, monkeypatch) -> Stack:
    monkeypatch.setenv("IDEMPOTENCY_TABLE", IDEMPOTENCY_TABLE)
    clock = WaitingClock()
    client = BinanceAccountClient(BinanceClient(fake_binance.url, sleep=clock.sleep, clock=clock), page_limit=PAGE)
    return Stack(transaction_models, RecordingPublisher(), {"binance": client})


def import_from_exchange(
    stack: Stack,
    symbols: list[str],
    start: datetime | None = None,
    credentials: ExchangeCredentials = ExchangeCredentials(API_KEY, API_SECRET),
):
    job = stack.imports.submit_exchange(ADA, "binance", credentials, symbols, start)
    stack.deliver(exchange_request_key(ADA, job.import_id))
    return stack.imports.get(ADA, job.import_id)


def my_trades_calls(fake: FakeBinance) -> list[dict[str, str]]:
    return [request.params for request in fake.calls(MY_TRADES_PATH)]


# ---------------------------------------------------------------- signed, paged imports
def test_every_trade_is_imported_through_signed_pages(stack, account, fake_binance):
    account.add_trades("BTCUSDT", 25, first_id=1, start_ms=MAR_1, step_ms=HOUR)
    account.add_trades("ETHUSDT", 3, first_id=1, start_ms=MAR_1, step_ms=DAY)
    job = import_from_exchange(stack, ["btcusdt", "ETHUSDT"])
    assert (job.status, job.source, job.symbols, job.format) == (
        COMPLETED,
        "exchange",
        ("BTCUSDT", "ETHUSDT"),
        "binance_my_trades",
    )
    assert (job.received, job.imported, job.duplicates) == (28, 28, 0)
    calls = my_trades_calls(fake_binance)
    assert [(c["symbol"], c["fromId"], c["limit"]) for c in calls] == [
        ("BTCUSDT", "0", "10"),
        ("BTCUSDT", "11", "10"),
        ("BTCUSDT", "21", "10"),
        ("ETHUSDT", "0", "10"),
    ]
    assert all(c["recvWindow"] == str(RECV_WINDOW_MS) and "signature" in c for c in calls)
    assert all(api_key_of(request) == API_KEY for request in fake_binance.calls(MY_TRADES_PATH))
    listed = stack.listing(ADA, symbol="BTCUSDT")
    assert listed.total_count == 25
    newest = listed.items[0]
    # trade 25 (i = 24): a sell at 100 + 24 % 7 + 0.5
    assert (newest.transaction_id, newest.side, newest.price, newest.quantity, newest.fee, newest.time_ms) == (
        "25",
        "buy",
        103.5,
        0.25,
        0.025125,
        MAR_1 + 24 * HOUR,
    )


def test_pages_ask_for_binances_maximum_of_1000_by_default(fake_binance, account):
    account.add_trades("BTCUSDT", 2, first_id=1, start_ms=MAR_1, step_ms=HOUR)
    client = BinanceAccountClient(BinanceClient(fake_binance.url, sleep=lambda seconds: None))
    assert len(client.my_trades(ExchangeCredentials(API_KEY, API_SECRET), "BTCUSDT", None)) == 2
    assert my_trades_calls(fake_binance)[0]["limit"] == "1000"


def test_importing_the_account_again_adds_only_new_trades(stack, account):
    account.add_trades("BTCUSDT", 5, first_id=1, start_ms=MAR_1, step_ms=HOUR)
    import_from_exchange(stack, ["BTCUSDT"])
    account.add_trades("BTCUSDT", 7, first_id=1, start_ms=MAR_1, step_ms=HOUR)
    job = import_from_exchange(stack, ["BTCUSDT"])
    assert (job.received, job.imported, job.duplicates) == (7, 2, 5)


def test_a_start_time_is_found_day_by_day_then_paged_by_id(stack, account, fake_binance):
    # trades every 6 h from Mar 1; the import asks from Mar 3 12:00 -> the first is id 11 (Mar 3 12:00)
    account.add_trades("BTCUSDT", 40, first_id=1, start_ms=MAR_1, step_ms=6 * HOUR)
    start = datetime.fromtimestamp((MAR_1 + 2 * DAY + 12 * HOUR) / 1000, UTC)
    job = import_from_exchange(stack, ["BTCUSDT"], start)
    assert (job.received, job.imported) == (30, 30)
    first, *paged = my_trades_calls(fake_binance)
    assert (first["startTime"], first["endTime"], first["limit"]) == (
        str(MAR_1 + 2 * DAY + 12 * HOUR),
        str(MAR_1 + 3 * DAY + 12 * HOUR - 1),
        "1",
    )
    # ids 11..40 in full pages of 10, then an empty page ends it
    assert [call["fromId"] for call in paged] == ["11", "21", "31", "41"]


def test_a_start_time_after_the_last_trade_imports_nothing(stack, account, fake_binance):
    account.add_trades("BTCUSDT", 4, first_id=1, start_ms=MAR_1, step_ms=HOUR)
    now = time.time() * 1000
    job = import_from_exchange(stack, ["BTCUSDT"], datetime.fromtimestamp((now - 2.5 * DAY) / 1000, UTC))
    assert (job.status, job.received, job.imported) == (COMPLETED, 0, 0)
    assert len(my_trades_calls(fake_binance)) == 3  # three day windows up to now, all empty


def test_rate_limits_are_waited_out_and_each_retry_is_signed_afresh(stack, account, fake_binance):
    account.add_trades("BTCUSDT", 3, first_id=1, start_ms=MAR_1, step_ms=HOUR)
    fake_binance.fail_next(429, times=2, retry_after=1)
    job = import_from_exchange(stack, ["BTCUSDT"])
    assert (job.status, job.imported) == (COMPLETED, 3)
    assert len(fake_binance.calls(MY_TRADES_PATH)) == 3
    signatures = {request.params["signature"] for request in fake_binance.calls(MY_TRADES_PATH)}
    assert len(signatures) == 3


def test_a_wrong_secret_fails_the_import_with_binances_message(stack, account):
    account.add_trades("BTCUSDT", 3, first_id=1, start_ms=MAR_1, step_ms=HOUR)
    job = import_from_exchange(stack, ["BTCUSDT"], credentials=ExchangeCredentials(API_KEY, "not-the-secret"))
    assert (job.status, job.imported, job.message) == (FAILED, 0, "Binance: Signature for this request is not valid.")
    assert [e.to_dict() for e in job.errors] == [
        {"field": "binance", "message": "Signature for this request is not valid. (code -1022)"}
    ]
    assert stack.listing(ADA).total_count == 0


def test_an_unknown_symbol_fails_the_import(stack, account):
    job = import_from_exchange(stack, ["DOGEUSDT"])
    assert (job.status, [e.field for e in job.errors]) == (FAILED, ["symbol"])


@pytest.mark.parametrize(
    "exchange, credentials, symbols, fields",
    [
        ("kraken", ExchangeCredentials("k", "s"), ["BTCUSDT"], ["exchange"]),
        (
            "binance",
            ExchangeCredentials(" ", ""),
            ["BTCUSDT"],
            ["api_credentials.api_key", "api_credentials.api_secret"],
        ),
        ("binance", ExchangeCredentials("k", "s"), [], ["symbols"]),
        ("binance", ExchangeCredentials("k", "s"), ["BTC USDT"], ["symbols[0]"]),
    ],
)
def test_exchange_imports_that_cannot_be_queued(stack, exchange, credentials, symbols, fields):
    with pytest.raises(ValidationFailed) as caught:
        stack.imports.submit_exchange(ADA, exchange, credentials, symbols)
    assert [e.field for e in caught.value.errors] == fields
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == []


# ---------------------------------------------------------------- the secret stays secret
def test_the_secret_lives_in_secrets_manager_only_until_the_import_ends_and_nowhere_else(stack, account, caplog):
    caplog.set_level(logging.DEBUG)  # botocore's DEBUG logging dumps request and response bodies
    account.add_trades("BTCUSDT", 12, first_id=1, start_ms=MAR_1, step_ms=HOUR)
    secrets = boto3.client("secretsmanager")
    job = stack.imports.submit_exchange(ADA, "binance", ExchangeCredentials(API_KEY, API_SECRET), ["BTCUSDT"])
    # While queued: one secret holds the credentials; the request in S3 names it only
    [secret] = secrets.list_secrets()["SecretList"]
    assert secret["Name"] == f"test-stack/exchange-credentials/{ADA}/{job.import_id}"
    assert json.loads(secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"]) == {
        "api_key": API_KEY,
        "api_secret": API_SECRET,
    }
    key = exchange_request_key(ADA, job.import_id)
    request = json.loads(stack.s3.get_object(Bucket=IMPORTS_BUCKET, Key=key)["Body"].read())
    assert request == {"exchange": "binance", "symbols": ["BTCUSDT"], "start_ms": None, "credentials_id": secret["ARN"]}

    stack.deliver(key)
    assert stack.imports.get(ADA, job.import_id).status == COMPLETED
    assert secrets.list_secrets()["SecretList"] == []  # deleted once the import finished

    stored = [
        json.dumps(stack.dynamodb.scan(TableName=name)["Items"]) for name in stack.dynamodb.list_tables()["TableNames"]
    ]
    objects = [
        stack.s3.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"].read().decode()
        for bucket in stack.s3.list_buckets()["Buckets"]
        for item in stack.s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
    ]
    events = [json.dumps(event) for event in stack.publisher.events]
    logged = [record.getMessage() for record in caplog.records]
    assert any("myTrades" in line or "secretsmanager" in line.lower() for line in logged)  # logging was on
    for place, texts in (("DynamoDB", stored), ("S3", objects), ("events", events), ("logs", logged)):
        assert texts and not any(API_SECRET in text for text in texts), f"the secret leaked into {place}"
    assert not any(API_KEY in text for text in stored + objects + events + logged)
    assert repr(ExchangeCredentials(API_KEY, API_SECRET)) == "ExchangeCredentials()"


def test_a_failed_import_deletes_the_secret_too(stack, account):
    import_from_exchange(stack, ["DOGEUSDT"])
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == []


def test_an_exchange_import_that_cannot_be_queued_fails_and_keeps_no_credentials(stack, monkeypatch):
    def unavailable(key: str, content: bytes) -> None:
        raise ConnectionError("S3 is unreachable")

    monkeypatch.setattr(stack.imports.inbox, "put", unavailable)
    with pytest.raises(ConnectionError):
        stack.imports.submit_exchange(ADA, "binance", ExchangeCredentials(API_KEY, API_SECRET), ["BTCUSDT"])
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == []
    [item] = stack.dynamodb.scan(TableName=JOBS_TABLE)["Items"]
    assert json.loads(item["document"]["S"])["status"] == FAILED
