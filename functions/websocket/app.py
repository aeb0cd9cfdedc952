"""WebSocket API function: $connect, $disconnect and $default (the client's join/leave/ping).

Thin: the protocol and its rules are shared.realtime.protocol.ChannelService; this wires it to the
connections table, the REST API's sessions and backtests tables and the candle store, and turns
API Gateway's events into calls. The reply to a message is the route response (the `$default`
route has a RouteResponse), so it reaches the client before anything published afterwards.
"""

from __future__ import annotations

import functools
from datetime import timedelta

import boto3
from aws_lambda_powertools import Logger, Tracer

from adapters.connections import ConnectionStore
from adapters.market_catalog import CandleStoreCatalog
from adapters.models.backtests import BacktestItem
from adapters.models.sessions import SessionItem
from adapters.models.users import UserItem
from adapters.repositories.backtests import DynamoBacktestRepository
from adapters.repositories.binding import bind
from adapters.repositories.sessions import DynamoSessionRepository
from adapters.repositories.users import DynamoUserRepository
from adapters.settings import WebSocketSettings
from shared.accounts.service import Accounts
from shared.realtime.protocol import ChannelService, ConnectionInfo, encode
from shared.times import datetime_of_ms

logger = Logger()
tracer = Tracer()


@functools.cache
def _settings() -> WebSocketSettings:
    return WebSocketSettings.from_env()


@functools.cache
def _connections() -> ConnectionStore:
    return ConnectionStore(boto3.client("dynamodb"), _settings().connections_table)


@functools.cache
def _channels() -> ChannelService:
    """Built on the first message, not at $connect: a connection that never joins costs nothing more."""
    settings = _settings()
    accounts = Accounts(
        users=DynamoUserRepository(bind(UserItem, settings.users_table)),
        sessions=DynamoSessionRepository(bind(SessionItem, settings.sessions_table)),
        session_ttl=timedelta(hours=settings.session_ttl_hours),
    )
    backtests = DynamoBacktestRepository(bind(BacktestItem, settings.backtests_table))
    catalog = CandleStoreCatalog(boto3.client("s3"), settings.candles_bucket)
    return ChannelService(accounts, backtests, catalog, _connections())


def _connection(request: dict) -> ConnectionInfo:
    connected_at = datetime_of_ms(request["connectedAt"])
    return ConnectionInfo(request["connectionId"], connected_at)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context: object) -> dict:
    request = event["requestContext"]
    connection = _connection(request)
    route = request["routeKey"]
    logger.append_keys(connection_id=connection.connection_id, route=route)
    if route == "$connect":
        _connections().open(connection)
        return {"statusCode": 200}
    if route == "$disconnect":
        _connections().close(connection.connection_id)
        return {"statusCode": 200}
    reply = _channels().handle(connection, event.get("body"))
    logger.info("message answered", extra={"reply": reply["event"], "channel": reply.get("channel")})
    return {"statusCode": 200, "body": encode(reply).decode()}
