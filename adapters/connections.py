"""The connections table through a boto3 DynamoDB client: who is connected and to which channels.

Item shapes come from `adapters.models.connections.ConnectionItem` (serialized by it, written
here), so the WebSocket function, the publisher and the market feed all agree on them. The
table name and the client are arguments: tests and the local stack point them anywhere.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from adapters.models.connections import CONNECTION_SK, SUBSCRIPTION_PREFIX, ConnectionItem, subscription_sk
from shared.realtime.protocol import Channel, ConnectionInfo

BATCH_WRITE_SIZE = 25  # DynamoDB's BatchWriteItem limit
BATCH_RETRIES = 8


class ConnectionStore:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self.dynamodb = dynamodb_client
        self.table = table_name

    # ------------------------------------------------------------ the WebSocket function
    def open(self, connection: ConnectionInfo) -> None:
        item = ConnectionItem(
            connection.connection_id,
            CONNECTION_SK,
            connected_at=int(connection.connected_at.timestamp() * 1000),
            expires_at=connection.expires_at,
        )
        self.dynamodb.put_item(TableName=self.table, Item=item.serialize())

    def subscribe(self, connection_id: str, channel: Channel, user_id: str, expires_at: datetime) -> None:
        item = ConnectionItem(
            connection_id,
            subscription_sk(channel.name),
            channel=channel.name,
            kind=channel.kind,
            user_id=user_id,
            expires_at=expires_at,
        )
        self.dynamodb.put_item(TableName=self.table, Item=item.serialize())

    def unsubscribe(self, connection_id: str, channel: str) -> None:
        self.dynamodb.delete_item(TableName=self.table, Key=_key(connection_id, subscription_sk(channel)))

    def close(self, connection_id: str) -> None:
        """Forget the connection and every subscription it had ($disconnect, or Gone on send)."""
        keys = [
            _key(item["pk"]["S"], item["sk"]["S"])
            for item in self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": connection_id}},
                ProjectionExpression="pk, sk",
            )
        ]
        for start in range(0, len(keys), BATCH_WRITE_SIZE):
            self._batch_delete(keys[start : start + BATCH_WRITE_SIZE])

    # ------------------------------------------------------------ producers
    def subscribers(self, channel: str) -> list[str]:
        """Ids of the connections subscribed to `channel` (one index query, paginated)."""
        items = self._query(
            IndexName=ConnectionItem.channel_index.Meta.index_name,
            KeyConditionExpression="channel = :channel",
            ExpressionAttributeValues={":channel": {"S": channel}},
        )
        return [item["pk"]["S"] for item in items]

    def subscribed_channels(self, kind: str) -> list[str]:
        """The channels of one kind that have at least one subscriber, sorted."""
        items = self._query(
            IndexName=ConnectionItem.kind_index.Meta.index_name,
            KeyConditionExpression="kind = :kind",
            ExpressionAttributeValues={":kind": {"S": kind}},
        )
        return sorted({item["sk"]["S"].removeprefix(SUBSCRIPTION_PREFIX) for item in items})

    # ------------------------------------------------------------ helpers
    def _query(self, **request: Any) -> list[dict[str, Any]]:
        items = []
        for page in self.dynamodb.get_paginator("query").paginate(TableName=self.table, **request):
            items.extend(page["Items"])
        return items

    def _batch_delete(self, keys: list[dict[str, Any]]) -> None:
        requests = [{"DeleteRequest": {"Key": key}} for key in keys]
        for attempt in range(BATCH_RETRIES):
            unprocessed = self.dynamodb.batch_write_item(RequestItems={self.table: requests})["UnprocessedItems"]
            requests = unprocessed.get(self.table, [])
            if not requests:
                return
            time.sleep(0.05 * 2**attempt)
        raise RuntimeError(f"DynamoDB left {len(requests)} deletes unprocessed after {BATCH_RETRIES} attempts")


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}
