"""WebSocket connections and their channel subscriptions, in one table.

A connection is the item (pk=connection id, sk="connection"); each subscription is an item
(pk=connection id, sk="channel#<channel>") carrying `channel`, the channel's `kind` (user,
backtest, market) and the subscriber's `user_id`. Two keys-only indexes serve the producers:
`channel-index` (channel -> its connections: one query per published event) and `kind-index`
(kind -> subscriptions, sorted by sk = "channel#<channel>": the market feed's list of what to
poll; connection items have no kind, so they stay out of it). Items expire with the connection
(API Gateway closes a WebSocket after 2 hours).

`adapters.connections.ConnectionStore` reads and writes these items through a boto3 client
(named table, injectable client); this model is the one description of their shape.
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


class KindIndex(GlobalSecondaryIndex["ConnectionItem"]):
    class Meta:
        index_name = "kind-index"
        projection = KeysOnlyProjection()

    kind = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class ConnectionItem(Model):
    class Meta:
        table_name = os.environ.get("CONNECTIONS_TABLE", "connections")
        billing_mode = "PAY_PER_REQUEST"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    channel = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)
    user_id = UnicodeAttribute(null=True)
    connected_at = NumberAttribute(null=True)  # epoch ms, as API Gateway reports it
    expires_at = TTLAttribute(null=True)

    channel_index = ChannelIndex()
    kind_index = KindIndex()


def subscription_sk(channel: str) -> str:
    return SUBSCRIPTION_PREFIX + channel
