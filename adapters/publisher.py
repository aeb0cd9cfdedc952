"""THE publisher: every producer's events reach WebSocket clients through this one module.

channel -> its connections (one `channel-index` query) -> `post_to_connection` to each, in
parallel on a small thread pool. A connection API Gateway reports gone (`GoneException`: the
client left without a clean `$disconnect`, or its 2 hours ran out) is forgotten on the spot,
subscriptions included. Delivery is best effort: any other failure is logged and counted, never
raised into the producer (a failed subscriber lookup is logged and sends nothing). Events published one after another on a channel reach each
connection in that order (`publish` returns once every send of its event has finished).

Producers get one with `publisher_from_env()` and see only `shared.events.EventPublisher`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from adapters.connections import ConnectionStore
from adapters.settings import PublisherSettings
from shared.realtime.protocol import encode, event_envelope, iso_now

log = logging.getLogger(__name__)

SEND_WORKERS = 16


@dataclass(frozen=True)
class Delivery:
    """What one publish did: sends accepted, connections found gone (and forgotten), other failures."""

    delivered: int = 0
    gone: int = 0
    failed: int = 0


_DELIVERED, _GONE, _FAILED = Delivery(delivered=1), Delivery(gone=1), Delivery(failed=1)


class WebSocketPublisher:
    """The EventPublisher port over API Gateway's management API (`@connections`)."""

    def __init__(
        self,
        connections: ConnectionStore,
        management_client: Any,
        workers: int = SEND_WORKERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connections = connections
        self.management = management_client
        self.clock = clock
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="publisher")

    def publish(self, channel: str, event: str, data: dict[str, Any]) -> Delivery:
        """Send `{"event", "channel", "data", "ts"}` to every subscriber of `channel`.

        ValueError when the event is too large for API Gateway (a producer bug, not a delivery
        failure)."""
        payload = encode(event_envelope(event, channel, data, iso_now(self.clock)))
        try:
            connection_ids = self.connections.subscribers(channel)
        except (ClientError, BotoCoreError):
            log.exception("could not look up the subscribers of %s; %s not sent", channel, event)
            return Delivery()
        if len(connection_ids) <= 1:
            outcomes = [self._send(connection_id, payload) for connection_id in connection_ids]
        else:
            outcomes = list(self._pool.map(lambda connection_id: self._send(connection_id, payload), connection_ids))
        return Delivery(
            sum(o.delivered for o in outcomes), sum(o.gone for o in outcomes), sum(o.failed for o in outcomes)
        )

    def _send(self, connection_id: str, payload: bytes) -> Delivery:
        try:
            self.management.post_to_connection(ConnectionId=connection_id, Data=payload)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "GoneException":
                self._forget(connection_id)
                return _GONE
            log.warning("post_to_connection %s failed: %s", connection_id, error)
            return _FAILED
        except BotoCoreError as error:
            log.warning("post_to_connection %s failed: %s", connection_id, error)
            return _FAILED
        return _DELIVERED

    def _forget(self, connection_id: str) -> None:
        try:
            self.connections.close(connection_id)
        except (ClientError, BotoCoreError, RuntimeError) as error:  # its items expire with their TTL anyway
            log.warning("could not forget gone connection %s: %s", connection_id, error)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def publisher_from_env(workers: int = SEND_WORKERS) -> WebSocketPublisher:
    """The publisher of a deployed function (or of the local stack): the connections table named
    by CONNECTIONS_TABLE, the management API at WEBSOCKET_API_ENDPOINT (`PublisherSettings`)."""
    settings = PublisherSettings.from_env()
    dynamodb = boto3.client("dynamodb", config=Config(max_pool_connections=workers))
    management = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=settings.websocket_api_endpoint,
        # One pooled connection per sender thread; a stuck send must not hold a producer for long.
        config=Config(
            max_pool_connections=workers,
            connect_timeout=2,
            read_timeout=5,
            retries={"mode": "standard", "max_attempts": 3},
        ),
    )
    return WebSocketPublisher(ConnectionStore(dynamodb, settings.connections_table), management, workers)
