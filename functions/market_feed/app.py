"""Scheduled every minute: the live candles and ticker of every market channel someone is in.

Which channels: the connections table's `kind-index` (market subscriptions). What they get:
shared.realtime.market_feed's rule over the exchange's latest klines (adapters.binance), delivered by
THE publisher.
"""

from __future__ import annotations

import functools
import time

from aws_lambda_powertools import Logger

from adapters.binance import BinanceClient
from adapters.connections import ConnectionStore
from adapters.publisher import publisher_from_env
from adapters.settings import ExchangeSettings
from shared.realtime.market_feed import MarketFeed
from shared.realtime.protocol import MARKET

logger = Logger()

# A poll must end well inside the minute before the next one: few, short attempts per request.
BINANCE_ATTEMPTS = 2
BINANCE_TIMEOUT_S = 5.0


@functools.cache
def _feed() -> tuple[ConnectionStore, MarketFeed]:
    publisher = publisher_from_env()
    klines = BinanceClient(
        ExchangeSettings.from_env().binance_base_url, timeout_s=BINANCE_TIMEOUT_S, max_attempts=BINANCE_ATTEMPTS
    )
    return publisher.connections, MarketFeed(klines, publisher, time.time)


@logger.inject_lambda_context
def handler(event: dict, context: object) -> dict:
    connections, feed = _feed()
    report = feed.poll(connections.subscribed_channels(MARKET))
    logger.info("market feed published", extra={"published": report.published, "failed": list(report.failed)})
    return {"published": report.published, "failed": list(report.failed)}
