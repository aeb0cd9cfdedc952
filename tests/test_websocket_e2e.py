"""End to end on the local stack: real sockets to the WebSocket gateway, sign-in and backtests
over the REST API, events through THE publisher (`publisher_from_env`, as every producer gets
it) and the management API the stack serves, the market feed function against the fake exchange.

What the Step Functions flow will do itself (running -> progress -> completed, trades persisted)
is played here by the test with the REST API's own repositories, then published as a producer
would: the events must agree with what the REST API returns.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
import pytest
import websockets

from adapters.connections import ConnectionStore
from adapters.models.backtests import BacktestItem
from adapters.publisher import Delivery, publisher_from_env
from adapters.repositories.backtests import DynamoBacktestRepository
from adapters.repositories.binding import bind
from adapters.repositories.trades import S3TradeStore
from local.stack import LocalStack
from shared.engine import Trades
from shared.realtime import ConnectionInfo, parse_channel, trade_events
from shared.services.backtests import record_results
from shared.services.records import utc_now
from tests.fakes.binance import FakeBinance
from tests.fakes.market_data import random_candles

pytestmark = pytest.mark.stack

PASSWORD = "correct horse battery"
RECV_TIMEOUT_S = 10
STRATEGY = {
    "name": "SMA 10/50 cross",
    "entry_rules": {"operator": "and", "conditions": [
        {"indicator": "sma", "params": {"period": 10}, "comparator": "crosses_above",
         "value": {"indicator": "sma", "params": {"period": 50}}}]},
    "exit_rules": {"operator": "or", "conditions": [
        {"indicator": "sma", "params": {"period": 10}, "comparator": "crosses_below",
         "value": {"indicator": "sma", "params": {"period": 50}}}]},
}


def three_trades() -> Trades:
    """What the engine would hand the persisting step: a long +20, a short -5, a long +15, each
    entering at 100 on an even hour of 2024-01-01 and leaving an hour later."""
    hour, start, n = 3_600_000, 1_704_067_200_000, 3
    entry_bar = np.arange(n, dtype=np.int64) * 2
    pnl = np.array([20.0, -5.0, 15.0])
    return Trades(entry_bar=entry_bar, exit_bar=entry_bar + 1, entry_time=start + entry_bar * hour,
                  exit_time=start + (entry_bar + 1) * hour, side=np.array([1, -1, 1], dtype=np.int8),
                  entry_price=np.full(n, 100.0), exit_price=100.0 + pnl, quantity=np.ones(n), pnl=pnl,
                  pnl_percentage=pnl, fees=np.full(n, 0.2), exit_reason=np.zeros(n, dtype=np.int8))


def reset_moto(moto_url: str) -> None:
    """moto keeps its state per process, not per server: clear what earlier tests (or this
    module's stack) created, so every stack provisions into an empty AWS."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).read()


@pytest.fixture(scope="module")
def stack(moto_server):
    """The local stack, seeded with its sample candles (BTCUSDT and ETHUSDT, the last two years)."""
    reset_moto(moto_server)
    with LocalStack(api_port=0, ws_port=0) as running:
        yield running
    reset_moto(moto_server)


@pytest.fixture(scope="module")
def publisher(stack):
    made = publisher_from_env()
    yield made
    made.shutdown()


def rest(stack, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict | None]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(f"{stack.api_url}/api/v1{path}", method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def sign_up(stack, name: str) -> tuple[str, str]:
    """A new user signed in over REST: (token, user id)."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    assert rest(stack, "POST", "/users", {"email": email, "password": PASSWORD, "name": name})[0] == 201
    status, session = rest(stack, "POST", "/sessions", {"email": email, "password": PASSWORD})
    assert status == 200
    return session["token"], session["user"]["id"]


def create_backtest(stack, token: str) -> dict:
    status, strategy = rest(stack, "POST", "/strategies", STRATEGY, token)
    assert status == 201, strategy
    last_month = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
    status, backtest = rest(stack, "POST", "/backtests", {
        "strategy_id": strategy["id"], "symbol": "BTCUSDT", "timeframe": "1h",
        "start_time": (last_month - timedelta(days=30)).isoformat(), "end_time": last_month.isoformat(),
        "initial_balance": 10000}, token)
    assert status == 202, backtest
    return backtest


@pytest.fixture(scope="module")
def alice(stack):
    return sign_up(stack, "Alice")


@pytest.fixture(scope="module")
def bob(stack):
    return sign_up(stack, "Bob")


class Client:
    """One WebSocket connection: send a message, read the next frame."""

    def __init__(self, socket: websockets.ClientConnection) -> None:
        self.socket = socket

    async def ask(self, message: dict | str) -> dict:
        await self.socket.send(message if isinstance(message, str) else json.dumps(message))
        return await self.next()

    async def next(self) -> dict:
        return json.loads(await asyncio.wait_for(self.socket.recv(), RECV_TIMEOUT_S))

    async def join(self, channel: str, token: str) -> dict:
        return await self.ask({"action": "join", "channel": channel, "token": token})


def run(stack, scenario) -> None:
    """Run `scenario(client)` on a fresh connection to the stack's WebSocket API."""
    async def main() -> None:
        async with websockets.connect(stack.ws_url) as socket:
            await scenario(Client(socket))

    asyncio.run(main())


def connection_items(stack) -> list[tuple[str, str]]:
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.aws.url)
    table = stack.template.physical_name("ConnectionsTable")
    return sorted((i["pk"]["S"], i["sk"]["S"]) for i in dynamodb.scan(TableName=table)["Items"])


def wait_until(condition, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# ---------------------------------------------------------------- the flow
def test_the_owner_follows_a_backtest_and_its_events_agree_with_the_rest_api(stack, publisher, alice):
    token, user_id = alice
    backtest = create_backtest(stack, token)
    backtest_id, channel = backtest["id"], f"backtest:{backtest['id']}"
    repository = DynamoBacktestRepository(bind(BacktestItem, stack.template.physical_name("BacktestsTable")))
    trade_store = S3TradeStore(boto3.client("s3", endpoint_url=stack.aws.url),
                               stack.template.physical_name("ResultsBucket"))
    order = ["pending", "running", "completed", "failed", "cancelled"]

    async def scenario(client: Client) -> None:
        assert await client.join(f"user:{user_id}", token) == {"event": "joined", "channel": f"user:{user_id}"}
        before = rest(stack, "GET", f"/backtests/{backtest_id}", token=token)[1]["status"]
        joined = await client.join(channel, token)
        after = rest(stack, "GET", f"/backtests/{backtest_id}", token=token)[1]["status"]
        assert joined["event"] == "joined" and joined["channel"] == channel
        # The snapshot is the backtest as the REST API shows it at the time of the join.
        assert order.index(before) <= order.index(joined["snapshot"]["status"]) <= order.index(after)
        assert set(joined["snapshot"]) == {"status", "progress", "message", "trade_count", "performance_summary"}

        # The flow's part, played here: running with progress, trades persisted, completed...
        repository.mark_running(backtest_id, utc_now())
        for progress in (25, 50, 100):
            await asyncio.to_thread(publisher.publish, channel, "status_update",
                                    {"status": "running", "progress": progress, "message": ""})
        record_results(repository, trade_store, backtest_id, final_balance=10_030.0,
                       performance_summary={"total_trades": 3, "winning_trades": 2, "losing_trades": 1},
                       trade_columns=three_trades(), now=utc_now())
        # ...and the trades published as the REST API returns them.
        trades = rest(stack, "GET", f"/backtests/{backtest_id}/trades", token=token)[1]["data"]
        for event, data in trade_events(trades):
            await asyncio.to_thread(publisher.publish, channel, event, data)
        await asyncio.to_thread(publisher.publish, channel, "status_update",
                                {"status": "completed", "progress": 100, "message": ""})
        await asyncio.to_thread(publisher.publish, f"user:{user_id}", "backtest:status_update",
                                {"backtest_id": backtest_id, "status": "completed", "progress": 100, "message": ""})

        received = [await client.next() for _ in range(3 + 6 + 1 + 1)]
        for message in received:
            assert set(message) == {"event", "channel", "data", "ts"}
            assert datetime.fromisoformat(message["ts"]).tzinfo == UTC
        statuses = [(m["data"]["status"], m["data"]["progress"]) for m in received if m["event"] == "status_update"]
        assert statuses == [("running", 25), ("running", 50), ("running", 100), ("completed", 100)]
        executed = [m["data"]["trade"] for m in received if m["event"] == "trade_executed"]
        closed = [m["data"] for m in received if m["event"] == "trade_closed"]
        assert [t["id"] for t in executed] == [t["id"] for t in trades] == [c["trade_id"] for c in closed]
        assert [(t["entry_price"], t["side"]) for t in executed] == [(t["entry_price"], t["side"]) for t in trades]
        assert [(c["exit_price"], c["pnl"]) for c in closed] == [(t["exit_price"], t["pnl"]) for t in trades]
        assert received[-1] == {"event": "backtest:status_update", "channel": f"user:{user_id}", "ts": received[-1]["ts"],
                                "data": {"backtest_id": backtest_id, "status": "completed", "progress": 100, "message": ""}}

        # A client that (re)joins now picks up the finished run from the snapshot.
        rejoined = await client.join(channel, token)
        assert rejoined["snapshot"] == {"status": "completed", "progress": 100, "message": None, "trade_count": 3,
                                        "performance_summary": {"total_trades": 3, "winning_trades": 2, "losing_trades": 1}}

    run(stack, scenario)


# ---------------------------------------------------------------- authorization over the socket
def test_nobody_joins_what_is_not_theirs_and_nothing_is_stored_for_a_refusal(stack, alice, bob):
    alice_token, alice_id = alice
    bob_token, _ = bob
    backtest_id = create_backtest(stack, alice_token)["id"]

    async def scenario(client: Client) -> None:
        refusals = {
            (f"backtest:{backtest_id}", bob_token): "not_found",
            (f"user:{alice_id}", bob_token): "forbidden",
            (f"user:{alice_id}", "not-a-token"): "unauthorized",
            ("market:NOSUCHCOIN:1h", alice_token): "not_found",
            ("market:BTCUSDT:7h", alice_token): "validation_failed",
        }
        for (channel, token), code in refusals.items():
            reply = await client.join(channel, token)
            assert (reply["event"], reply["channel"], reply["error"]["code"]) == ("error", channel, code)
        assert [sk for _, sk in connection_items(stack) if sk.startswith("channel#")] == []
        # Signed out (revoked) tokens stop working at once.
        _, revoked_id = revoked = sign_up(stack, "Carol")
        assert rest(stack, "DELETE", "/sessions", token=revoked[0])[0] == 204
        assert (await client.join(f"user:{revoked_id}", revoked[0]))["error"]["code"] == "unauthorized"
        assert (await client.join("market:BTCUSDT:1h", bob_token))["event"] == "joined"

    run(stack, scenario)


def test_malformed_messages_get_an_error_and_the_socket_stays_usable(stack, alice):
    async def scenario(client: Client) -> None:
        for bad in ("{oops", "[]", json.dumps({"action": "dance"}), json.dumps({"action": "join", "channel": "user:x"})):
            assert (await client.ask(bad))["event"] == "error"
        assert await client.ask({"action": "ping"}) == {"event": "pong"}
        assert (await client.join(f"user:{alice[1]}", alice[0]))["event"] == "joined"

    run(stack, scenario)


# ---------------------------------------------------------------- delivery and cleanup
def test_leave_stops_delivery_to_that_connection(stack, publisher, alice):
    token, user_id = alice
    channel = f"user:{user_id}"

    async def scenario(client: Client) -> None:
        await client.join(channel, token)
        assert await client.ask({"action": "leave", "channel": channel}) == {"event": "left", "channel": channel}
        await asyncio.to_thread(publisher.publish, channel, "transaction:import_update", {"import_id": "i1"})
        # Anything published to this socket would arrive before the answer to a later ping.
        assert await client.ask({"action": "ping"}) == {"event": "pong"}

    run(stack, scenario)


def test_a_connection_api_gateway_reports_gone_is_forgotten(stack, publisher):
    # Given subscriptions of a connection the gateway no longer has (no $disconnect ran)
    store: ConnectionStore = publisher.connections
    ghost = ConnectionInfo("ghost-connection", datetime.now(UTC))
    store.open(ghost)
    for channel in ("backtest:b-ghost", "market:BTCUSDT:1h"):
        store.subscribe(ghost.connection_id, parse_channel(channel), "u-ghost", ghost.expires_at)
    # When an event is published to one of its channels, the management API answers 410 Gone
    assert publisher.publish("backtest:b-ghost", "status_update", {"status": "running"}) == Delivery(gone=1)
    # Then every item of that connection is gone
    assert [pk for pk, _ in connection_items(stack) if pk == "ghost-connection"] == []


def test_disconnect_removes_the_connections_subscriptions(stack, alice):
    token, user_id = alice

    async def scenario(client: Client) -> None:
        await client.join(f"user:{user_id}", token)
        await client.join("market:BTCUSDT:1h", token)
        assert len(connection_items(stack)) >= 3

    run(stack, scenario)
    wait_until(lambda: connection_items(stack) == [])


# ---------------------------------------------------------------- the market feed
def test_the_market_feed_reaches_market_subscribers(stack, alice, monkeypatch):
    token, _ = alice
    now_ms = int(time.time() * 1000)
    hour = 3_600_000
    with FakeBinance() as exchange:
        monkeypatch.setenv("BINANCE_BASE_URL", exchange.url)
        # The hour in progress and the two before it.
        exchange.add_klines("BTCUSDT", "1h", random_candles((now_ms // hour - 2) * hour, 3, "1h"))

        async def scenario(client: Client) -> None:
            assert (await client.join("market:BTCUSDT:1h", token))["event"] == "joined"
            result = await asyncio.to_thread(stack.functions["MarketFeedFunction"].invoke, {
                "version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
            assert result["failed"] == []
            events = [await client.next() for _ in range(result["published"]["market:BTCUSDT:1h"])]
            assert [m["event"] for m in events][-2:] == ["candle_update", "ticker_update"]
            in_progress = events[-2]["data"]
            assert in_progress["is_closed"] is False
            assert datetime.fromisoformat(in_progress["timestamp"]).timestamp() * 1000 == (now_ms // hour) * hour
            assert events[-1]["data"]["price"] == in_progress["close"]

        run(stack, scenario)
