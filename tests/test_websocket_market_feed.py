"""The market channels' feed (shared.realtime.market_feed): which klines become candle_update /
ticker_update events, and a poll against the fake exchange through the real Binance client."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.binance import BinanceClient
from shared.candles import Candles
from shared.realtime.market_feed import CLOSE_GRACE_MS, MarketFeed, klines_window, market_events
from tests.fakes.binance import FakeBinance

MINUTE, HOUR = 60_000, 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def candles(*opens: str, step: int = MINUTE) -> Candles:
    """Candles opening at `opens`; candle n has open 100+n, high 102+n, low 99+n, close 101+n, volume 10+n."""
    n = range(len(opens))
    return Candles.from_arrays(
        [ms(t) for t in opens],
        [100 + i for i in n],
        [102 + i for i in n],
        [99 + i for i in n],
        [101 + i for i in n],
        [10 + i for i in n],
    )


def candle(timestamp: str, n: int, is_closed: bool) -> dict:
    return {
        "timestamp": timestamp,
        "open": 100.0 + n,
        "high": 102.0 + n,
        "low": 99.0 + n,
        "close": 101.0 + n,
        "volume": 10.0 + n,
        "is_closed": is_closed,
    }


# ---------------------------------------------------------------- the rule
def test_a_minute_poll_announces_the_candle_that_just_closed_and_the_one_in_progress():
    # Given 1m klines opening 11:58, 11:59, 12:00 and a poll at 12:00:30
    klines = candles("2024-03-01T11:58:00", "2024-03-01T11:59:00", "2024-03-01T12:00:00")
    events = market_events(klines, "1m", ms("2024-03-01T12:00:30"))
    # Then 11:59 (closed at 12:00:00, within the last minute + grace) is closed, 12:00 in progress,
    # and the ticker is the 12:00 candle's close and volume so far at poll time; 11:58 is old news.
    assert events == [
        ("candle_update", candle("2024-03-01T11:59:00Z", 1, True)),
        ("candle_update", candle("2024-03-01T12:00:00Z", 2, False)),
        ("ticker_update", {"timestamp": "2024-03-01T12:00:30Z", "price": 103.0, "volume": 12.0}),
    ]


def test_a_late_poll_still_announces_the_close_the_previous_poll_did_not_see():
    # Polls at 12:00:00 and (10 s late) at 12:01:10: 12:00's close at 12:01:00 is inside the
    # last minute + 15 s grace, and so is 11:59's (12:00:00), announced a second time.
    klines = candles("2024-03-01T11:59:00", "2024-03-01T12:00:00", "2024-03-01T12:01:00")
    events = market_events(klines, "1m", ms("2024-03-01T12:01:10"))
    assert [(e, d["timestamp"], d.get("is_closed")) for e, d in events] == [
        ("candle_update", "2024-03-01T11:59:00Z", True),
        ("candle_update", "2024-03-01T12:00:00Z", True),
        ("candle_update", "2024-03-01T12:01:00Z", False),
        ("ticker_update", "2024-03-01T12:01:10Z", None),
    ]


def test_an_hour_candle_is_announced_closed_only_by_the_poll_after_its_close():
    klines = candles("2024-03-01T11:00:00", "2024-03-01T12:00:00", step=HOUR)
    first = market_events(klines, "1h", ms("2024-03-01T12:00:40"))
    assert [(d["timestamp"], d.get("is_closed")) for _, d in first] == [
        ("2024-03-01T11:00:00Z", True),
        ("2024-03-01T12:00:00Z", False),
        ("2024-03-01T12:00:40Z", None),
    ]
    later = market_events(klines, "1h", ms("2024-03-01T12:30:00"))
    assert [(d["timestamp"], d.get("is_closed")) for _, d in later] == [
        ("2024-03-01T12:00:00Z", False),
        ("2024-03-01T12:30:00Z", None),
    ]


def test_the_klines_window_covers_the_grace_and_the_candle_in_progress():
    now = ms("2024-03-01T12:00:30")
    start, end = klines_window("1h", now)
    # open times > now - 1 min - grace - 1 h, up to and including now
    assert (start, end) == (now - MINUTE - CLOSE_GRACE_MS - HOUR + 1, now + 1)


# ---------------------------------------------------------------- a poll against the fake exchange
class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict]] = []

    def publish(self, channel: str, event: str, data: dict) -> None:
        self.events.append((channel, event, data))


def test_a_poll_publishes_each_market_channel_and_skips_one_that_fails(fake_binance: FakeBinance):
    fake_binance.add_klines("BTCUSDT", "1m", candles("2024-03-01T11:59:00", "2024-03-01T12:00:00"))
    fake_binance.add_klines("ETHUSDT", "1h", candles("2024-03-01T11:00:00", "2024-03-01T12:00:00", step=HOUR))
    publisher = RecordingPublisher()
    client = BinanceClient(fake_binance.url, max_attempts=1, sleep=lambda s: None)
    feed = MarketFeed(client, publisher, clock=lambda: ms("2024-03-01T12:00:30") / 1000)

    report = feed.poll(["market:BTCUSDT:1m", "market:NOSUCHCOIN:1m", "market:ETHUSDT:1h"])

    assert report.published == {"market:BTCUSDT:1m": 3, "market:ETHUSDT:1h": 3}
    assert report.failed == ("market:NOSUCHCOIN:1m",)  # Binance: -1121 Invalid symbol
    btc = [
        (event, data.get("timestamp")) for channel, event, data in publisher.events if channel == "market:BTCUSDT:1m"
    ]
    assert btc == [
        ("candle_update", "2024-03-01T11:59:00Z"),
        ("candle_update", "2024-03-01T12:00:00Z"),
        ("ticker_update", "2024-03-01T12:00:30Z"),
    ]
    request = next(r for r in fake_binance.calls("/api/v3/klines") if r.params["symbol"] == "BTCUSDT")
    start, end = klines_window("1m", ms("2024-03-01T12:00:30"))
    assert (int(request.params["startTime"]), int(request.params["endTime"])) == (start, end - 1)


def test_a_channel_without_klines_in_the_window_publishes_nothing(fake_binance: FakeBinance):
    fake_binance.add_klines("BTCUSDT", "1d", candles("2020-01-01T00:00:00", step=24 * HOUR))
    publisher = RecordingPublisher()
    feed = MarketFeed(
        BinanceClient(fake_binance.url, max_attempts=1), publisher, clock=lambda: ms("2024-03-01T12:00:30") / 1000
    )
    assert feed.poll(["market:BTCUSDT:1d"]).published == {"market:BTCUSDT:1d": 0}
    assert publisher.events == []


@pytest.mark.parametrize("channels", [[], ["user:u1", "backtest:b1"]])
def test_only_market_channels_are_polled(channels):
    feed = MarketFeed(klines=None, publisher=RecordingPublisher(), clock=lambda: 0.0)  # nothing to reach
    report = feed.poll(channels)
    assert (report.published, report.failed) == ({}, ())
