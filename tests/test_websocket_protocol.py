"""The WebSocket protocol (shared.realtime.protocol): messages, channels, who may join what, replies,
envelopes and the trade-event sampling rule. Pure: the lookups are in-memory fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from shared.accounts.auth import Unauthenticated
from shared.accounts.model import User
from shared.backtests.model import Backtest
from shared.errors import ValidationFailed
from shared.events import sampled_trade_indices, trade_events
from shared.realtime.protocol import (
    MAX_MESSAGE_BYTES,
    Channel,
    ChannelService,
    ConnectionInfo,
    Join,
    Leave,
    Ping,
    encode,
    event_envelope,
    iso_now,
    parse_channel,
    parse_message,
)

ALICE = User("u-alice", "alice@example.com", "Alice", datetime(2024, 1, 1, tzinfo=UTC))
BOB = User("u-bob", "bob@example.com", "Bob", datetime(2024, 1, 1, tzinfo=UTC))
CONNECTED_AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
CONNECTION = ConnectionInfo("conn-1", CONNECTED_AT)


def a_backtest(
    backtest_id: str,
    owner: User,
    status: str = "running",
    progress: int = 40,
    summary: dict | None = None,
    error: str | None = None,
) -> Backtest:
    now = datetime(2024, 3, 1, tzinfo=UTC)
    return Backtest(
        id=backtest_id,
        owner_id=owner.id,
        strategy_id="s-1",
        strategy_name="SMA cross",
        symbol="BTCUSDT",
        timeframe="1h",
        start_time=now - timedelta(days=30),
        end_time=now,
        initial_balance=10_000.0,
        final_balance=None,
        status=status,
        progress=progress,
        created_at=now,
        updated_at=now,
        strategy={},
        metadata={},
        performance_summary=summary,
        error=error,
        execution_arn=None,
        started_at=None,
        completed_at=None,
    )


class FakeAccounts:
    def __init__(self, tokens: dict[str, User]) -> None:
        self.tokens = tokens

    def authenticate(self, token: str) -> User:
        if token not in self.tokens:
            raise Unauthenticated("invalid, expired or revoked token")
        return self.tokens[token]


class FakeBacktests:
    def __init__(self, *backtests: Backtest) -> None:
        self.by_id = {b.id: b for b in backtests}

    def get(self, backtest_id: str) -> Backtest | None:
        return self.by_id.get(backtest_id)


class FakeCatalog:
    def timeframes(self, symbol: str) -> list[str]:
        return ["1m", "1h"] if symbol == "BTCUSDT" else []


class FakeSubscriptions:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[str, str, datetime]] = {}

    def subscribe(self, connection_id: str, channel: Channel, user_id: str, expires_at: datetime) -> None:
        self.items[(connection_id, channel.name)] = (channel.kind, user_id, expires_at)

    def unsubscribe(self, connection_id: str, channel: str) -> None:
        self.items.pop((connection_id, channel), None)


@pytest.fixture
def subscriptions() -> FakeSubscriptions:
    return FakeSubscriptions()


@pytest.fixture
def service(subscriptions) -> ChannelService:
    backtests = FakeBacktests(
        a_backtest("bt-alice", ALICE),
        a_backtest("bt-bob", BOB),
        a_backtest("bt-done", ALICE, "completed", 100, {"total_trades": 12, "win_rate": 50.0}),
        a_backtest("bt-failed", ALICE, "failed", 30, error="no candles for the range"),
    )
    return ChannelService(
        FakeAccounts({"alice-token": ALICE, "bob-token": BOB}), backtests, FakeCatalog(), subscriptions
    )


def send(service: ChannelService, message: dict | str) -> dict:
    return service.handle(CONNECTION, message if isinstance(message, str) else json.dumps(message))


def join(service: ChannelService, channel: str, token: str = "alice-token") -> dict:
    return send(service, {"action": "join", "channel": channel, "token": token})


# ---------------------------------------------------------------- messages
def test_the_three_client_messages_parse():
    assert parse_message('{"action": "ping"}') == Ping()
    assert parse_message(b'{"action": "leave", "channel": "user:u1"}') == Leave("user:u1")
    assert parse_message('{"action": "join", "channel": "user:u1", "token": "t"}') == Join("user:u1", "t")


@pytest.mark.parametrize(
    "body, field, detail",
    [
        ("{not json", "message", "must be a JSON object"),
        ("", "message", "must be a JSON object"),
        ("[1, 2]", "message", "must be a JSON object"),
        ('{"channel": "user:u1"}', "action", "is required"),
        ('{"action": "subscribe"}', "action", "must be one of join, leave, ping"),
        ('{"action": "join", "channel": "user:u1"}', "token", "must be a non-empty string"),
        ('{"action": "join", "channel": 7, "token": "t"}', "channel", "must be a non-empty string"),
        ('{"action": "leave", "channel": ""}', "channel", "must be a non-empty string"),
    ],
)
def test_a_malformed_message_is_a_validation_error_naming_the_field(body, field, detail):
    with pytest.raises(ValidationFailed) as error:
        parse_message(body)
    assert [(e.field, e.message) for e in error.value.errors] == [(field, detail)]


def test_a_malformed_message_gets_an_error_reply_and_changes_nothing(service, subscriptions):
    # Given a connection subscribed to its user channel
    assert join(service, "user:u-alice")["event"] == "joined"
    # When it sends garbage
    reply = send(service, '{"action": "join", "channel": "user:u-alice"')
    # Then it gets an error reply (no channel could be read) and keeps its subscription
    assert reply == {
        "event": "error",
        "channel": None,
        "error": {
            "code": "validation_failed",
            "message": "the message is not valid JSON",
            "details": [{"field": "message", "message": "must be a JSON object"}],
        },
    }
    assert list(subscriptions.items) == [("conn-1", "user:u-alice")]
    assert send(service, {"action": "ping"}) == {"event": "pong"}


# ---------------------------------------------------------------- channels
@pytest.mark.parametrize(
    "name, kind, key",
    [
        ("user:7c9e6679-7425-40de-944b-e07fc1f90ae7", "user", ("7c9e6679-7425-40de-944b-e07fc1f90ae7",)),
        ("backtest:bt_1", "backtest", ("bt_1",)),
        ("market:BTCUSDT:1h", "market", ("BTCUSDT", "1h")),
    ],
)
def test_channel_names_parse_and_print_back(name, kind, key):
    channel = parse_channel(name)
    assert (channel.kind, channel.key, channel.name) == (kind, key, name)


@pytest.mark.parametrize(
    "name",
    [
        "user:",
        "user:a:b",
        "backtest",
        "trades:1",
        "market:BTCUSDT",
        "market:BTCUSDT:1h:x",
        "market:BTCUSDT:2h",
        "user:../x",
        "backtest: 1",
        "USER:u1",
    ],
)
def test_anything_else_is_not_a_channel(name):
    with pytest.raises(ValidationFailed) as error:
        parse_channel(name)
    assert error.value.errors[0].field == "channel"


# ---------------------------------------------------------------- authorization: user channel
def test_a_user_joins_their_own_user_channel(service, subscriptions):
    assert join(service, "user:u-alice") == {"event": "joined", "channel": "user:u-alice"}
    # The subscription lives exactly as long as the connection can (2 hours).
    assert subscriptions.items == {("conn-1", "user:u-alice"): ("user", "u-alice", CONNECTED_AT + timedelta(hours=2))}


def test_another_users_channel_is_forbidden(service, subscriptions):
    reply = join(service, "user:u-bob")
    assert reply["event"] == "error" and reply["channel"] == "user:u-bob"
    assert reply["error"]["code"] == "forbidden"
    assert subscriptions.items == {}


@pytest.mark.parametrize("channel", ["user:u-alice", "backtest:bt-alice", "market:BTCUSDT:1m"])
@pytest.mark.parametrize("token", ["revoked-or-expired-token", "x"])
def test_every_channel_refuses_a_bad_token(service, subscriptions, channel, token):
    reply = join(service, channel, token)
    assert reply == {
        "event": "error",
        "channel": channel,
        "error": {"code": "unauthorized", "message": "invalid, expired or revoked token"},
    }
    assert subscriptions.items == {}


# ---------------------------------------------------------------- authorization: backtest channel
def test_the_owner_joins_a_running_backtest_and_gets_its_snapshot(service, subscriptions):
    assert join(service, "backtest:bt-alice") == {
        "event": "joined",
        "channel": "backtest:bt-alice",
        "snapshot": {
            "status": "running",
            "progress": 40,
            "message": None,
            "trade_count": None,
            "performance_summary": None,
        },
    }
    assert ("conn-1", "backtest:bt-alice") in subscriptions.items


def test_a_completed_backtests_snapshot_has_its_trade_count_and_summary(service):
    snapshot = join(service, "backtest:bt-done")["snapshot"]
    assert snapshot == {
        "status": "completed",
        "progress": 100,
        "message": None,
        "trade_count": 12,
        "performance_summary": {"total_trades": 12, "win_rate": 50.0},
    }


def test_a_failed_backtests_snapshot_says_why(service):
    assert join(service, "backtest:bt-failed")["snapshot"]["message"] == "no candles for the range"


@pytest.mark.parametrize("channel", ["backtest:bt-bob", "backtest:no-such-backtest"])
def test_someone_elses_or_a_missing_backtest_is_not_found_alike(service, subscriptions, channel):
    reply = join(service, channel)
    assert reply["error"]["code"] == "not_found"
    assert reply["error"]["message"] == f"backtest {channel.split(':')[1]} not found"
    assert subscriptions.items == {}


def test_a_backtest_deleted_while_joining_is_not_found_and_not_kept(subscriptions):
    class VanishingBacktests:
        """Answers the authorization read, then the backtest is gone."""

        def __init__(self) -> None:
            self.reads = 0

        def get(self, backtest_id: str) -> Backtest | None:
            self.reads += 1
            return a_backtest(backtest_id, ALICE) if self.reads == 1 else None

    service = ChannelService(FakeAccounts({"alice-token": ALICE}), VanishingBacktests(), FakeCatalog(), subscriptions)
    assert join(service, "backtest:bt-1")["error"]["code"] == "not_found"
    assert subscriptions.items == {}


# ---------------------------------------------------------------- authorization: market channel
def test_any_signed_in_user_joins_a_known_symbols_market_channel(service, subscriptions):
    assert join(service, "market:BTCUSDT:15m", "bob-token") == {"event": "joined", "channel": "market:BTCUSDT:15m"}
    assert subscriptions.items[("conn-1", "market:BTCUSDT:15m")][:2] == ("market", "u-bob")


def test_an_unknown_symbol_is_not_found(service, subscriptions):
    reply = join(service, "market:DOGEBTC:1m")
    assert reply["error"] == {
        "code": "not_found",
        "message": "unknown symbol DOGEBTC",
        "details": [{"field": "channel", "message": "the service has no market data for DOGEBTC"}],
    }
    assert subscriptions.items == {}


def test_an_invalid_channel_is_refused_before_the_token_is_looked_at(service):
    reply = join(service, "market:BTCUSDT:7m", "not-a-token")
    assert reply["error"]["code"] == "validation_failed"
    assert reply["error"]["details"] == [
        {"field": "channel", "message": "timeframe must be one of 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w"}
    ]


# ---------------------------------------------------------------- leave, ping
def test_leave_removes_the_subscription_and_is_idempotent(service, subscriptions):
    join(service, "user:u-alice")
    join(service, "market:BTCUSDT:1m")
    assert send(service, {"action": "leave", "channel": "user:u-alice"}) == {"event": "left", "channel": "user:u-alice"}
    assert list(subscriptions.items) == [("conn-1", "market:BTCUSDT:1m")]
    assert send(service, {"action": "leave", "channel": "user:u-alice"}) == {"event": "left", "channel": "user:u-alice"}


def test_ping_answers_pong():
    assert ChannelService(None, None, None, None).handle(CONNECTION, '{"action":"ping"}') == {"event": "pong"}


# ---------------------------------------------------------------- envelopes
def test_an_event_envelope_has_event_channel_data_and_an_iso_timestamp():
    ts = iso_now(lambda: 1709294400.123)  # 2024-03-01T12:00:00.123Z
    message = event_envelope("status_update", "backtest:b1", {"status": "running", "progress": 50}, ts)
    assert json.loads(encode(message)) == {
        "event": "status_update",
        "channel": "backtest:b1",
        "data": {"status": "running", "progress": 50},
        "ts": "2024-03-01T12:00:00.123Z",
    }


def test_encoding_turns_dynamodb_decimals_and_numpy_scalars_into_json_numbers():
    data = {
        "progress": Decimal("40"),
        "equity": Decimal("10250.5"),
        "open_positions": np.int64(2),
        "drawdown": np.float64(1.25),
        "at": datetime(2024, 3, 1, tzinfo=UTC),
    }
    assert json.loads(encode(event_envelope("metrics_update", "backtest:b1", data, "t")))["data"] == {
        "progress": 40,
        "equity": 10250.5,
        "open_positions": 2,
        "drawdown": 1.25,
        "at": "2024-03-01T00:00:00Z",
    }


def test_an_event_api_gateway_would_refuse_is_a_producer_error():
    with pytest.raises(ValueError, match="at most 131072"):
        encode(event_envelope("x", "user:u1", {"blob": "a" * MAX_MESSAGE_BYTES}, "t"))


# ---------------------------------------------------------------- trade-event sampling rule
def test_up_to_the_limit_every_trade_gets_events():
    assert sampled_trade_indices(0, limit=4) == []
    assert sampled_trade_indices(4, limit=4) == [0, 1, 2, 3]


def test_beyond_the_limit_trades_are_sampled_evenly_with_the_first_and_the_last():
    # 10 trades, 4 events: positions 0, 3, 6, 9 (step 9/3 = 3)
    assert sampled_trade_indices(10, limit=4) == [0, 3, 6, 9]
    # 11 trades, 4 events: step 10/3 = 3.33 -> 0, 3.33, 6.67, 10 rounded -> 0, 3, 7, 10
    assert sampled_trade_indices(11, limit=4) == [0, 3, 7, 10]
    # 25,000 trades at the default limit: 500 distinct trades, first and last included
    sample = sampled_trade_indices(25_000)
    assert len(set(sample)) == 500 and sample[0] == 0 and sample[-1] == 24_999
    assert max(np.diff(sample)) - min(np.diff(sample)) <= 1


def _trade(n: int, entry: str, exit: str | None) -> dict:
    return {
        "id": f"t{n}",
        "entry_time": entry,
        "entry_price": 100.0 + n,
        "quantity": 1.5,
        "side": "long",
        "exit_time": exit,
        "exit_price": None if exit is None else 101.0 + n,
        "pnl": 1.0,
        "pnl_percentage": 1.0,
        "fees": 0.1,
        "exit_reason": "signal",
    }


def test_trade_events_follow_time_with_closes_before_entries_at_the_same_time():
    trades = [
        _trade(1, "2024-01-01T00:00:00Z", "2024-01-01T02:00:00Z"),
        _trade(2, "2024-01-01T02:00:00Z", "2024-01-01T03:00:00Z"),  # a reversal at 02:00
        _trade(3, "2024-01-01T04:00:00Z", None),  # still open
    ]
    events = trade_events(trades)
    assert [(event, data.get("trade_id") or data["trade"]["id"]) for event, data in events] == [
        ("trade_executed", "t1"),
        ("trade_closed", "t1"),
        ("trade_executed", "t2"),
        ("trade_closed", "t2"),
        ("trade_executed", "t3"),
    ]
    assert events[0][1] == {
        "trade": {
            "id": "t1",
            "entry_time": "2024-01-01T00:00:00Z",
            "entry_price": 101.0,
            "quantity": 1.5,
            "side": "long",
        },
        "trade_number": 1,
        "total_trades": 3,
    }
    assert events[1][1] == {
        "trade_id": "t1",
        "exit_time": "2024-01-01T02:00:00Z",
        "exit_price": 102.0,
        "pnl": 1.0,
        "pnl_percentage": 1.0,
        "trade_number": 1,
        "total_trades": 3,
    }


def test_trade_events_of_a_big_backtest_cover_only_the_sampled_trades():
    trades = [_trade(n, f"2024-01-{n + 1:02d}T00:00:00Z", f"2024-01-{n + 1:02d}T01:00:00Z") for n in range(10)]
    events = trade_events(trades, limit=4)
    assert [data["trade_number"] for event, data in events if event == "trade_executed"] == [1, 4, 7, 10]
    assert {data["total_trades"] for _, data in events} == {10}
