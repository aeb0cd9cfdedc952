"""The connections table and THE publisher (adapters.connections, adapters.publisher) on moto's
DynamoDB, with a recording management API client: fan-out, Gone cleanup, failures."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from adapters.connections import ConnectionStore
from adapters.publisher import Delivery, WebSocketPublisher
from local.template import Template
from shared.realtime.protocol import ConnectionInfo, parse_channel

TABLE = "connections-test"
CONNECTED_AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
EXPIRES_AT = CONNECTED_AT + timedelta(hours=2)
NOON = 1709294400.0  # 2024-03-01T12:00:00Z


@pytest.fixture
def dynamodb(aws):
    """The template's ConnectionsTable, created in moto under TABLE."""
    client = boto3.client("dynamodb", endpoint_url=aws)
    props = Template.load().resources["ConnectionsTable"]["Properties"]
    client.create_table(
        TableName=TABLE,
        **{key: props[key] for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")},
    )
    return client


@pytest.fixture
def store(dynamodb) -> ConnectionStore:
    return ConnectionStore(dynamodb, TABLE)


def _gone() -> ClientError:
    return ClientError(
        {"Error": {"Code": "GoneException", "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": 410}},
        "PostToConnection",
    )


class RecordingManagement:
    """apigatewaymanagementapi's post_to_connection: records what is sent, answers Gone for
    `gone` connections and a 500 for `failing` ones."""

    def __init__(self, gone: set[str] = frozenset(), failing: set[str] = frozenset()) -> None:
        self.gone, self.failing = gone, failing
        self.sent: dict[str, list[dict]] = {}
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> dict:  # noqa: N803 - boto3's names
        with self._lock:
            self.threads.add(threading.current_thread().name)
        if ConnectionId in self.gone:
            raise _gone()
        if ConnectionId in self.failing:
            raise ClientError(
                {
                    "Error": {"Code": "InternalServerError", "Message": "boom"},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                },
                "PostToConnection",
            )
        with self._lock:
            self.sent.setdefault(ConnectionId, []).append(json.loads(Data))
        return {}


@pytest.fixture
def make_publisher():
    """WebSocketPublisher(...) whose send pool is shut down after the test."""
    made = []

    def make(*args, **kwargs) -> WebSocketPublisher:
        made.append(WebSocketPublisher(*args, **kwargs))
        return made[-1]

    yield make
    for publisher in made:
        publisher.shutdown()


def connect(store: ConnectionStore, connection_id: str, *channels: str, user_id: str = "u1") -> None:
    store.open(ConnectionInfo(connection_id, CONNECTED_AT))
    for channel in channels:
        store.subscribe(connection_id, parse_channel(channel), user_id, EXPIRES_AT)


def items(dynamodb) -> list[tuple[str, str]]:
    return sorted((i["pk"]["S"], i["sk"]["S"]) for i in dynamodb.scan(TableName=TABLE)["Items"])


# ---------------------------------------------------------------- the store
def test_connection_and_subscription_items_have_the_models_shape(dynamodb, store):
    connect(store, "c1", "backtest:b1", user_id="u-alice")
    stored = {i["sk"]["S"]: i for i in dynamodb.scan(TableName=TABLE)["Items"]}
    assert stored["connection"] == {
        "pk": {"S": "c1"},
        "sk": {"S": "connection"},
        "connected_at": {"N": "1709294400000"},
        "expires_at": {"N": "1709301600"},
    }
    assert stored["channel#backtest:b1"] == {
        "pk": {"S": "c1"},
        "sk": {"S": "channel#backtest:b1"},
        "channel": {"S": "backtest:b1"},
        "kind": {"S": "backtest"},
        "user_id": {"S": "u-alice"},
        "expires_at": {"N": "1709301600"},
    }


def test_a_channels_subscribers_come_from_the_channel_index(store):
    connect(store, "c1", "backtest:b1", "user:u1")
    connect(store, "c2", "backtest:b1")
    connect(store, "c3", "backtest:b2")
    assert sorted(store.subscribers("backtest:b1")) == ["c1", "c2"]
    assert store.subscribers("user:u1") == ["c1"]
    assert store.subscribers("backtest:nobody") == []


def test_subscribed_channels_of_a_kind_are_listed_once_each(store):
    connect(store, "c1", "market:BTCUSDT:1m", "market:ETHUSDT:1h", "backtest:b1")
    connect(store, "c2", "market:BTCUSDT:1m")
    assert store.subscribed_channels("market") == ["market:BTCUSDT:1m", "market:ETHUSDT:1h"]
    assert store.subscribed_channels("user") == []


def test_unsubscribe_removes_one_subscription(dynamodb, store):
    connect(store, "c1", "user:u1", "backtest:b1")
    store.unsubscribe("c1", "user:u1")
    assert items(dynamodb) == [("c1", "channel#backtest:b1"), ("c1", "connection")]


def test_close_removes_the_connection_and_all_its_subscriptions_beyond_one_batch(dynamodb, store):
    # 30 subscriptions + the connection item: two BatchWriteItem calls of at most 25 deletes
    connect(store, "c1", *[f"backtest:b{n}" for n in range(30)])
    connect(store, "c2", "backtest:b1")
    store.close("c1")
    assert items(dynamodb) == [("c2", "channel#backtest:b1"), ("c2", "connection")]


# ---------------------------------------------------------------- the publisher
def test_an_event_reaches_every_subscriber_of_its_channel_and_nobody_else(store, make_publisher):
    for n in range(5):
        connect(store, f"c{n}", "backtest:b1")
    connect(store, "other", "backtest:b2")
    management = RecordingManagement()
    publisher = make_publisher(store, management, workers=4, clock=lambda: NOON)

    delivery = publisher.publish("backtest:b1", "status_update", {"status": "running", "progress": 25, "message": ""})

    assert delivery == Delivery(delivered=5)
    expected = {
        "event": "status_update",
        "channel": "backtest:b1",
        "data": {"status": "running", "progress": 25, "message": ""},
        "ts": "2024-03-01T12:00:00.000Z",
    }
    assert management.sent == {f"c{n}": [expected] for n in range(5)}
    assert all(name.startswith("publisher") for name in management.threads)  # sent from the pool


def test_events_published_in_sequence_reach_each_subscriber_in_that_order(store, make_publisher):
    for n in range(3):
        connect(store, f"c{n}", "backtest:b1")
    management = RecordingManagement()
    publisher = make_publisher(store, management, workers=3)
    for progress in range(0, 101, 10):
        publisher.publish("backtest:b1", "status_update", {"status": "running", "progress": progress})
    for n in range(3):
        assert [m["data"]["progress"] for m in management.sent[f"c{n}"]] == list(range(0, 101, 10))


def test_a_gone_connection_is_forgotten_with_its_subscriptions_and_the_others_still_receive(
    dynamodb, store, make_publisher
):
    connect(store, "alive", "backtest:b1")
    connect(store, "gone", "backtest:b1", "user:u1", "market:BTCUSDT:1m")
    management = RecordingManagement(gone={"gone"})
    publisher = make_publisher(store, management)

    delivery = publisher.publish("backtest:b1", "trade_executed", {"trade": {"id": "t1"}})

    assert delivery == Delivery(delivered=1, gone=1)
    assert list(management.sent) == ["alive"]
    assert items(dynamodb) == [("alive", "channel#backtest:b1"), ("alive", "connection")]
    # The next event is not even tried on the gone connection.
    publisher.publish("user:u1", "backtest:status_update", {"backtest_id": "b1", "status": "completed"})
    assert publisher.publish("market:BTCUSDT:1m", "ticker_update", {"price": 1.0}) == Delivery()


def test_another_failure_is_counted_and_keeps_the_connection(dynamodb, store, make_publisher):
    connect(store, "c1", "user:u1")
    connect(store, "flaky", "user:u1")
    publisher = make_publisher(store, RecordingManagement(failing={"flaky"}))
    assert publisher.publish("user:u1", "transaction:import_update", {"import_id": "i1"}) == Delivery(
        delivered=1, failed=1
    )
    assert ("flaky", "connection") in items(dynamodb)


def test_a_channel_without_subscribers_sends_nothing(store, make_publisher):
    management = RecordingManagement()
    assert make_publisher(store, management).publish("backtest:b9", "status_update", {}) == Delivery()
    assert management.sent == {}


def test_an_event_too_large_for_api_gateway_is_refused_before_any_lookup(make_publisher):
    publisher = make_publisher(ConnectionStore(None, TABLE), RecordingManagement())  # no DynamoDB to reach
    with pytest.raises(ValueError, match="API Gateway accepts at most"):
        publisher.publish("backtest:b1", "trade_executed", {"blob": "x" * 200_000})
