"""A demo feed for the local stack: stored candles replayed as live market events.

There is no exchange to poll on a laptop, so every `interval_s` each market channel somebody is
subscribed to advances one candle through the latest `REPLAY_CANDLES` stored candles of its
series (resampled when only finer candles are stored), wrapping around, and gets what the
deployed feed would publish if it polled in the middle of that candle: the previous candle
`candle_update` closed, this one `candle_update` in progress, and a `ticker_update`
(shared.realtime.market_feed's rule with a replay clock). Events go through THE publisher, so they reach
sockets exactly as the deployed feed's do.

Wiring (LocalStack): `replay = MarketReplay.from_env(); replay.start()` after the stack is up,
`replay.stop()` before it stops.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import boto3

from adapters.candle_store import S3CandleStore
from adapters.connections import ConnectionStore
from adapters.publisher import publisher_from_env
from shared.candles import Candles
from shared.errors import DomainError
from shared.events import EventPublisher
from shared.market_data.ports import CandleStore
from shared.market_data.query import choose_source, read_series, stored_series
from shared.realtime.market_feed import market_events
from shared.realtime.protocol import MARKET, parse_channel
from shared.timeframes import timeframe_ms

log = logging.getLogger("local.market_replay")

REPLAY_CANDLES = 500
INTERVAL_S = 1.0


class MarketReplay:
    def __init__(
        self,
        store: CandleStore,
        connections: ConnectionStore,
        publisher: EventPublisher,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.store = store
        self.connections = connections
        self.publisher = publisher
        self.interval_s = interval_s
        self._windows: dict[str, Candles] = {}
        self._positions: dict[str, int] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="market-replay", daemon=True)

    @classmethod
    def from_env(cls, interval_s: float = INTERVAL_S) -> MarketReplay:
        """On the stack's environment: CANDLES_BUCKET, CONNECTIONS_TABLE, the local management API."""
        publisher = publisher_from_env()
        store = S3CandleStore(boto3.client("s3"), os.environ["CANDLES_BUCKET"])
        return cls(store, publisher.connections, publisher, interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            try:
                self.step()
            except Exception:  # a demo feed logs and keeps going
                log.exception("market replay step failed")

    def step(self) -> dict[str, int]:
        """Advance every subscribed market channel by one candle; returns how many events each got."""
        published = {}
        for channel in self.connections.subscribed_channels(MARKET):
            events = self._next_events(channel)
            for event, data in events:
                self.publisher.publish(channel, event, data)
            published[channel] = len(events)
        return published

    def _next_events(self, channel: str) -> list[tuple[str, dict[str, Any]]]:
        position = self._positions.get(channel, 1)
        if channel not in self._windows or position >= len(self._windows[channel]):
            self._windows[channel] = self._load(channel)  # (re)load: picks up imports made meanwhile
            position = 1
        window = self._windows[channel]
        if len(window) < 2:
            return []
        self._positions[channel] = position + 1
        _, timeframe = parse_channel(channel).key
        step = timeframe_ms(timeframe)
        # As if the feed polled halfway through candle `position`, once per candle.
        replay_now = int(window.ts[position]) + step // 2
        return market_events(window.slice(position - 1, position + 1), timeframe, replay_now, interval_ms=step)

    def _load(self, channel: str) -> Candles:
        symbol, timeframe = parse_channel(channel).key
        try:
            series = stored_series(self.store, symbol)
            end = max(manifest.last_ts + timeframe_ms(manifest.timeframe) for manifest in series.values())
            start = end - REPLAY_CANDLES * timeframe_ms(timeframe)
            return read_series(self.store, choose_source(series, symbol, timeframe, start, end), timeframe, start, end)
        except DomainError as error:  # no candles for it (yet), or only coarser ones
            log.info("market replay: nothing to replay on %s: %s", channel, error.message)
            return Candles.from_arrays(*([[]] * 6))
