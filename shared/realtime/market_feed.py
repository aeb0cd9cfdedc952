"""The market channels' live feed: each poll turns the exchange's latest klines into
`candle_update` and `ticker_update` events on the `market:{symbol}:{timeframe}` channels that
have subscribers.

The rule, per channel and poll (the poll runs every `interval_ms`, a minute when deployed):
- every candle that closed since the previous poll, i.e. whose close time (open + timeframe) is
  within the last `interval_ms + CLOSE_GRACE_MS` (the grace absorbs schedule jitter, so a
  candle's close may rarely be announced twice; clients key candles by timestamp):
  `candle_update` with `is_closed: true`, oldest first;
- the candle in progress at poll time: `candle_update` with `is_closed: false`, then
  `ticker_update` {timestamp: poll time, price: its close so far, volume: its volume so far}.
Klines pass the import validator first; a channel whose poll fails (unknown symbol, exchange
down, bad klines) is logged and skipped, the others are still published.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from shared.candles import Candles
from shared.events import EventPublisher
from shared.market_data.ports import KlineSource
from shared.market_data.validation import validate_candles
from shared.market_data.wire import candle_dict
from shared.realtime.protocol import MARKET, parse_channel
from shared.timeframes import timeframe_ms
from shared.times import iso_utc

log = logging.getLogger(__name__)

CANDLE_UPDATE, TICKER_UPDATE = "candle_update", "ticker_update"
FEED_INTERVAL_MS = 60_000
CLOSE_GRACE_MS = 15_000
POLL_WORKERS = 8


def market_events(
    candles: Candles, timeframe: str, now_ms: int, interval_ms: int = FEED_INTERVAL_MS
) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs one poll publishes for one channel, from its latest klines."""
    step = timeframe_ms(timeframe)
    events: list[tuple[str, dict[str, Any]]] = []
    for i in range(len(candles)):
        opened = int(candles.ts[i])
        closes = opened + step
        values = (opened, candles.open[i], candles.high[i], candles.low[i], candles.close[i], candles.volume[i])
        if now_ms - interval_ms - CLOSE_GRACE_MS < closes <= now_ms:
            events.append((CANDLE_UPDATE, candle_dict(*values) | {"is_closed": True}))
        elif opened <= now_ms < closes:
            events.append((CANDLE_UPDATE, candle_dict(*values) | {"is_closed": False}))
            events.append(
                (
                    TICKER_UPDATE,
                    {
                        "timestamp": iso_utc(now_ms),
                        "price": float(candles.close[i]),
                        "volume": float(candles.volume[i]),
                    },
                )
            )
    return events


def klines_window(timeframe: str, now_ms: int, interval_ms: int = FEED_INTERVAL_MS) -> tuple[int, int]:
    """[start, end) of the open times `market_events` can use: candles closed within the poll
    interval and grace, and the one in progress."""
    step = timeframe_ms(timeframe)
    return now_ms - interval_ms - CLOSE_GRACE_MS - step + 1, now_ms + 1


@dataclass(frozen=True)
class FeedReport:
    published: dict[str, int] = field(default_factory=dict)  # channel -> events published
    failed: tuple[str, ...] = ()  # channels whose poll failed


class MarketFeed:
    def __init__(
        self,
        klines: KlineSource,
        publisher: EventPublisher,
        clock: Callable[[], float],
        interval_ms: int = FEED_INTERVAL_MS,
        workers: int = POLL_WORKERS,
    ) -> None:
        self.klines = klines
        self.publisher = publisher
        self.clock = clock
        self.interval_ms = interval_ms
        self.workers = workers

    def poll(self, channels: Iterable[str]) -> FeedReport:
        """Publish each market channel's updates; channels are polled in parallel, each one's
        events in order."""
        now_ms = int(self.clock() * 1000)
        markets = [name for name in channels if name.startswith(f"{MARKET}:")]
        with ThreadPoolExecutor(max(1, min(self.workers, len(markets)))) as pool:
            counts = dict(zip(markets, pool.map(lambda name: self._poll_channel(name, now_ms), markets)))
        failed = tuple(name for name, count in counts.items() if count is None)
        return FeedReport({name: count for name, count in counts.items() if count is not None}, failed)

    def _poll_channel(self, name: str, now_ms: int) -> int | None:
        try:
            symbol, timeframe = parse_channel(name).key
            start, end = klines_window(timeframe, now_ms, self.interval_ms)
            raw = self.klines.fetch_klines(symbol, timeframe, start, end)
            events = (
                market_events(validate_candles(raw, timeframe).candles, timeframe, now_ms, self.interval_ms)
                if len(raw)
                else []
            )
        except Exception:  # one channel's failure must not starve the others
            log.exception("market feed: polling %s failed", name)
            return None
        for event, data in events:
            self.publisher.publish(name, event, data)
        return len(events)
