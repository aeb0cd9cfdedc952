"""Events the service publishes to WebSocket channels, and the port producers publish through.

Producers (compute, stitch, persist, imports) depend on `EventPublisher` only; the adapter that
fans an event out to subscribed connections lives in `adapters`. The channels' names, and the
trade events of a completed backtest (sampled), are here for every feature alike; who may join a
channel is the WebSocket protocol's (`shared.realtime.protocol`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
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


# Trades of one backtest that get trade_executed / trade_closed events (see `sampled_trade_indices`):
# at most 1,000 events for a backtest of any size, each costing a subscriber lookup and a post per subscriber.
TRADE_EVENT_LIMIT = 500


# ---------------------------------------------------------------- trade events
def sampled_trade_indices(trade_count: int, limit: int = TRADE_EVENT_LIMIT) -> list[int]:
    """Which of a backtest's trades get events: all of them up to `limit`, else `limit` trades
    spread evenly over the run, always the first and the last (a subscriber sees the whole run
    at a bounded rate and fetches every trade over REST)."""
    if trade_count <= limit:
        return list(range(trade_count))
    if limit == 1:
        return [trade_count - 1]
    step = (trade_count - 1) / (limit - 1)
    return [math.floor(i * step + 0.5) for i in range(limit)]


def trade_events(trades: Sequence[dict[str, Any]], limit: int = TRADE_EVENT_LIMIT) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs for a backtest's trades, in time order.

    `trades` are the REST API's trade records (id, entry_time, entry_price, quantity, side,
    exit_time, exit_price, pnl, pnl_percentage), in entry order; a trade still open has
    exit_time None and gets no trade_closed. Each sampled trade gives trade_executed at its entry
    and trade_closed at its exit; at equal times a close comes before an entry (a reversal).
    Both carry `trade_number` (1-based position among all trades) and `total_trades`.
    """
    total = len(trades)
    timed: list[tuple[datetime, int, int, str, dict[str, Any]]] = []
    for index in sampled_trade_indices(total, limit):
        trade = trades[index]
        position = {"trade_number": index + 1, "total_trades": total}
        executed = {"trade": {key: trade[key] for key in ("id", "entry_time", "entry_price", "quantity", "side")}}
        timed.append((datetime.fromisoformat(trade["entry_time"]), 1, index, "trade_executed", executed | position))
        if trade.get("exit_time") is not None:
            closed = {"trade_id": trade["id"]} | {
                key: trade[key] for key in ("exit_time", "exit_price", "pnl", "pnl_percentage")
            }
            timed.append((datetime.fromisoformat(trade["exit_time"]), 0, index, "trade_closed", closed | position))
    timed.sort(key=lambda item: item[:3])
    return [(event, data) for _, _, _, event, data in timed]
