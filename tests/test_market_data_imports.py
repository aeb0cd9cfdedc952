"""Market data, imports: every way in (S3 drop, API upload, presigned upload, Binance fetch) runs
through the imports bucket's S3 event and the import function, with status records in DynamoDB,
events to the owner, and each S3 event processed once. Also the reads the API serves."""

from __future__ import annotations

import importlib.util
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config

from adapters.binance import BinanceClient
from adapters.bybit import BybitClient
from adapters.candle_store import S3ImportInbox
from adapters.funding_store import S3FundingStore
from adapters.models.market_data import CandleImportItem, DynamoImportRecords
from adapters.symbol_rules_store import S3SymbolRulesStore
from shared.candles import Candles
from shared.errors import NotFound, ValidationFailed
from shared.market_data.service import MAX_CANDLE_LIMIT, MarketDataService
from shared.timeframes import TIMEFRAMES
from tests.fakes.market_data import (
    CANDLES_BUCKET,
    RecordingPublisher,
    assert_same_candles,
    binance_csv,
    object_keys,
    random_candles,
)

IMPORTS_BUCKET = "test-imports"
IDEMPOTENCY_TABLE = "test-idempotency"
MAR_2024 = 1_709_251_200_000  # 2024-03-01T00:00:00Z
HOUR = 3_600_000


def _load_handler_module():
    path = Path(__file__).resolve().parents[1] / "functions" / "candle_import" / "app.py"
    spec = importlib.util.spec_from_file_location("candle_import_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


candle_import = _load_handler_module()


class Context:
    """The parts of Lambda's context the function reads."""

    function_name = "CandleImportFunction"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:CandleImportFunction"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture
def tables(aws, monkeypatch):
    monkeypatch.setenv("IDEMPOTENCY_TABLE", IDEMPOTENCY_TABLE)
    CandleImportItem.create_table(wait=True)
    boto3.client("dynamodb").create_table(
        TableName=IDEMPOTENCY_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def market_data(candle_store, s3, tables, fake_binance, fake_bybit, publisher) -> MarketDataService:
    s3.create_bucket(Bucket=IMPORTS_BUCKET)
    presigning = boto3.client("s3", config=Config(signature_version="s3v4"))
    return MarketDataService(
        candle_store,
        DynamoImportRecords(),
        S3ImportInbox(presigning, IMPORTS_BUCKET),
        publisher,
        {
            "binance": BinanceClient(fake_binance.url, futures_base_url=fake_binance.url, sleep=lambda seconds: None),
            "bybit": BybitClient(fake_bybit.url, sleep=lambda seconds: None),
        },
        S3FundingStore(s3, CANDLES_BUCKET),
        S3SymbolRulesStore(s3, CANDLES_BUCKET),
    )


def s3_event(s3_client, key: str, sequencer: str = "0065F1A2B3C4D5E6F7") -> dict:
    """The event S3 sends when `key` is created in the imports bucket (key URL-encoded, as S3 does)."""
    head = s3_client.head_object(Bucket=IMPORTS_BUCKET, Key=key)
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": IMPORTS_BUCKET, "arn": f"arn:aws:s3:::{IMPORTS_BUCKET}"},
                    "object": {
                        "key": urllib.parse.quote_plus(key, safe="/"),
                        "size": head["ContentLength"],
                        "eTag": head["ETag"].strip('"'),
                        "sequencer": sequencer,
                    },
                },
            }
        ]
    }


def deliver(s3_client, market_data: MarketDataService, key: str, sequencer: str = "0065F1A2B3C4D5E6F7"):
    return candle_import.handle_event(s3_event(s3_client, key, sequencer), Context(), market_data)


def day_of_candles(seed: int = 1):
    return random_candles(MAR_2024, 24, "1h", seed=seed)


# ---------------------------------------------------------------- S3 drops
def test_a_file_dropped_into_the_bucket_is_imported(market_data, s3, candle_store):
    candles = day_of_candles()
    s3.put_object(
        Bucket=IMPORTS_BUCKET, Key="imports/candles/BTCUSDT/1h/march 1st.csv", Body=binance_csv(candles, "1h")
    )
    [result] = deliver(s3, market_data, "imports/candles/BTCUSDT/1h/march 1st.csv")
    assert result["status"] == "completed"
    status = market_data.records.get(result["import_id"])
    assert (status.source, status.owner_id, status.rows_imported, status.format) == (
        "s3",
        None,
        24,
        "binance_kline_csv",
    )
    assert_same_candles(market_data.get_candles("BTCUSDT", "1h", limit=100), candles)


def test_a_duplicate_s3_event_does_not_import_twice(market_data, s3, publisher):
    key = "imports/candles/BTCUSDT/1h/day.csv"
    s3.put_object(Bucket=IMPORTS_BUCKET, Key=key, Body=binance_csv(day_of_candles(), "1h"))
    first = deliver(s3, market_data, key)
    record_after_first = market_data.records.get(first[0]["import_id"])
    events_after_first = list(publisher.events)
    # When S3 delivers the very same event again
    second = deliver(s3, market_data, key)
    # Then the function answers as before without running the import: no event, the record untouched
    assert second == first
    assert publisher.events == events_after_first
    assert market_data.records.get(first[0]["import_id"]) == record_after_first
    assert record_after_first.rows_imported == 24


def test_uploading_the_same_file_again_imports_nothing_new(market_data, s3):
    key = "imports/candles/BTCUSDT/1h/day.csv"
    body = binance_csv(day_of_candles(), "1h")
    s3.put_object(Bucket=IMPORTS_BUCKET, Key=key, Body=body)
    deliver(s3, market_data, key, sequencer="01")
    s3.put_object(Bucket=IMPORTS_BUCKET, Key=key, Body=body)
    [again] = deliver(s3, market_data, key, sequencer="02")  # a new upload: a new event
    status = market_data.records.get(again["import_id"])
    assert (status.status, status.rows_imported, status.rows_unchanged) == ("completed", 0, 24)


def test_keys_outside_the_candle_prefixes_are_left_alone(market_data, s3):
    s3.put_object(Bucket=IMPORTS_BUCKET, Key="imports/transactions/u1/trades.csv", Body=b"x")
    assert deliver(s3, market_data, "imports/transactions/u1/trades.csv") == [None]


def test_an_unexpected_failure_is_recorded_and_retried(market_data, s3):
    key = "imports/candles/BTCUSDT/1h/day.csv"
    s3.put_object(Bucket=IMPORTS_BUCKET, Key=key, Body=binance_csv(day_of_candles(), "1h"))
    real_read = market_data.inbox.read
    outages = iter([ConnectionError("S3 went away")])

    def flaky_read(*args):
        for outage in outages:
            raise outage
        return real_read(*args)

    market_data.inbox.read = flaky_read
    # When the first attempt fails unexpectedly, the function fails (so Lambda retries) ...
    with pytest.raises(ConnectionError):
        deliver(s3, market_data, key)
    [record] = CandleImportItem.scan()
    assert record.status == "failed"
    # ... and Lambda's retry of the same event runs the import again
    [result] = deliver(s3, market_data, key)
    assert result["status"] == "completed"


# ---------------------------------------------------------------- API uploads
def test_an_api_upload_is_pending_then_completed_through_the_bucket(market_data, s3, publisher):
    candles = day_of_candles()
    # When a user posts a file through the API (the symbol in any case)
    status = market_data.submit_file("user-1", "btcusdt", "1h", "csv", binance_csv(candles, "1h"))
    assert (status.status, status.owner_id, status.source, status.symbol) == ("pending", "user-1", "api", "BTCUSDT")
    assert status.object_key == f"imports/candles/BTCUSDT/1h/{status.import_id}-upload.csv"
    assert market_data.get_import(status.import_id, "user-1").status == "pending"
    # Then the bucket's event runs it
    deliver(s3, market_data, status.object_key)
    done = market_data.get_import(status.import_id, "user-1")
    assert (done.status, done.rows_imported, done.rows_in_file, done.error_count) == ("completed", 24, 24, 0)
    assert (done.first_timestamp, done.last_timestamp) == ("2024-03-01T00:00:00Z", "2024-03-01T23:00:00Z")
    # And the owner heard each step, the market its newest candle
    updates = publisher.on("user:user-1")
    assert [(event, data["status"]) for event, data in updates] == [
        ("market_data:import_update", "running"),
        ("market_data:import_update", "completed"),
    ]
    assert updates[-1][1]["rows_imported"] == 24
    assert [event for event, _ in publisher.on("market:BTCUSDT:1h")] == ["candle_update"]


def test_a_rejected_upload_fails_naming_its_lines_and_stores_no_candles(market_data, s3):
    lines = binance_csv(day_of_candles(), "1h").decode().splitlines()
    for line_number in (3, 7):
        fields = lines[line_number - 1].split(",")
        fields[5] = "-2"
        lines[line_number - 1] = ",".join(fields)
    status = market_data.submit_file("user-1", "BTCUSDT", "1h", "csv", ("\n".join(lines) + "\n").encode())
    deliver(s3, market_data, status.object_key)
    failed = market_data.get_import(status.import_id, "user-1")
    assert failed.status == "failed"
    assert [(e.field, e.message) for e in failed.errors] == [
        ("line 3", "volume must not be negative, got -2.0"),
        ("line 7", "volume must not be negative, got -2.0"),
    ]
    assert failed.error_count == 2
    assert object_keys(s3, CANDLES_BUCKET) == set()


def test_imports_are_visible_to_their_owner_only(market_data):
    first = market_data.submit_file("user-1", "BTCUSDT", "1h", "json", b"[]")
    second = market_data.submit_file("user-1", "ETHUSDT", "1h", "csv", b"x")
    market_data.submit_file("user-2", "BTCUSDT", "1h", "csv", b"x")
    with pytest.raises(NotFound):
        market_data.get_import(first.import_id, "user-2")
    assert {s.import_id for s in market_data.list_imports("user-1")} == {first.import_id, second.import_id}
    assert first.object_key.endswith("-upload.json")


@pytest.mark.parametrize(
    ("arguments", "fields"),
    [
        (("BTC-USDT", "1h", "csv", b"x"), ["symbol"]),
        (("BTCUSDT", "2h", "csv", b"x"), ["timeframe"]),
        (("BTCUSDT", "1h", "xlsx", b"x"), ["file_format"]),
        (("BTCUSDT", "1h", "csv", b""), ["file_content"]),
    ],
)
def test_an_api_upload_with_bad_fields_is_refused_before_anything_is_queued(market_data, s3, arguments, fields):
    with pytest.raises(ValidationFailed) as caught:
        market_data.submit_file("user-1", *arguments)
    assert [e.field for e in caught.value.errors] == fields
    assert object_keys(s3, IMPORTS_BUCKET) == set()


def test_a_presigned_upload_runs_the_same_import(market_data, s3):
    ticket = market_data.create_upload("user-1", "ETHUSDT", "1h", "../exports/My Big File.csv")
    assert ticket.status.object_key == f"imports/candles/ETHUSDT/1h/{ticket.status.import_id}-My_Big_File.csv"
    assert ticket.to_dict()["method"] == "PUT"
    # When the client PUTs its file to the URL (no AWS credentials of its own)
    request = urllib.request.Request(
        ticket.upload_url, data=binance_csv(day_of_candles(), "1h"), method="PUT", headers={"Content-Type": "text/csv"}
    )
    assert urllib.request.urlopen(request).status == 200
    deliver(s3, market_data, ticket.status.object_key)
    assert market_data.get_import(ticket.status.import_id, "user-1").rows_imported == 24


# ---------------------------------------------------------------- Binance fetches
def test_a_binance_fetch_imports_what_binance_has(market_data, s3, fake_binance):
    candles = random_candles(MAR_2024, 1500, "1h")
    fake_binance.add_klines("BTCUSDT", "1h", candles)
    start, end = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)
    status = market_data.start_fetch("user-1", "BTCUSDT", "1h", start, end)
    assert (status.status, status.source) == ("pending", "binance")
    deliver(s3, market_data, status.object_key)
    done = market_data.get_import(status.import_id, "user-1")
    assert (done.status, done.rows_imported, done.format) == ("completed", 31 * 24, "binance_api")
    assert_same_candles(market_data.get_candles("BTCUSDT", "1h", start, end, limit=1000), candles.slice(0, 31 * 24))


def test_a_binance_fetch_of_an_unknown_symbol_fails_naming_it(market_data, s3, fake_binance):
    status = market_data.start_fetch("user-1", "NOPEUSDT", "1h", MAR_2024, MAR_2024 + 24 * HOUR)
    deliver(s3, market_data, status.object_key)
    failed = market_data.get_import(status.import_id, "user-1")
    assert failed.status == "failed"
    assert [e.field for e in failed.errors] == ["symbol"]


def test_binance_refusing_the_region_fails_the_fetch_with_that_reason(market_data, s3, fake_binance):
    fake_binance.fail_next(451)
    status = market_data.start_fetch("user-1", "BTCUSDT", "1h", MAR_2024, MAR_2024 + 24 * HOUR)
    deliver(s3, market_data, status.object_key)
    failed = market_data.get_import(status.import_id, "user-1")
    assert failed.status == "failed" and failed.errors[0].field == "exchange"
    assert "HTTP 451" in failed.errors[0].message and "BinanceBaseUrl" in failed.errors[0].message


def test_a_bybit_linear_fetch_stores_the_candles_and_the_ranges_funding(market_data, s3, fake_bybit):
    from shared.market_data.funding_history import funding_rates

    candles = random_candles(MAR_2024, 48, "1h")
    fake_bybit.add_klines("linear", "BTCUSDT", "1h", candles)
    times = [MAR_2024 + i * 8 * HOUR for i in range(9)]
    fake_bybit.add_funding("BTCUSDT", funding_rates(times, [0.0001 * i for i in range(9)]))
    status = market_data.start_fetch("user-1", "BTCUSDT", "1h", MAR_2024, MAR_2024 + 48 * HOUR, "bybit", "linear")
    assert status.source == "bybit"
    deliver(s3, market_data, status.object_key)
    done = market_data.get_import(status.import_id, "user-1")
    assert (done.status, done.rows_imported, done.format, done.funding_rates_imported) == (
        "completed",
        48,
        "bybit_api",
        6,
    )
    assert_same_candles(market_data.get_candles("BTCUSDT", "1h", limit=100), candles)
    assert market_data.get_funding("BTCUSDT").times.tolist() == times[:6]


def test_a_repair_fetches_exactly_the_missing_ranges(market_data, s3, fake_binance, candle_store):
    # Given a day of candles stored with hours 5-6 and 20 missing, and Binance holding them all
    candles = random_candles(MAR_2024, 24, "1h")
    kept = np.setdiff1d(np.arange(24), [5, 6, 20])
    candle_store_import(candle_store, candles, kept)
    fake_binance.add_klines("BTCUSDT", "1h", candles)
    ranges, status = market_data.start_repair("user-1", "BTCUSDT", "1h", MAR_2024, MAR_2024 + 24 * HOUR)
    assert [(g.start_ms, g.end_ms, g.missing) for g in ranges] == [
        (MAR_2024 + 5 * HOUR, MAR_2024 + 7 * HOUR, 2),
        (MAR_2024 + 20 * HOUR, MAR_2024 + 21 * HOUR, 1),
    ]
    deliver(s3, market_data, status.object_key)
    done = market_data.get_import(status.import_id, "user-1")
    assert (done.status, done.rows_imported, done.rows_unchanged) == ("completed", 3, 0)
    calls = [(int(c.params["startTime"]), int(c.params["endTime"])) for c in fake_binance.calls("/api/v3/klines")]
    assert calls == [(MAR_2024 + 5 * HOUR, MAR_2024 + 7 * HOUR - 1), (MAR_2024 + 20 * HOUR, MAR_2024 + 21 * HOUR - 1)]
    assert_same_candles(market_data.get_candles("BTCUSDT", "1h", limit=100), candles)
    # And a second repair finds nothing to do
    assert market_data.start_repair("user-1", "BTCUSDT", "1h", MAR_2024, MAR_2024 + 24 * HOUR) == ([], None)


def test_a_repair_needs_the_series_stored_at_that_timeframe(market_data, candle_store):
    candle_store_import(candle_store, random_candles(MAR_2024, 24, "1h"), np.arange(24))
    with pytest.raises(NotFound) as missing:
        market_data.start_repair("user-1", "BTCUSDT", "4h", MAR_2024, MAR_2024 + 24 * HOUR)
    assert missing.value.errors[0].field == "timeframe"


def candle_store_import(store, candles, rows) -> None:
    from shared.market_data.pipeline import CandleImporter

    kept = Candles(*(getattr(candles, name)[rows] for name in ("ts", "open", "high", "low", "close", "volume")))
    CandleImporter(store).import_file("BTCUSDT", "1h", binance_csv(kept, "1h"))


def test_funding_rate_files_import_through_the_api_and_the_s3_drop(market_data, s3):
    dump = b"calc_time,funding_interval_hours,last_funding_rate\n1709251200000,8,0.0001\n1709280000000,8,-0.00005\n"
    s3.put_object(
        Bucket=IMPORTS_BUCKET, Key="imports/candles/BTCUSDT/funding/BTCUSDT-fundingRate-2024-03.csv", Body=dump
    )
    [dropped] = deliver(s3, market_data, "imports/candles/BTCUSDT/funding/BTCUSDT-fundingRate-2024-03.csv")
    status = market_data.records.get(dropped["import_id"])
    assert (status.status, status.timeframe, status.format, status.rows_imported) == (
        "completed",
        "funding",
        "funding_rates",
        2,
    )
    uploaded = market_data.submit_file(
        "user-1", "BTCUSDT", "funding", "csv", dump.replace(b"0.0001\n", b"0.0001\n1709308800000,8,0.0002\n", 1)
    )
    deliver(s3, market_data, uploaded.object_key)
    done = market_data.get_import(uploaded.import_id, "user-1")
    assert (done.status, done.rows_imported, done.rows_unchanged) == ("completed", 1, 2)
    assert market_data.get_funding("BTCUSDT").rates.tolist() == [0.0001, -0.00005, 0.0002]


def test_a_fetch_range_must_be_sensible(market_data):
    with pytest.raises(ValidationFailed) as backwards:
        market_data.start_fetch("user-1", "BTCUSDT", "1h", MAR_2024, MAR_2024 - HOUR)
    assert [e.field for e in backwards.value.errors] == ["end_time"]
    with pytest.raises(ValidationFailed) as too_long:
        market_data.start_fetch("user-1", "BTCUSDT", "1m", datetime(2020, 1, 1), datetime(2024, 1, 1))
    assert "at most" in too_long.value.errors[0].message


# ---------------------------------------------------------------- reads for the API
@pytest.fixture
def two_days(market_data, candle_store):
    from shared.market_data.pipeline import CandleImporter

    candles = random_candles(MAR_2024, 48, "1h")
    CandleImporter(candle_store).import_file("BTCUSDT", "1h", binance_csv(candles, "1h"))
    CandleImporter(candle_store).import_file("ETHUSDT", "1d", binance_csv(random_candles(MAR_2024, 5, "1d"), "1d"))
    return candles


def test_symbols_and_timeframes_are_what_the_store_holds(market_data, two_days):
    assert market_data.list_symbols() == ["BTCUSDT", "ETHUSDT"]
    assert market_data.list_timeframes() == list(TIMEFRAMES)
    assert market_data.list_timeframes("BTCUSDT") == ["1h", "4h", "1d", "1w"]
    assert market_data.list_timeframes("ethusdt") == ["1d", "1w"]
    with pytest.raises(NotFound):
        market_data.list_timeframes("XRPUSDT")


def test_a_limit_takes_the_first_candles_from_start_or_the_latest_before_end(market_data, two_days):
    candles = two_days
    assert_same_candles(
        market_data.get_candles("BTCUSDT", "1h", start=MAR_2024 + 10 * HOUR, limit=5), candles.slice(10, 15)
    )
    assert_same_candles(market_data.get_candles("BTCUSDT", "1h", limit=5), candles.slice(43, 48))
    assert_same_candles(
        market_data.get_candles("btcusdt", "1h", end=MAR_2024 + 10 * HOUR, limit=3), candles.slice(7, 10)
    )
    assert len(market_data.get_candles("BTCUSDT", "4h", start=datetime(2024, 3, 1), limit=100)) == 12


@pytest.mark.parametrize(
    ("query", "error", "field"),
    [
        ({"limit": 0}, ValidationFailed, "limit"),
        ({"limit": MAX_CANDLE_LIMIT + 1}, ValidationFailed, "limit"),
        ({"start": MAR_2024 + HOUR, "end": MAR_2024}, ValidationFailed, "end_time"),
        ({"timeframe": "15m"}, ValidationFailed, "timeframe"),
        ({"timeframe": "3h"}, NotFound, "timeframe"),
        ({"symbol": "XRPUSDT"}, NotFound, "symbol"),
    ],
)
def test_bad_candle_queries(market_data, two_days, query, error, field):
    arguments = {"symbol": "BTCUSDT", "timeframe": "1h"} | query
    with pytest.raises(error) as caught:
        market_data.get_candles(**arguments)
    assert caught.value.errors[0].field == field


def test_the_deployed_handler_wires_everything_from_its_environment(market_data, s3, publisher, monkeypatch):
    # Given the function's environment (buckets by name) and a file in the bucket
    monkeypatch.setenv("CANDLES_BUCKET", CANDLES_BUCKET)
    monkeypatch.setenv("IMPORTS_BUCKET", IMPORTS_BUCKET)
    monkeypatch.setattr(candle_import, "make_publisher", lambda: publisher)
    candle_import._service.cache_clear()
    key = "imports/candles/BTCUSDT/1h/day.csv"
    s3.put_object(Bucket=IMPORTS_BUCKET, Key=key, Body=binance_csv(day_of_candles(), "1h"))
    try:
        # When Lambda calls the handler
        [result] = candle_import.handler(s3_event(s3, key), Context())
        deployed = candle_import._service()
    finally:
        candle_import._service.cache_clear()
    # Then the import ran, its events went through make_publisher's publisher, and presigned
    # upload URLs are signed with SigV4 (the only kind S3 accepts in every region)
    assert result["status"] == "completed"
    assert [event for _, event, _ in publisher.events] == ["candle_update"]
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in deployed.inbox.presign_put("imports/candles/X/1h/f.csv", 60)


def test_the_function_publishes_through_the_websocket_publisher(monkeypatch):
    from adapters.publisher import WebSocketPublisher

    monkeypatch.setenv("WEBSOCKET_API_ENDPOINT", "https://example.execute-api.us-east-1.amazonaws.com/dev")
    monkeypatch.setenv("CONNECTIONS_TABLE", "connections")
    publisher = candle_import.make_publisher()
    try:
        assert isinstance(publisher, WebSocketPublisher)
    finally:
        publisher.shutdown()
