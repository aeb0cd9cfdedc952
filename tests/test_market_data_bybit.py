"""Market data from Bybit's v5 public API (a local fake speaking its wire format): klines paged by
`end` (newest first on the wire, oldest first out), spot and linear, funding history, instrument
rules, rate limits (retCode 10006, HTTP 403) and error codes."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.bybit import BybitClient, BybitUnavailable
from shared.errors import NotFound
from shared.market_data.funding_history import funding_rates
from shared.market_data.symbol_rules import SymbolRules
from tests.fakes.bybit import NOW_MS, FakeBybit
from tests.fakes.market_data import random_candles

MAR_2024 = 1_709_251_200_000
MINUTE, H8 = 60_000, 8 * 3_600_000


def client(fake: FakeBybit, waits: list[float] | None = None) -> BybitClient:
    sleeps = waits if waits is not None else []
    return BybitClient(fake.url, sleep=sleeps.append, clock=lambda: NOW_MS / 1000)


def test_klines_are_paged_backwards_by_end_and_come_out_oldest_first(fake_bybit):
    candles = random_candles(MAR_2024, 2500, "1m")
    fake_bybit.add_klines("spot", "BTCUSDT", "1m", candles)
    raw = client(fake_bybit).fetch_klines("BTCUSDT", "1m", MAR_2024 + 10 * MINUTE, MAR_2024 + 2410 * MINUTE)
    assert raw.ts.tolist() == candles.ts[10:2410].tolist()
    np.testing.assert_array_equal(raw.close, candles.close[10:2410])
    np.testing.assert_array_equal(raw.volume, candles.volume[10:2410])
    calls = fake_bybit.calls("/v5/market/kline")
    # [start, end] inclusive on Bybit's side: the first page ends one ms before the exclusive end.
    assert [int(c["end"]) for c in calls] == [MAR_2024 + 2410 * MINUTE - 1, candles.ts[1410] - 1, candles.ts[410] - 1]
    assert all(c["interval"] == "1" and c["limit"] == "1000" and c["category"] == "spot" for c in calls)


def test_linear_klines_ask_for_the_linear_category(fake_bybit):
    candles = random_candles(MAR_2024, 24, "1h")
    fake_bybit.add_klines("linear", "BTCUSDT", "1h", candles)
    raw = client(fake_bybit).fetch_klines("BTCUSDT", "1h", MAR_2024, MAR_2024 + 24 * 3_600_000, market="linear")
    assert raw.ts.tolist() == candles.ts.tolist()
    assert fake_bybit.calls("/v5/market/kline")[0]["interval"] == "60"


def test_an_unknown_symbol_is_not_found(fake_bybit):
    with pytest.raises(NotFound) as missing:
        client(fake_bybit).fetch_klines("NOPEUSDT", "1h", MAR_2024, MAR_2024 + 3_600_000)
    assert missing.value.errors[0].field == "symbol"
    with pytest.raises(NotFound):
        client(fake_bybit).fetch_symbol_rules("NOPEUSDT", "spot")


def test_funding_history_is_paged_by_end_time(fake_bybit):
    times = [MAR_2024 + i * H8 for i in range(450)]
    fake_bybit.add_funding("BTCUSDT", funding_rates(times, [0.0001 * (i % 5 - 2) for i in range(450)]))
    series = client(fake_bybit).fetch_funding("BTCUSDT", MAR_2024, MAR_2024 + 450 * H8)
    assert series.times.tolist() == times
    assert series.rates[:5].tolist() == [-0.0002, -0.0001, 0.0, 0.0001, 0.0002]
    assert len(fake_bybit.calls("/v5/market/funding/history")) == 3


def test_instrument_rules_spot_and_linear(fake_bybit):
    fake_bybit.add_symbol_rules("spot", "BTCUSDT", "0.01", "0.000001", "1")
    fake_bybit.add_symbol_rules("linear", "BTCUSDT", "0.10", "0.001", "5")
    assert client(fake_bybit).fetch_symbol_rules("BTCUSDT", "spot") == SymbolRules(0.01, 0.000001, 1.0)
    assert client(fake_bybit).fetch_symbol_rules("BTCUSDT", "linear") == SymbolRules(0.1, 0.001, 5.0)


def test_too_many_visits_waits_for_the_window_reset_then_retries(fake_bybit):
    fake_bybit.add_klines("spot", "BTCUSDT", "1h", random_candles(MAR_2024, 5, "1h"))
    fake_bybit.reset_in_s = 2.5
    fake_bybit.fail_next(ret_code=10006)
    fake_bybit.fail_next(http_status=403)
    waits: list[float] = []
    raw = client(fake_bybit, waits).fetch_klines("BTCUSDT", "1h", MAR_2024, MAR_2024 + 5 * 3_600_000)
    assert len(raw) == 5
    assert waits == [2.5, 2.5]


def test_the_last_request_of_a_window_waits_for_its_reset(fake_bybit):
    fake_bybit.add_klines("spot", "BTCUSDT", "1h", random_candles(MAR_2024, 5, "1h"))
    fake_bybit.limit_status = 2  # the next answer says 1 left
    waits: list[float] = []
    client(fake_bybit, waits).fetch_klines("BTCUSDT", "1h", MAR_2024, MAR_2024 + 5 * 3_600_000)
    assert waits == [1.0]


def test_server_errors_back_off_and_give_up_with_the_reason(fake_bybit):
    fake_bybit.fail_next(ret_code=10016, times=6)
    waits: list[float] = []
    with pytest.raises(BybitUnavailable, match="failed 6 times, last: retCode 10016"):
        client(fake_bybit, waits).fetch_symbol_rules("BTCUSDT", "spot")
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0]
