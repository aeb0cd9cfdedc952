"""The WebSocket function (functions/websocket/app.py) on moto, with API Gateway's event shapes
and the REST API's real sessions/backtests tables and candle store behind it: one join per
channel kind through the real lookups, $connect and $disconnect bookkeeping."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from adapters.candle_store import S3CandleStore
from adapters.models.backtests import BacktestItem
from adapters.models.sessions import SessionItem
from adapters.repositories.backtests import DynamoBacktestRepository
from adapters.repositories.binding import bind
from adapters.repositories.sessions import DynamoSessionRepository
from local.lambda_runtime import load_handler
from local.template import ROOT, Template
from shared.accounts.auth import new_token, token_digest
from shared.accounts.model import Session, User
from shared.candles import Candles
from shared.times import utc_now
from tests.test_websocket_protocol import a_backtest

TABLES = {
    "ConnectionsTable": "CONNECTIONS_TABLE",
    "SessionsTable": "SESSIONS_TABLE",
    "UsersTable": "USERS_TABLE",
    "BacktestsTable": "BACKTESTS_TABLE",
}
BUCKET = "candles-test"
ALICE = User(str(uuid.uuid4()), "alice@example.com", "Alice", datetime(2024, 1, 1, tzinfo=UTC))
BOB = User(str(uuid.uuid4()), "bob@example.com", "Bob", datetime(2024, 1, 1, tzinfo=UTC))
CONNECTED_AT_MS = 1709294400000  # 2024-03-01T12:00:00Z
BACKTEST_ID = str(uuid.uuid4())


@pytest.fixture
def env(aws, monkeypatch):
    """The template's tables and a candles bucket in moto, named in the function's environment."""
    dynamodb = boto3.client("dynamodb", endpoint_url=aws)
    resources = Template.load().resources
    for logical_id, variable in TABLES.items():
        props = resources[logical_id]["Properties"]
        dynamodb.create_table(
            TableName=f"test-{logical_id}",
            **{
                key: props[key]
                for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
                if key in props
            },
        )
        monkeypatch.setenv(variable, f"test-{logical_id}")
    boto3.client("s3", endpoint_url=aws).create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("CANDLES_BUCKET", BUCKET)
    monkeypatch.setenv("SESSION_TTL_HOURS", "24")
    return dynamodb


@pytest.fixture
def handler(env):
    """A fresh import of the handler, as a cold start would do it."""
    return load_handler(ROOT / "functions/websocket", "app.handler", f"websocket_app_{uuid.uuid4().hex}")


def sign_in(user: User, expires_in: timedelta = timedelta(hours=1)) -> str:
    token, now = new_token(), utc_now()
    DynamoSessionRepository(bind(SessionItem, "test-SessionsTable")).add(
        Session(token_digest(token), user, created_at=now, expires_at=now + expires_in)
    )
    return token


def store_candles(aws: str, symbol: str) -> None:
    candles = Candles.from_arrays([1709251200000], [1.0], [2.0], [0.5], [1.5], [10.0])
    S3CandleStore(boto3.client("s3", endpoint_url=aws), BUCKET).commit(symbol, "1m", None, {"2024-03": candles})


class Context:
    function_name = "WebSocketFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:WebSocketFunction"
    aws_request_id = "request-1"


def invoke(handler, route: str, body: dict | str | None = None, connection_id: str = "conn-1") -> dict:
    event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    event = {
        "requestContext": {
            "routeKey": route,
            "eventType": event_type,
            "connectionId": connection_id,
            "connectedAt": CONNECTED_AT_MS,
            "stage": "dev",
            "apiId": "websocketapi",
            "requestId": "r1",
            "messageDirection": "IN",
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    return handler(event, Context())


def reply(handler, body: dict | str, connection_id: str = "conn-1") -> dict:
    response = invoke(handler, "$default", body, connection_id)
    assert response["statusCode"] == 200
    return json.loads(response["body"])


def items(dynamodb) -> dict[str, dict]:
    return {i["sk"]["S"]: i for i in dynamodb.scan(TableName="test-ConnectionsTable")["Items"]}


def test_connect_stores_the_connection_until_api_gateway_would_close_it(handler, env):
    assert invoke(handler, "$connect") == {"statusCode": 200}
    # connectedAt 2024-03-01T12:00:00Z + 2 h = 1709301600
    assert items(env) == {
        "connection": {
            "pk": {"S": "conn-1"},
            "sk": {"S": "connection"},
            "connected_at": {"N": str(CONNECTED_AT_MS)},
            "expires_at": {"N": "1709301600"},
        }
    }


def test_a_user_joins_their_channel_with_their_token_and_not_anothers(handler, env):
    invoke(handler, "$connect")
    token = sign_in(ALICE)
    assert reply(handler, {"action": "join", "channel": f"user:{ALICE.id}", "token": token}) == {
        "event": "joined",
        "channel": f"user:{ALICE.id}",
    }
    assert (
        reply(handler, {"action": "join", "channel": f"user:{BOB.id}", "token": token})["error"]["code"] == "forbidden"
    )
    assert sorted(items(env)) == ["channel#user:" + ALICE.id, "connection"]
    assert items(env)["channel#user:" + ALICE.id]["expires_at"] == {"N": "1709301600"}


@pytest.mark.parametrize("channel", ["user:{alice}", "backtest:{backtest}", "market:BTCUSDT:1m"])
def test_expired_revoked_and_unknown_tokens_are_refused_on_every_channel(handler, env, aws, channel):
    store_candles(aws, "BTCUSDT")
    DynamoBacktestRepository(bind(BacktestItem, "test-BacktestsTable")).add(a_backtest(BACKTEST_ID, ALICE))
    channel = channel.format(alice=ALICE.id, backtest=BACKTEST_ID)
    expired = sign_in(ALICE, expires_in=timedelta(seconds=-1))
    revoked = sign_in(ALICE)
    DynamoSessionRepository(bind(SessionItem, "test-SessionsTable")).delete(token_digest(revoked))
    for token in (expired, revoked, new_token()):
        answer = reply(handler, {"action": "join", "channel": channel, "token": token})
        assert answer["error"] == {"code": "unauthorized", "message": "invalid, expired or revoked token"}
    assert items(env) == {}
    # ...and a valid token of the owner gets in.
    assert reply(handler, {"action": "join", "channel": channel, "token": sign_in(ALICE)})["event"] == "joined"


def test_the_owner_joins_a_backtest_with_its_snapshot_and_a_stranger_does_not(handler, env):
    repository = DynamoBacktestRepository(bind(BacktestItem, "test-BacktestsTable"))
    repository.add(a_backtest(BACKTEST_ID, ALICE, status="pending", progress=0))
    repository.mark_running(BACKTEST_ID, utc_now())
    repository.set_progress(BACKTEST_ID, 35, utc_now())
    channel = f"backtest:{BACKTEST_ID}"

    answer = reply(handler, {"action": "join", "channel": channel, "token": sign_in(ALICE)})
    assert answer == {
        "event": "joined",
        "channel": channel,
        "snapshot": {
            "status": "running",
            "progress": 35,
            "message": None,
            "trade_count": None,
            "performance_summary": None,
        },
    }
    stranger = reply(handler, {"action": "join", "channel": channel, "token": sign_in(BOB)}, "conn-2")
    assert stranger["error"] == {"code": "not_found", "message": f"backtest {BACKTEST_ID} not found"}
    assert [i["pk"]["S"] for i in items(env).values()] == ["conn-1"]


def test_market_channels_need_a_symbol_with_stored_candles(handler, env, aws):
    store_candles(aws, "ETHUSDT")
    token = sign_in(BOB)
    assert reply(handler, {"action": "join", "channel": "market:ETHUSDT:1h", "token": token})["event"] == "joined"
    assert (
        reply(handler, {"action": "join", "channel": "market:XRPUSDT:1h", "token": token})["error"]["code"]
        == "not_found"
    )
    assert list(items(env)) == ["channel#market:ETHUSDT:1h"]
    assert items(env)["channel#market:ETHUSDT:1h"]["kind"] == {"S": "market"}


def test_a_malformed_message_is_answered_and_the_connection_stays_usable(handler, env):
    invoke(handler, "$connect")
    assert reply(handler, "not json at all")["error"]["code"] == "validation_failed"
    assert reply(handler, {"action": "ping"}) == {"event": "pong"}
    assert list(items(env)) == ["connection"]


def test_disconnect_removes_the_connection_and_every_subscription(handler, env, aws):
    store_candles(aws, "BTCUSDT")
    invoke(handler, "$connect")
    invoke(handler, "$connect", connection_id="conn-2")
    token = sign_in(ALICE)
    for channel in (f"user:{ALICE.id}", "market:BTCUSDT:1m", "market:BTCUSDT:1h"):
        reply(handler, {"action": "join", "channel": channel, "token": token})
    reply(handler, {"action": "join", "channel": "market:BTCUSDT:1m", "token": token}, "conn-2")

    assert invoke(handler, "$disconnect") == {"statusCode": 200}

    left = env.scan(TableName="test-ConnectionsTable")["Items"]
    assert sorted((i["pk"]["S"], i["sk"]["S"]) for i in left) == [
        ("conn-2", "channel#market:BTCUSDT:1m"),
        ("conn-2", "connection"),
    ]
