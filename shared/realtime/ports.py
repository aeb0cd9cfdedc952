"""What the WebSocket channels (`shared.realtime.protocol.ChannelService`) need from the other
features and from storage: narrow views of `shared.accounts.service.Accounts`, the backtest
repository and the market catalog, and the connection store (`adapters.connections`). The
publisher every feature sends events through is `shared.events.EventPublisher`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from shared.accounts.model import User
from shared.backtests.model import Backtest

if TYPE_CHECKING:
    from shared.realtime.protocol import Channel


class Authenticator(Protocol):
    """shared.accounts.service.Accounts: the REST API's token check, reused as is."""

    def authenticate(self, token: str) -> User:
        """The signed-in user; shared.accounts.auth.Unauthenticated for an unknown, expired or revoked token."""


class BacktestReader(Protocol):
    """The `get` of shared.backtests.ports.BacktestRepository."""

    def get(self, backtest_id: str) -> Backtest | None: ...


class SymbolCatalog(Protocol):
    """shared.backtests.ports.MarketCatalog: what market data the service has."""

    def timeframes(self, symbol: str) -> Sequence[str]:
        """Timeframes the store can serve for `symbol`; empty for an unknown symbol."""


class Subscriptions(Protocol):
    """adapters.connections.ConnectionStore."""

    def subscribe(self, connection_id: str, channel: Channel, user_id: str, expires_at: datetime) -> None: ...

    def unsubscribe(self, connection_id: str, channel: str) -> None: ...
