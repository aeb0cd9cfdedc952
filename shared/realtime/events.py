"""Events the service publishes to WebSocket channels, and the port producers publish through.

Producers (compute, stitch, persist, imports) depend on `EventPublisher` only; the adapter that
fans an event out to subscribed connections lives in `adapters`.
"""

from __future__ import annotations

from typing import Any, Protocol


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


def backtest_channel(backtest_id: str) -> str:
    return f"backtest:{backtest_id}"


def market_channel(symbol: str, timeframe: str) -> str:
    return f"market:{symbol}:{timeframe}"


class EventPublisher(Protocol):
    def publish(self, channel: str, event: str, data: dict[str, Any]) -> None:
        """Deliver `event` with payload `data` to every subscriber of `channel` (best effort)."""
