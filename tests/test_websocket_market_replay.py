"""The local stack's demo feed (local/market_replay.py): stored candles, replayed one per tick
on each subscribed market channel, as the deployed feed's events."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest

from adapters.candle_store import S3CandleStore
from adapters.connections import ConnectionStore
from local.market_replay import REPLAY_CANDLES, MarketReplay
from shared.realtime.protocol import ConnectionInfo, parse_channel
from tests.fakes.market_data import RecordingPublisher, random_candles
from tests.test_websocket_publisher import TABLE, dynamodb  # noqa: F401 - fixture

BUCKET = "replay-candles"
JAN_2024 = 1_704_067_200_000


@pytest.fixture
def store(aws) -> S3CandleStore:
    s3 = boto3.client("s3", endpoint_url=aws)
    s3.create_bucket(Bucket=BUCKET)
    return S3CandleStore(s3, BUCKET)


def subscribe(connections: ConnectionStore, *channels: str) -> None:
    connection = ConnectionInfo("c1", datetime.now(UTC))
    connections.open(connection)
    for channel in channels:
        connections.subscribe("c1", parse_channel(channel), "u1", connection.expires_at)


def test_each_tick_replays_the_next_stored_candle_on_each_subscribed_channel(store, dynamodb):
    candles = random_candles(JAN_2024, 3, "1h")
    store.commit("BTCUSDT", "1h", None, {"2024-01": candles})
    connections = ConnectionStore(dynamodb, TABLE)
    subscribe(connections, "market:BTCUSDT:1h", "user:u1")
    publisher = RecordingPublisher()
    replay = MarketReplay(store, connections, publisher)

    # Tick 1: candle 0 closed, candle 1 in progress (polled halfway through it: 01:30), ticker at its close
    assert replay.step() == {"market:BTCUSDT:1h": 3}
    events = publisher.on("market:BTCUSDT:1h")
    assert [(e, d["timestamp"], d.get("is_closed")) for e, d in events] == [
        ("candle_update", "2024-01-01T00:00:00Z", True),
        ("candle_update", "2024-01-01T01:00:00Z", False),
        ("ticker_update", "2024-01-01T01:30:00Z", None),
    ]
    assert events[1][1]["close"] == candles.close[1] == events[2][1]["price"]
    # Tick 2: one candle further; tick 3 wraps around to the start of the window.
    replay.step()
    assert [d["timestamp"] for _, d in publisher.on("market:BTCUSDT:1h")[3:5]] == [
        "2024-01-01T01:00:00Z",
        "2024-01-01T02:00:00Z",
    ]
    replay.step()
    assert [d["timestamp"] for _, d in publisher.on("market:BTCUSDT:1h")[6:8]] == [
        "2024-01-01T00:00:00Z",
        "2024-01-01T01:00:00Z",
    ]


def test_coarser_channels_replay_resampled_candles_of_the_latest_window(store, dynamodb):
    minutes = random_candles(JAN_2024, 60 * 24 * 2, "1m")  # two days of 1m
    store.commit("ETHUSDT", "1m", None, {"2024-01": minutes})
    connections = ConnectionStore(dynamodb, TABLE)
    subscribe(connections, "market:ETHUSDT:4h")
    publisher = RecordingPublisher()
    MarketReplay(store, connections, publisher).step()
    first_closed = publisher.on("market:ETHUSDT:4h")[0][1]
    # 12 four-hour candles are stored (fewer than REPLAY_CANDLES): the window starts at the first,
    # whose high is the highest 1m high of its 240 minutes.
    assert REPLAY_CANDLES > 12
    assert first_closed["timestamp"] == "2024-01-01T00:00:00Z"
    assert first_closed["high"] == minutes.high[:240].max()


def test_a_channel_without_stored_candles_gets_nothing(store, dynamodb):
    connections = ConnectionStore(dynamodb, TABLE)
    subscribe(connections, "market:DOGEUSDT:1m")
    publisher = RecordingPublisher()
    assert MarketReplay(store, connections, publisher).step() == {"market:DOGEUSDT:1m": 0}
    assert publisher.events == []
