"""End to end on the local stack: real sockets to the WebSocket gateway, sign-in and backtests
over the REST API, events through THE publisher (`publisher_from_env`, as every producer gets
it) and the management API the stack serves, the market feed function against the fake exchange.

The backtest flow is the real one: created over REST, run by the state machine from
template.yaml (moto's interpreter calling the handlers), its events published by the workflow
steps; they must agree with what the REST API returns.
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
import pytest
import websockets

from adapters.connections import ConnectionStore
from adapters.publisher import Delivery, publisher_from_env
from local.stack import LocalStack
from shared.events import trade_events
from shared.realtime.protocol import ConnectionInfo, parse_channel
from tests.conftest import reset_moto
from tests.fakes.binance import FakeBinance
from tests.fakes.market_data import random_candles
from tests.fanout.strategies import sma_cross

pytestmark = pytest.mark.stack

PASSWORD = "correct horse battery"
RECV_TIMEOUT_S = 10
STRATEGY = {"name": "SMA 10/50 cross", **sma_cross()}


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
    request = urllib.request.Request(
        f"{stack.api_url}/api/v1{path}",
        method=method,
        headers=headers,
        data=None if body is None else json.dumps(body).encode(),
    )
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
    status, backtest = rest(
        stack,
        "POST",
        "/backtests",
        {
            "strategy_id": strategy["id"],
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "start_time": (last_month - timedelta(days=30)).isoformat(),
            "end_time": last_month.isoformat(),
            "initial_balance": 10000,
        },
        token,
    )
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
FLOW_TIMEOUT_S = 120


async def join_collecting(client: Client, channel: str, token: str, frames: list[dict]) -> dict:
    """Join `channel`; events of channels already joined may come first: keep them in `frames`."""
    await client.socket.send(json.dumps({"action": "join", "channel": channel, "token": token}))
    while True:
        frame = await client.next()
        if frame.get("event") in ("joined", "error") and frame.get("channel") == channel:
            return frame
        frames.append(frame)


def rest_trades(stack, token: str, backtest_id: str) -> list[dict]:
    trades, page = [], 1
    while True:
        status, body = rest(stack, "GET", f"/backtests/{backtest_id}/trades?per_page=100&page={page}", token=token)
        assert status == 200, body
        trades += body["data"]
        if page >= body["meta"]["total_pages"]:
            return trades
        page += 1


def test_the_owner_follows_a_backtest_the_state_machine_runs(stack, alice):
    # Given Alice signed in over REST and following her user channel
    token, user_id = alice
    user_channel = f"user:{user_id}"
    frames: list[dict] = []

    async def scenario(client: Client) -> dict:
        assert (await join_collecting(client, user_channel, token, frames))["event"] == "joined"
        # When she creates a backtest over REST (the state machine from template.yaml runs it)
        backtest = await asyncio.to_thread(create_backtest, stack, token)
        channel = f"backtest:{backtest['id']}"
        # and joins its channel: the snapshot is where the run is now
        joined = await join_collecting(client, channel, token, frames)
        assert joined["event"] == "joined" and joined["snapshot"]["status"] in ("pending", "running", "completed")

        def seen(event: str, status: str | None = None) -> bool:
            return any(f["event"] == event and (status is None or f["data"].get("status") == status) for f in frames)

        deadline = time.monotonic() + FLOW_TIMEOUT_S
        while not (seen("backtest:status_update", "completed") and seen("metrics_update")):
            assert time.monotonic() < deadline, frames
            frames.append(json.loads(await asyncio.wait_for(client.socket.recv(), FLOW_TIMEOUT_S)))
        # Trade events follow the metrics: read until every trade the REST API lists has its events.
        expected_events = trade_events(rest_trades(stack, token, backtest["id"]))
        while sum(f["event"] in ("trade_executed", "trade_closed") for f in frames) < len(expected_events):
            frames.append(json.loads(await asyncio.wait_for(client.socket.recv(), RECV_TIMEOUT_S)))
        return backtest

    backtest = asyncio.run(_with_client(stack, scenario))
    status, final = rest(stack, "GET", f"/backtests/{backtest['id']}", token=token)
    assert status == 200 and final["status"] == "completed"
    trades = rest_trades(stack, token, backtest["id"])
    assert trades, "the sample data gives the SMA cross some trades"

    # Then every frame is an event envelope
    for frame in frames:
        assert set(frame) == {"event", "channel", "data", "ts"}
        assert datetime.fromisoformat(frame["ts"]).tzinfo == UTC
    # the user channel saw the status rise in order up to completed
    user_updates = [f["data"] for f in frames if f["channel"] == user_channel]
    assert all(u["backtest_id"] == backtest["id"] for u in user_updates)
    progress = [u["progress"] for u in user_updates]
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    assert [u["status"] for u in user_updates][-1] == "completed" and progress[-1] == 100
    assert {u["status"] for u in user_updates[:-1]} <= {"running"}
    # the backtest channel's status updates are in order too, ending completed
    channel = f"backtest:{backtest['id']}"
    statuses = [
        (f["data"]["status"], f["data"]["progress"])
        for f in frames
        if f["channel"] == channel and f["event"] == "status_update"
    ]
    assert statuses and statuses[-1] == ("completed", 100)
    assert [p for _, p in statuses] == sorted(p for _, p in statuses)
    # the final metrics agree with the REST API's backtest
    metrics = next(f["data"] for f in frames if f["event"] == "metrics_update")
    assert set(metrics) == {"current_balance", "equity", "drawdown", "drawdown_percentage", "open_positions"}
    assert metrics["equity"] == pytest.approx(final["final_balance"], rel=1e-9)
    assert metrics["open_positions"] == sum(t["exit_time"] is None for t in trades)
    # and the trade events are the REST API's trades, in time order
    received = [(f["event"], f["data"]) for f in frames if f["event"] in ("trade_executed", "trade_closed")]
    expected = trade_events(trades)
    assert [event for event, _ in received] == [event for event, _ in expected]
    for (_, got), (_, want) in zip(received, expected):
        got_trade, want_trade = got.get("trade", got), want.get("trade", want)
        assert got_trade.get("id", got.get("trade_id")) == want_trade.get("id", want.get("trade_id"))
        for key in ("entry_price", "quantity", "exit_price", "pnl"):
            if key in want_trade:
                assert got_trade[key] == pytest.approx(want_trade[key], rel=1e-9)

    # A client that (re)joins now picks up the finished run from the snapshot.
    async def rejoin(client: Client) -> dict:
        return await client.join(channel, token)

    snapshot = asyncio.run(_with_client(stack, rejoin))["snapshot"]
    assert snapshot["status"] == "completed" and snapshot["progress"] == 100
    # (trade_count counts closed trades, as performance_summary.total_trades does)
    assert snapshot["trade_count"] == sum(t["exit_time"] is not None for t in trades)
    assert snapshot["performance_summary"]["total_trades"] == final["performance_summary"]["total_trades"]


async def _with_client(stack, scenario):
    async with websockets.connect(stack.ws_url) as socket:
        return await scenario(Client(socket))


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
        for bad in (
            "{oops",
            "[]",
            json.dumps({"action": "dance"}),
            json.dumps({"action": "join", "channel": "user:x"}),
        ):
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
            result = await asyncio.to_thread(
                stack.functions["MarketFeedFunction"].invoke,
                {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}},
            )
            assert result["failed"] == []
            events = [await client.next() for _ in range(result["published"]["market:BTCUSDT:1h"])]
            assert [m["event"] for m in events][-2:] == ["candle_update", "ticker_update"]
            in_progress = events[-2]["data"]
            assert in_progress["is_closed"] is False
            assert datetime.fromisoformat(in_progress["timestamp"]).timestamp() * 1000 == (now_ms // hour) * hour
            assert events[-1]["data"]["price"] == in_progress["close"]

        run(stack, scenario)
