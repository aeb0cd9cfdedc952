"""WebSocket connections and their channel subscriptions, in one table.

A connection is the item (pk=connection id, sk="connection"); each subscription is an item
(pk=connection id, sk="channel#<channel>") carrying `channel`, indexed by `channel-index` so a
publisher finds a channel's connections with one query. Items expire with the connection
(API Gateway closes a WebSocket after 2 hours).
"""

from __future__ import annotations

import os

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

CONNECTION_SK = "connection"
SUBSCRIPTION_PREFIX = "channel#"


class ChannelIndex(GlobalSecondaryIndex["ConnectionItem"]):
    class Meta:
        index_name = "channel-index"
        projection = KeysOnlyProjection()

    channel = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class ConnectionItem(Model):
    class Meta:
        table_name = os.environ.get("CONNECTIONS_TABLE", "connections")
        billing_mode = "PAY_PER_REQUEST"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    channel = UnicodeAttribute(null=True)
    user_id = UnicodeAttribute(null=True)
    connected_at = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    channel_index = ChannelIndex()
