"""Faults at the exchanges: Binance and Bybit answering 5xx and 429 in the middle of an import.

The import retries (backing off on server errors, waiting the Retry-After a 429 carries) and
stores exactly what a clean import of the same data stores: the same candles or transactions,
none twice. The clean import runs beside the faulted one in each test, on a twin symbol with the
same data. AWS's own faults are tests/test_faults.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from adapters.binance import BinanceClient
from adapters.bybit import BybitClient
from shared.market_data.query import get_candles
from shared.pagination import PageRequest
from tests.fakes.market_data import assert_same_candles, random_candles
from tests.test_market_data_imports import MAR_2024, deliver, market_data, publisher, tables  # noqa: F401 - fixtures
from tests.test_transactions_exchange import (  # noqa: F401 - fixtures
    ADA,
    DAY,
    MAR_1,
    MY_TRADES_PATH,
    account,
    import_from_exchange,
    stack,
    transaction_models,
)

START, END = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC)  # 1464 hours: two pages
HOURS = 61 * 24


@pytest.fixture
def sleeps(market_data, fake_binance, fake_bybit) -> list[float]:
    """Every wait the exchange clients asked for (instant, recorded)."""
    waited: list[float] = []
    market_data.exchanges["binance"] = BinanceClient(fake_binance.url, sleep=waited.append)
    market_data.exchanges["bybit"] = BybitClient(fake_bybit.url, sleep=waited.append)
    return waited


def fetch(market_data, s3, symbol: str, exchange: str):
    status = market_data.start_fetch("user-1", symbol, "1h", START, END, exchange=exchange)
    deliver(s3, market_data, status.object_key)
    return market_data.get_import(status.import_id, "user-1")


def stored(candle_store, symbol: str):
    candles = get_candles(candle_store, symbol, "1h", int(START.timestamp() * 1000), int(END.timestamp() * 1000))
    assert len(np.unique(candles.ts)) == len(candles)  # no candle twice
    return candles


def test_a_binance_import_survives_server_errors_and_a_429_mid_import(
    market_data, s3, candle_store, fake_binance, sleeps
):
    candles = random_candles(MAR_2024, 1500, "1h")
    fake_binance.add_klines("CLEANUSDT", "1h", candles)
    fake_binance.add_klines("FAULTUSDT", "1h", candles)
    clean = fetch(market_data, s3, "CLEANUSDT", "binance")
    klines_before = len(fake_binance.calls("/api/v3/klines"))
    # Given Binance fails the second page twice with a 503, then rate-limits it with Retry-After: 3
    fake_binance.fail_next(503, times=2, after=1)
    fake_binance.fail_next(429, retry_after=3)
    faulted = fetch(market_data, s3, "FAULTUSDT", "binance")
    # Then the client backed off 0.5 s and 1 s, waited the 3 s it was told, and asked again
    assert sleeps == [0.5, 1.0, 3.0]
    pages = [int(c.params["startTime"]) for c in fake_binance.calls("/api/v3/klines")[klines_before:]]
    second = int(START.timestamp() * 1000) + 1000 * 3_600_000
    assert pages == [int(START.timestamp() * 1000), second, second, second, second]
    # And it stored what the clean import stored, each candle once
    assert (faulted.status, faulted.rows_imported) == (clean.status, clean.rows_imported) == ("completed", HOURS)
    assert_same_candles(stored(candle_store, "FAULTUSDT"), stored(candle_store, "CLEANUSDT"))
    assert_same_candles(stored(candle_store, "FAULTUSDT"), candles.slice(0, HOURS))


def test_a_bybit_import_survives_server_errors_and_a_429_mid_import(market_data, s3, candle_store, fake_bybit, sleeps):
    candles = random_candles(MAR_2024, 1500, "1h")
    fake_bybit.add_klines("spot", "CLEANUSDT", "1h", candles)
    fake_bybit.add_klines("spot", "FAULTUSDT", "1h", candles)
    clean = fetch(market_data, s3, "CLEANUSDT", "bybit")
    before = len(fake_bybit.calls("/v5/market/kline"))
    # Given Bybit's second page fails with HTTP 502, then retCode 10016, then a 429 asking for 2 s
    fake_bybit.fail_next(http_status=502, after=1)
    fake_bybit.fail_next(ret_code=10016)
    fake_bybit.fail_next(http_status=429, retry_after=2)
    faulted = fetch(market_data, s3, "FAULTUSDT", "bybit")
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(fake_bybit.calls("/v5/market/kline")) - before == 2 + 3
    assert (faulted.status, faulted.rows_imported) == (clean.status, clean.rows_imported) == ("completed", HOURS)
    assert_same_candles(stored(candle_store, "FAULTUSDT"), stored(candle_store, "CLEANUSDT"))
    assert_same_candles(stored(candle_store, "FAULTUSDT"), candles.slice(0, HOURS))


def test_an_account_import_survives_server_errors_and_a_429_mid_import(stack, account, fake_binance):
    # Given two symbols with the same 25 trades (pages of 10), the faulted one failing its second
    # page with a 500, a 502 and then a 429 with Retry-After: 1
    account.add_trades("CLEANUSDT", 25, first_id=1, start_ms=MAR_1, step_ms=DAY // 4)
    account.add_trades("FAULTUSDT", 25, first_id=1, start_ms=MAR_1, step_ms=DAY // 4)
    clean = import_from_exchange(stack, ["CLEANUSDT"])
    fake_binance.fail_next(500, after=1)
    fake_binance.fail_next(502)
    fake_binance.fail_next(429, retry_after=1)
    faulted = import_from_exchange(stack, ["FAULTUSDT"])
    # Then every trade arrived once, exactly as in the clean import
    assert (
        (faulted.status, faulted.received, faulted.imported, faulted.duplicates)
        == (clean.status, clean.received, clean.imported, clean.duplicates)
        == ("completed", 25, 25, 0)
    )
    calls = [(c.params["symbol"], c.params.get("fromId")) for c in fake_binance.calls(MY_TRADES_PATH)]
    assert calls[-6:] == [("FAULTUSDT", "0"), *[("FAULTUSDT", "11")] * 4, ("FAULTUSDT", "21")]

    def rows(symbol: str) -> list[tuple]:
        listed = stack.listing(ADA, PageRequest(limit=100), symbol=symbol)
        assert listed.total_count == 25
        return [(t.transaction_id, t.side, t.price, t.quantity, t.fee, t.time_ms) for t in listed.items]

    assert rows("FAULTUSDT") == rows("CLEANUSDT")
    assert len({row[0] for row in rows("FAULTUSDT")}) == 25
