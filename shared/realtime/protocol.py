"""The WebSocket protocol: client messages, channels, who may join them, event envelopes, and
how many trade events a backtest publishes.

Pure Python over injected lookups (tokens, backtests, symbols, subscriptions), so every rule is
tested without AWS; `functions/websocket/app.py` wires the DynamoDB/S3 adapters in and
`adapters/publisher.py` delivers the envelopes built here.

Client -> server (JSON text frames):
    {"action": "join", "channel": "<channel>", "token": "<bearer token>"}
    {"action": "leave", "channel": "<channel>"}
    {"action": "ping"}
Server -> client replies: {"event": "joined"|"left", "channel": ...} (a backtest's `joined` also
carries `snapshot`), {"event": "pong"} and {"event": "error", "channel": ..., "error": {"code",
"message", "details"}}; the error codes are the REST API's (shared.errors, shared.accounts.auth).
Server -> client events: {"event": <name>, "channel": <channel>, "data": {...}, "ts": <ISO-8601>}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared import json_limits
from shared.accounts.model import User
from shared.backtests.model import Backtest
from shared.errors import DomainError, FieldError, Forbidden, NotFound, ValidationFailed
from shared.events import backtest_channel, market_channel, user_channel
from shared.realtime.ports import Authenticator, BacktestReader, Subscriptions, SymbolCatalog
from shared.timeframes import TIMEFRAMES
from shared.times import epoch_ms, iso_utc, iso_utc_ms

# API Gateway closes every WebSocket after 2 hours; nothing stored for a connection outlives that.
CONNECTION_LIFETIME = timedelta(hours=2)
# API Gateway refuses a message larger than 128 KiB (post_to_connection and route responses alike).
MAX_MESSAGE_BYTES = 128 * 1024

USER, BACKTEST, MARKET = "user", "backtest", "market"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


# ---------------------------------------------------------------- client messages
@dataclass(frozen=True)
class Join:
    channel: str
    token: str


@dataclass(frozen=True)
class Leave:
    channel: str


@dataclass(frozen=True)
class Ping:
    """`{"action": "ping"}`: answered with a pong, nothing else."""


ClientMessage = Join | Leave | Ping


MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit


def parse_message(body: str | bytes | None) -> ClientMessage:
    """The client message in a frame; ValidationFailed naming the field when it is not one."""
    raw = body.encode() if isinstance(body, str) else body or b""
    json_limits.check(raw, MAX_MESSAGE_BYTES, field="message")
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(
            "the message is not valid JSON", [FieldError("message", "must be a JSON object")]
        ) from None
    if not isinstance(message, dict):
        raise ValidationFailed("the message is not a JSON object", [FieldError("message", "must be a JSON object")])
    action = message.get("action")
    if action == "ping":
        return Ping()
    if action is None:
        raise ValidationFailed("the message has no action", [FieldError("action", "is required")])
    if action not in ("join", "leave"):
        raise ValidationFailed(f"unknown action {action!r}", [FieldError("action", "must be one of join, leave, ping")])
    required = ("channel", "token") if action == "join" else ("channel",)
    errors = [
        FieldError(name, "must be a non-empty string")
        for name in required
        if not isinstance(message.get(name), str) or not message[name]
    ]
    if errors:
        raise ValidationFailed(f"invalid {action} message", errors)
    return Join(message["channel"], message["token"]) if action == "join" else Leave(message["channel"])


def channel_of(body: str | bytes | None) -> str | None:
    """The channel a frame names, if it names one as a string: echoed in error replies."""
    try:
        channel = json.loads(body or "").get("channel")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return channel if isinstance(channel, str) else None


# ---------------------------------------------------------------- channels
@dataclass(frozen=True)
class Channel:
    """A parsed channel name: its kind and its key parts (`user:{id}`, `backtest:{id}`,
    `market:{symbol}:{timeframe}`)."""

    kind: str
    key: tuple[str, ...]

    @property
    def name(self) -> str:
        if self.kind == USER:
            return user_channel(*self.key)
        if self.kind == BACKTEST:
            return backtest_channel(*self.key)
        return market_channel(*self.key)


_CHANNEL_FORMS = {USER: "user:{user_id}", BACKTEST: "backtest:{backtest_id}", MARKET: "market:{symbol}:{timeframe}"}


def parse_channel(name: str) -> Channel:
    """ValidationFailed (field `channel`) for anything but the three channel forms."""
    kind, _, rest = name.partition(":")
    parts = tuple(rest.split(":"))
    expected = 2 if kind == MARKET else 1
    if kind not in _CHANNEL_FORMS or len(parts) != expected or not all(_SEGMENT.match(p) for p in parts):
        forms = ", ".join(_CHANNEL_FORMS.values())
        raise ValidationFailed(f"invalid channel {name!r}", [FieldError("channel", f"must be one of {forms}")])
    if kind == MARKET and parts[1] not in TIMEFRAMES:
        raise ValidationFailed(
            f"invalid channel {name!r}", [FieldError("channel", f"timeframe must be one of {', '.join(TIMEFRAMES)}")]
        )
    return Channel(kind, parts)


# ---------------------------------------------------------------- authorization
def authorize(channel: Channel, user: User, backtests: BacktestReader, catalog: SymbolCatalog) -> None:
    """Forbidden / NotFound unless `user` may receive the channel's events: their own user
    channel, their own backtests (someone else's is NotFound, as over REST: ids are not
    confirmed to strangers), and the market channels of symbols the service has data for."""
    if channel.kind == USER:
        if channel.key[0] != user.id:
            raise Forbidden(f"{channel.name} is another user's channel")
    elif channel.kind == BACKTEST:
        backtest = backtests.get(channel.key[0])
        if backtest is None or backtest.owner_id != user.id:
            raise NotFound(f"backtest {channel.key[0]} not found")
    elif not catalog.timeframes(channel.key[0]):
        raise NotFound(
            f"unknown symbol {channel.key[0]}",
            [FieldError("channel", f"the service has no market data for {channel.key[0]}")],
        )


def backtest_snapshot(backtest: Backtest) -> dict[str, Any]:
    """What a backtest's `joined` reply carries, so a client that (re)joins mid-run picks up
    where the run is: status and progress, the error of a failed run, and once completed the
    trade count and the performance summary (the REST API's)."""
    summary = backtest.performance_summary
    return {
        "status": backtest.status,
        "progress": backtest.progress,
        "message": backtest.error,
        "trade_count": summary["total_trades"] if summary else None,
        "performance_summary": summary,
    }


# ---------------------------------------------------------------- replies
def error_reply(error: DomainError, channel: str | None) -> dict[str, Any]:
    """The `error` reply: the REST API's error object under the channel the message named."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.errors:
        body["details"] = [e.to_dict() for e in error.errors]
    return {"event": "error", "channel": channel, "error": body}


@dataclass(frozen=True)
class ConnectionInfo:
    connection_id: str
    connected_at: datetime  # when API Gateway accepted the socket

    @property
    def expires_at(self) -> datetime:
        return self.connected_at + CONNECTION_LIFETIME


class ChannelService:
    """What a client's messages do: join (authenticate, authorize, subscribe), leave, ping."""

    def __init__(
        self, accounts: Authenticator, backtests: BacktestReader, catalog: SymbolCatalog, subscriptions: Subscriptions
    ) -> None:
        self.accounts = accounts
        self.backtests = backtests
        self.catalog = catalog
        self.subscriptions = subscriptions

    def handle(self, connection: ConnectionInfo, body: str | bytes | None) -> dict[str, Any]:
        """The reply to one frame; a bad frame gets an `error` reply and changes nothing."""
        try:
            message = parse_message(body)
            if isinstance(message, Ping):
                return {"event": "pong"}
            if isinstance(message, Leave):
                return self.leave(connection, message.channel)
            return self.join(connection, message.channel, message.token)
        except DomainError as error:
            return error_reply(error, channel_of(body))

    def join(self, connection: ConnectionInfo, name: str, token: str) -> dict[str, Any]:
        channel = parse_channel(name)
        user = self.accounts.authenticate(token)
        authorize(channel, user, self.backtests, self.catalog)
        self.subscriptions.subscribe(connection.connection_id, channel, user.id, connection.expires_at)
        reply: dict[str, Any] = {"event": "joined", "channel": channel.name}
        if channel.kind == BACKTEST:
            # Read after subscribing: whatever is published from now on reaches the client, and
            # whatever was published before is in the snapshot.
            backtest = self.backtests.get(channel.key[0])
            if backtest is None:  # deleted in between
                self.subscriptions.unsubscribe(connection.connection_id, channel.name)
                raise NotFound(f"backtest {channel.key[0]} not found")
            reply["snapshot"] = backtest_snapshot(backtest)
        return reply

    def leave(self, connection: ConnectionInfo, name: str) -> dict[str, Any]:
        """Idempotent: leaving a channel the connection is not in still answers `left`."""
        channel = parse_channel(name)
        self.subscriptions.unsubscribe(connection.connection_id, channel.name)
        return {"event": "left", "channel": channel.name}


# ---------------------------------------------------------------- events
def iso_now(clock: Callable[[], float]) -> str:
    """ISO-8601 UTC to the millisecond: `2024-03-01T12:00:00.123Z`."""
    return iso_utc_ms(datetime.fromtimestamp(clock(), UTC))


def event_envelope(event: str, channel: str, data: dict[str, Any], ts: str) -> dict[str, Any]:
    return {"event": event, "channel": channel, "data": data, "ts": ts}


def _json_default(value: Any) -> Any:
    """DynamoDB numbers (Decimal), NumPy scalars and datetimes, as JSON."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return iso_utc(epoch_ms(value))
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(message: dict[str, Any]) -> bytes:
    """One WebSocket frame; ValueError when API Gateway would refuse it for its size."""
    data = json.dumps(message, separators=(",", ":"), default=_json_default, allow_nan=False).encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(
            f"{message.get('event')} on {message.get('channel')} is {len(data)} bytes; "
            f"API Gateway accepts at most {MAX_MESSAGE_BYTES}"
        )
    return data
