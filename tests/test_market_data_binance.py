"""Market data, Binance: the klines client against a local fake speaking Binance's wire format —
pagination, rate limits (429 + Retry-After, 418), server errors, the used-weight header."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.binance import PAGE_LIMIT, WEIGHT_SLOWDOWN_AT, BinanceClient, BinanceUnavailable, fetch_historical_data
from shared.errors import NotFound
from shared.market_data.validation import validate_candles
from tests.fakes.binance import FakeBinance
from tests.fakes.market_data import assert_same_candles, random_candles

JAN_2024 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE = 60_000


class Sleeps(list):
    """Stands in for time.sleep: records how long the client wanted to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(fake_binance, sleeps) -> BinanceClient:
    return BinanceClient(fake_binance.url, sleep=sleeps, clock=lambda: 1_704_067_230.0)  # 30 s into a minute


def klines_calls(fake: FakeBinance) -> list[dict[str, str]]:
    return [request.params for request in fake.calls("/api/v3/klines")]


def test_pages_of_1000_are_followed_to_the_end_of_the_range(fake_binance, client):
    # Given 2,500 one-minute klines on Binance, and a request for [00:00, 41:40) of the first 2,500 minutes
    candles = random_candles(JAN_2024, 3000, "1m")
    fake_binance.add_klines("BTCUSDT", "1m", candles)
    end = JAN_2024 + 2500 * MINUTE
    raw = client.fetch_klines("BTCUSDT", "1m", JAN_2024, end)
    # Then three pages were asked for, each starting after the previous page's last kline
    assert [(int(p["startTime"]), int(p["endTime"]), int(p["limit"])) for p in klines_calls(fake_binance)] == [
        (JAN_2024, end - 1, PAGE_LIMIT),
        (JAN_2024 + 1000 * MINUTE, end - 1, PAGE_LIMIT),
        (JAN_2024 + 2000 * MINUTE, end - 1, PAGE_LIMIT),
    ]
    # And every kline arrived once, exactly as Binance sent it
    assert_same_candles(validate_candles(raw, "1m").candles, candles.slice(0, 2500))
    assert raw.format == "binance_api"


def test_an_exact_page_boundary_asks_once_more_and_stops_on_the_empty_page(fake_binance, client):
    fake_binance.add_klines("BTCUSDT", "1m", random_candles(JAN_2024, 2000, "1m"))
    raw = client.fetch_klines("BTCUSDT", "1m", JAN_2024, JAN_2024 + 5000 * MINUTE)
    assert len(raw) == 2000
    assert [int(p["startTime"]) for p in klines_calls(fake_binance)] == [
        JAN_2024,
        JAN_2024 + 1000 * MINUTE,
        JAN_2024 + 2000 * MINUTE,
    ]


def test_a_429_is_retried_after_the_time_binance_asks_for(fake_binance, client, sleeps):
    candles = random_candles(JAN_2024, 1500, "1m")
    fake_binance.add_klines("BTCUSDT", "1m", candles)
    # Given the second page is refused once with Retry-After: 0
    fake_binance.fail_next(429, retry_after=0, after=1)
    raw = client.fetch_klines("BTCUSDT", "1m", JAN_2024, JAN_2024 + 1500 * MINUTE)
    # Then the client waited 0 s as told, asked for the same page again, and got everything
    assert sleeps == [0.0]
    assert [int(p["startTime"]) for p in klines_calls(fake_binance)] == [
        JAN_2024,
        JAN_2024 + 1000 * MINUTE,
        JAN_2024 + 1000 * MINUTE,
    ]
    assert_same_candles(validate_candles(raw, "1m").candles, candles)


def test_server_errors_back_off_exponentially(fake_binance, client, sleeps):
    fake_binance.add_klines("BTCUSDT", "1h", random_candles(JAN_2024, 10, "1h"))
    fake_binance.fail_next(503, times=2)
    assert len(client.fetch_klines("BTCUSDT", "1h", JAN_2024, JAN_2024 + 10 * 3_600_000)) == 10
    assert sleeps == [0.5, 1.0]


def test_failures_beyond_the_last_attempt_give_up(fake_binance, sleeps):
    fake_binance.add_klines("BTCUSDT", "1h", random_candles(JAN_2024, 10, "1h"))
    fake_binance.fail_next(502, times=3)
    client = BinanceClient(fake_binance.url, max_attempts=3, sleep=sleeps)
    with pytest.raises(BinanceUnavailable, match="failed 3 times, last: HTTP 502"):
        client.fetch_klines("BTCUSDT", "1h", JAN_2024, JAN_2024 + 3_600_000)
    assert sleeps == [0.5, 1.0]


def test_a_long_ban_is_not_waited_out(fake_binance, client, sleeps):
    fake_binance.fail_next(418, retry_after=7200)
    with pytest.raises(BinanceUnavailable, match="wait 7200s"):
        client.fetch_klines("BTCUSDT", "1h", JAN_2024, JAN_2024 + 3_600_000)
    assert sleeps == []


def test_near_the_weight_limit_the_client_waits_for_the_next_minute(fake_binance, client, sleeps):
    # Given Binance reports the minute's weight nearly used up
    fake_binance.add_klines("BTCUSDT", "1h", random_candles(JAN_2024, 10, "1h"))
    fake_binance.used_weight = WEIGHT_SLOWDOWN_AT
    client.fetch_klines("BTCUSDT", "1h", JAN_2024, JAN_2024 + 10 * 3_600_000)
    # Then it waits out the minute (the clock says 30 s into it) before asking again
    assert sleeps == [30.5]


def test_an_unknown_symbol_is_not_found(fake_binance, client):
    with pytest.raises(NotFound) as caught:
        client.fetch_klines("NOPEUSDT", "1h", JAN_2024, JAN_2024 + 3_600_000)
    assert caught.value.errors[0].field == "symbol"
    assert "Invalid symbol." in caught.value.errors[0].message


def test_fetch_historical_data_takes_datetimes_and_uses_binance_base_url(fake_binance):
    candles = random_candles(JAN_2024, 48, "1h")
    fake_binance.add_klines("ETHUSDT", "1h", candles)
    raw = fetch_historical_data("ETHUSDT", "1h", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    assert_same_candles(validate_candles(raw, "1h").candles, candles.slice(0, 24))
