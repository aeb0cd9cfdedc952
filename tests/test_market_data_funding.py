"""Market data, funding rates and symbol rules: rows to a FundingRates series, the S3 funding store
(merge, conflicts, concurrent puts), the symbol-rules store, and Binance's instrument endpoints.

Expectations are written out by hand; the store is moto's S3."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.binance import BinanceClient
from adapters.funding_store import S3FundingStore, funding_key
from adapters.symbol_rules_store import S3SymbolRulesStore
from shared.errors import NotFound, UpstreamRefused, ValidationFailed
from shared.market_data.funding import FundingRates
from shared.market_data.funding_history import funding_dicts, funding_rates
from shared.market_data.symbol_rules import SymbolRules
from tests.fakes.binance import fake_binance  # noqa: F401 - fixture
from tests.fakes.market_data import CANDLES_BUCKET, s3  # noqa: F401 - fixtures

H8 = 8 * 3_600_000
MAR_2024 = 1_709_251_200_000  # 2024-03-01T00:00:00Z


def rates(*pairs: tuple[int, float]) -> FundingRates:
    return funding_rates(np.array([t for t, _ in pairs]), np.array([r for _, r in pairs]))


@pytest.fixture
def bucket(s3):
    s3.create_bucket(Bucket=CANDLES_BUCKET)
    return s3


@pytest.fixture
def funding_store(bucket):
    return S3FundingStore(bucket, CANDLES_BUCKET)


# ---------------------------------------------------------------- rows to a series
def test_rows_are_sorted_and_identical_repeats_dropped():
    series = rates((MAR_2024 + H8, 0.0002), (MAR_2024, 0.0001), (MAR_2024 + H8, 0.0002))
    assert series.times.tolist() == [MAR_2024, MAR_2024 + H8]
    assert series.rates.tolist() == [0.0001, 0.0002]


def test_two_rates_for_one_time_are_refused_naming_the_time():
    with pytest.raises(ValidationFailed) as refused:
        rates((MAR_2024, 0.0001), (MAR_2024, -0.0003))
    assert [e.field for e in refused.value.errors] == ["2024-03-01T00:00:00Z"]


def test_a_rate_that_is_not_a_number_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        rates((MAR_2024, float("nan")))
    assert refused.value.errors[0].field == "2024-03-01T00:00:00Z"


def test_api_shape_is_time_and_rate():
    assert funding_dicts(rates((MAR_2024, 0.0001))) == [{"time": "2024-03-01T00:00:00Z", "rate": 0.0001}]


# ---------------------------------------------------------------- the S3 store
def test_put_then_get_reads_back_exactly_and_bounds_are_inclusive(funding_store):
    merge = funding_store.put_funding("BTCUSDT", rates(*((MAR_2024 + i * H8, 0.0001 * i) for i in range(6))))
    assert (merge.added, merge.unchanged) == (6, 0)
    assert funding_store.has_funding("BTCUSDT") and not funding_store.has_funding("ETHUSDT")
    window = funding_store.get_funding("BTCUSDT", MAR_2024 + H8, MAR_2024 + 3 * H8)
    assert window.times.tolist() == [MAR_2024 + H8, MAR_2024 + 2 * H8, MAR_2024 + 3 * H8]
    assert window.rates.tolist() == [0.0001, 0.0002, 0.00030000000000000003]
    assert len(funding_store.get_funding("ETHUSDT").times) == 0


def test_overlapping_puts_add_only_new_times(funding_store):
    funding_store.put_funding("BTCUSDT", rates((MAR_2024, 0.0001), (MAR_2024 + H8, 0.0002)))
    merge = funding_store.put_funding("BTCUSDT", rates((MAR_2024 + H8, 0.0002), (MAR_2024 + 2 * H8, -0.0001)))
    assert (merge.added, merge.unchanged) == (1, 1)
    assert funding_store.get_funding("BTCUSDT").rates.tolist() == [0.0001, 0.0002, -0.0001]


def test_a_rate_contradicting_a_stored_one_is_refused_and_writes_nothing(funding_store, bucket):
    funding_store.put_funding("BTCUSDT", rates((MAR_2024, 0.0001)))
    etag = bucket.head_object(Bucket=CANDLES_BUCKET, Key=funding_key("BTCUSDT"))["ETag"]
    with pytest.raises(ValidationFailed) as refused:
        funding_store.put_funding("BTCUSDT", rates((MAR_2024, 0.0005), (MAR_2024 + H8, 0.0001)))
    assert refused.value.errors[0].field == "2024-03-01T00:00:00Z"
    assert bucket.head_object(Bucket=CANDLES_BUCKET, Key=funding_key("BTCUSDT"))["ETag"] == etag


def test_a_put_racing_another_keeps_both(funding_store, bucket):
    # Given another writer storing a rate between this put's read and its write
    funding_store.put_funding("BTCUSDT", rates((MAR_2024, 0.0001)))
    other = S3FundingStore(bucket, CANDLES_BUCKET)
    real_read = funding_store._read
    raced = []

    def read_then_race(symbol):
        result = real_read(symbol)
        if not raced:
            raced.append(True)
            other.put_funding(symbol, rates((MAR_2024 + 2 * H8, 0.0003)))
        return result

    funding_store._read = read_then_race
    funding_store.put_funding("BTCUSDT", rates((MAR_2024 + H8, 0.0002)))
    assert S3FundingStore(bucket, CANDLES_BUCKET).get_funding("BTCUSDT").rates.tolist() == [0.0001, 0.0002, 0.0003]


# ---------------------------------------------------------------- symbol rules
def test_symbol_rules_are_kept_per_exchange_and_market(bucket):
    store = S3SymbolRulesStore(bucket, CANDLES_BUCKET)
    store.put_rules("BTCUSDT", "binance", SymbolRules(0.01, 0.00001, 5.0))
    store.put_rules("BTCUSDT", "binance", SymbolRules(0.1, 0.001, 100.0), market="linear")
    assert store.get_rules("BTCUSDT", "binance") == SymbolRules(0.01, 0.00001, 5.0)
    assert store.get_rules("BTCUSDT", "binance", "linear") == SymbolRules(0.1, 0.001, 100.0)
    assert store.get_rules("BTCUSDT", "bybit") is None


def test_binance_spot_rules_come_from_exchange_info_filters(fake_binance):
    fake_binance.add_symbol_rules("BTCUSDT", "spot", "0.01000000", "0.00001000", "5.00000000")
    assert BinanceClient(fake_binance.url, futures_base_url=fake_binance.url).fetch_symbol_rules(
        "BTCUSDT", "spot"
    ) == SymbolRules(0.01, 0.00001, 5.0)
    assert fake_binance.calls("/api/v3/exchangeInfo")[0].params == {"symbol": "BTCUSDT"}


def test_binance_linear_rules_come_from_futures_exchange_info(fake_binance):
    fake_binance.add_symbol_rules("BTCUSDT", "linear", "0.10", "0.001", "100")
    fake_binance.add_symbol_rules("ETHUSDT", "linear", "0.01", "0.001", "20")
    assert BinanceClient(fake_binance.url, futures_base_url=fake_binance.url).fetch_symbol_rules(
        "ETHUSDT", "linear"
    ) == SymbolRules(0.01, 0.001, 20.0)


def test_a_symbol_binance_does_not_list_is_not_found(fake_binance):
    with pytest.raises(NotFound):
        BinanceClient(fake_binance.url, futures_base_url=fake_binance.url).fetch_symbol_rules("NOPEUSDT", "spot")
    with pytest.raises(NotFound):
        BinanceClient(fake_binance.url, futures_base_url=fake_binance.url).fetch_symbol_rules("NOPEUSDT", "linear")


def test_binance_refusing_the_region_says_so_without_retrying(fake_binance):
    fake_binance.fail_next(451)
    with pytest.raises(UpstreamRefused) as refused:
        BinanceClient(fake_binance.url, sleep=lambda seconds: None).fetch_symbol_rules("BTCUSDT", "spot")
    assert "451" in refused.value.message and "BinanceBaseUrl" in refused.value.message
    assert len(fake_binance.requests) == 1


# ---------------------------------------------------------------- Binance funding
def test_binance_funding_history_is_paged_by_start_time(fake_binance):
    times = [MAR_2024 + i * H8 for i in range(2500)]
    fake_binance.add_funding("BTCUSDT", times, [f"{0.0001 * (i % 7 - 3):.8f}" for i in range(2500)])
    series = BinanceClient(fake_binance.url, futures_base_url=fake_binance.url).fetch_funding(
        "BTCUSDT", MAR_2024 + H8, MAR_2024 + 2400 * H8
    )
    assert series.times.tolist() == times[1:2400]
    assert series.rates[0] == float(f"{0.0001 * (1 % 7 - 3):.8f}")
    assert [call.params["startTime"] for call in fake_binance.calls("/fapi/v1/fundingRate")] == [
        str(MAR_2024 + H8),
        str(times[1000] + 1),
        str(times[2000] + 1),
    ]


# ---------------------------------------------------------------- funding-rate files
def test_binance_funding_dumps_and_exports_read_to_the_same_rates():
    from shared.market_data.funding_files import parse_funding_file

    dump = (
        b"calc_time,funding_interval_hours,last_funding_rate\n1709251200000,8,0.00010000\n1709280000000,8,-0.00005000\n"
    )
    export = (
        "\ufeffTime,Contract,Funding Interval,Funding Rate\r\n2024-03-01 08:00:00,BTCUSDT,8h,-0.0050%\r\n"
        "2024-03-01 00:00:00,BTCUSDT,8h,0.0100%\r\n"
    ).encode()
    api_json = (
        b'[{"symbol":"BTCUSDT","fundingTime":1709251200000,"fundingRate":"0.00010000","markPrice":"61000"},'
        b'{"symbol":"BTCUSDT","fundingTime":1709280000000,"fundingRate":"-0.00005000","markPrice":"61100"}]'
    )
    bybit_json = (
        b'[{"symbol":"BTCUSDT","fundingRate":"-0.00005","fundingRateTimestamp":"1709280000000"},'
        b'{"symbol":"BTCUSDT","fundingRate":"0.0001","fundingRateTimestamp":"1709251200000"}]'
    )
    for content in (dump, export, api_json, bybit_json):
        series = parse_funding_file(content)
        assert series.times.tolist() == [MAR_2024, MAR_2024 + H8]
        assert series.rates.tolist() == [0.0001, -0.00005]


def test_a_bad_funding_row_names_its_line():
    from shared.market_data.funding_files import parse_funding_file

    with pytest.raises(ValidationFailed) as refused:
        parse_funding_file(b"time,funding_rate\n2024-03-01T00:00:00Z,0.0001\n2024-03-01T08:00:00Z,high\n")
    assert [(e.field, e.message) for e in refused.value.errors] == [("line 3", "funding rate 'high' is not a number")]
    with pytest.raises(ValidationFailed) as no_rate:
        parse_funding_file(b"time,price\n2024-03-01T00:00:00Z,1\n")
    assert no_rate.value.errors[0].field == "file"
