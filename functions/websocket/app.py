"""WebSocket API function: $connect, $disconnect and $default (client messages)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

from aws_lambda_powertools import Logger, Tracer

from adapters.models.connections import CONNECTION_SK, ConnectionItem

logger = Logger()
tracer = Tracer()

# API Gateway closes a WebSocket after 2 hours; its items must not outlive it.
CONNECTION_LIFETIME = timedelta(hours=2)


def _reply(payload: dict) -> dict:
    return {"statusCode": 200, "body": json.dumps(payload)}


def on_connect(connection_id: str) -> dict:
    expires_at = datetime.now(timezone.utc) + CONNECTION_LIFETIME
    ConnectionItem(connection_id, CONNECTION_SK, connected_at=int(time.time()), expires_at=expires_at).save()
    return {"statusCode": 200}


def on_disconnect(connection_id: str) -> dict:
    with ConnectionItem.batch_write() as batch:
        for item in ConnectionItem.query(connection_id):
            batch.delete(item)
    return {"statusCode": 200}


def on_message(body: str | None) -> dict:
    try:
        message = json.loads(body or "")
    except ValueError:
        return _reply({"event": "error", "message": "message is not valid JSON"})
    if not isinstance(message, dict) or not isinstance(message.get("action"), str):
        return _reply({"event": "error", "message": "message must be an object with an 'action'"})
    if message["action"] == "ping":
        return _reply({"event": "pong"})
    return _reply({"event": "error", "message": f"unknown action {message['action']!r}"})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context: object) -> dict:
    request = event["requestContext"]
    route, connection_id = request["routeKey"], request["connectionId"]
    logger.append_keys(connection_id=connection_id, route=route)
    if route == "$connect":
        return on_connect(connection_id)
    if route == "$disconnect":
        return on_disconnect(connection_id)
    return on_message(event.get("body"))
