"""Market-data REST routes, in-process on moto: symbols and timeframes the store holds, candles
(seed and Level-2 forms, resampled, ranged, limited), and imports queued by file, presigned upload
and Binance fetch, each with its status record visible to its creator only.

The candles are seeded through the import pipeline with values chosen so every answer below is
computed by hand: HOURLY has 30 1h candles from 2024-03-01T00:00Z where hour i opens at 100 + i,
closes at 101 + i, has high 103 + i (120 at hour 2), low 98 + i and volume 10 + i; MINUTELY has
120 1m candles from the same start where minute i opens at 50 + i, closes at 50.5 + i, has high
51 + i, low 49.5 + i and volume 1 + i.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from adapters.candle_store import S3CandleStore
from shared.market_data.pipeline import CandleImporter
from tests.api.conftest import API_CODE, ROOT, bearer
from tests.fakes.market_data import RecordingPublisher

MARKET = "/api/v1/market_data"
HOURLY, MINUTELY = "HOURLYTEST", "MINUTELYTEST"
MAR_1 = datetime(2024, 3, 1, tzinfo=UTC)
MAR_1_MS = 1_709_251_200_000
HOUR_MS, MINUTE_MS = 3_600_000, 60_000
CSV_HEADER = "timestamp,open,high,low,close,volume\n"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _hourly(i: int) -> dict:
    return {
        "timestamp": _iso(MAR_1 + timedelta(hours=i)),
        "open": 100.0 + i,
        "high": 120.0 if i == 2 else 103.0 + i,
        "low": 98.0 + i,
        "close": 101.0 + i,
        "volume": 10.0 + i,
    }


def _minutely(i: int) -> dict:
    return {
        "timestamp": _iso(MAR_1 + timedelta(minutes=i)),
        "open": 50.0 + i,
        "high": 51.0 + i,
        "low": 49.5 + i,
        "close": 50.5 + i,
        "volume": 1.0 + i,
    }


def _csv(rows: list[dict]) -> bytes:
    return (
        CSV_HEADER
        + "".join(f"{r['timestamp']},{r['open']},{r['high']},{r['low']},{r['close']},{r['volume']}\n" for r in rows)
    ).encode()


@pytest.fixture(scope="module")
def market(api):
    """The API with HOURLY and MINUTELY in its candle store, and a signed-in user's token."""
    store = S3CandleStore(api.aws("s3"), api.settings.candles_bucket)
    importer = CandleImporter(store, RecordingPublisher())
    importer.import_file(HOURLY, "1h", _csv([_hourly(i) for i in range(30)]))
    importer.import_file(MINUTELY, "1m", _csv([_minutely(i) for i in range(120)]))
    token, _ = api.sign_up("Market")
    return api, token


def _get(context, path: str, **params):
    api, token = context
    return api.client.get(f"{MARKET}{path}", params=params, headers=bearer(token))


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def _fields(response, status: int) -> set[str]:
    return {detail["field"] for detail in _error(response, status)["details"]}


# ------------------------------------------------------------------ symbols and timeframes
def test_symbols_are_those_with_stored_candles_sorted(market):
    symbols = _get(market, "/symbols").json()["data"]
    assert {HOURLY, MINUTELY} <= set(symbols)
    assert symbols == sorted(symbols)


def test_timeframes_are_every_supported_one_or_what_a_symbol_can_serve(market):
    assert _get(market, "/timeframes").json() == {"data": ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]}
    # 1h candles make 1h and every coarser timeframe; 1m candles make all of them.
    assert _get(market, "/timeframes", symbol=HOURLY).json() == {"data": ["1h", "4h", "1d", "1w"]}
    assert _get(market, "/timeframes", symbol=MINUTELY.lower()).json()["data"] == [
        "1m",
        "5m",
        "15m",
        "30m",
        "1h",
        "4h",
        "1d",
        "1w",
    ]
    assert _fields(_get(market, "/timeframes", symbol="NOTSTORED"), 404) == {"symbol"}


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/symbols"),
        ("GET", "/timeframes"),
        ("GET", f"/{HOURLY}/1h"),
        ("GET", f"?symbol={HOURLY}"),
        ("GET", f"/{HOURLY}/latest_candle"),
        ("POST", "/import"),
        ("POST", "/uploads"),
        ("POST", "/fetch"),
        ("GET", "/imports"),
        ("GET", "/imports/00000000-0000-4000-8000-000000000000"),
        ("GET", f"/{HOURLY}/funding"),
        ("GET", f"/{HOURLY}/info"),
        ("GET", f"/{HOURLY}/1h/quality"),
        ("POST", f"/{HOURLY}/1h/repair"),
    ],
)
def test_every_route_needs_a_valid_token(market, method, path):
    api, _ = market
    response = api.client.request(method, f"{MARKET}{path}", headers=bearer("not-a-token"))
    assert _error(response, 401)["code"] == "unauthorized"


# ------------------------------------------------------------------ candles
def test_candles_in_a_range_oldest_first_end_excluded(market):
    response = _get(market, f"/{HOURLY}/1h", start_time="2024-03-01T02:00:00Z", end_time="2024-03-01T05:00:00Z")
    assert response.status_code == 200
    assert response.json() == {"data": [_hourly(2), _hourly(3), _hourly(4)]}


def test_start_and_end_in_other_timezones_mean_the_same_instants(market):
    response = _get(
        market, f"/{HOURLY}/1h", start_time="2024-03-01T03:00:00+01:00", end_time="2024-02-29T23:00:00-05:00"
    )
    assert response.json() == {"data": [_hourly(2), _hourly(3)]}


def test_candles_resampled_to_4h_buckets(market):
    data = _get(market, f"/{HOURLY}/4h").json()["data"]
    # Hours 0-3: first open, highest high (hour 2's spike), lowest low, last close, summed volume.
    assert data[0] == {
        "timestamp": "2024-03-01T00:00:00Z",
        "open": 100.0,
        "high": 120.0,
        "low": 98.0,
        "close": 104.0,
        "volume": 10.0 + 11 + 12 + 13,
    }
    assert data[1] == {
        "timestamp": "2024-03-01T04:00:00Z",
        "open": 104.0,
        "high": 110.0,
        "low": 102.0,
        "close": 108.0,
        "volume": 14.0 + 15 + 16 + 17,
    }
    # 30 hours make 7 full buckets and one of hours 28-29.
    assert len(data) == 8
    assert data[-1] == {
        "timestamp": "2024-03-02T04:00:00Z",
        "open": 128.0,
        "high": 132.0,
        "low": 126.0,
        "close": 130.0,
        "volume": 38.0 + 39,
    }


def test_limit_takes_the_first_candles_from_a_start_else_the_latest(market):
    from_start = _get(market, f"/{HOURLY}/1h", start_time="2024-03-01T10:00:00Z", limit=2).json()["data"]
    assert from_start == [_hourly(10), _hourly(11)]
    latest = _get(market, f"/{HOURLY}/1h", limit=3).json()["data"]
    assert latest == [_hourly(27), _hourly(28), _hourly(29)]
    before_end = _get(market, f"/{HOURLY}/1h", end_time="2024-03-01T05:00:00Z", limit=2).json()["data"]
    assert before_end == [_hourly(3), _hourly(4)]
    assert len(_get(market, f"/{HOURLY}/1h").json()["data"]) == 30  # default limit 500: all of them


def test_symbols_in_paths_are_case_insensitive(market):
    assert _get(market, f"/{HOURLY.lower()}/1h", limit=1).json() == {"data": [_hourly(29)]}


@pytest.mark.parametrize(
    "path, params, status, field",
    [
        ("/NOTSTORED/1h", {}, 404, "symbol"),
        (f"/{HOURLY}/2h", {}, 404, "timeframe"),
        (f"/{HOURLY}/1m", {}, 422, "timeframe"),  # finer than the stored 1h candles
        (f"/{HOURLY}/1h", {"start_time": "2024-03-01T05:00:00Z", "end_time": "2024-03-01T05:00:00Z"}, 422, "end_time"),
        (f"/{HOURLY}/1h", {"start_time": "2024-03-02T00:00:00Z", "end_time": "2024-03-01T00:00:00Z"}, 422, "end_time"),
        (f"/{HOURLY}/1h", {"limit": 0}, 422, "limit"),
        (f"/{HOURLY}/1h", {"limit": 5001}, 422, "limit"),
        (f"/{HOURLY}/1h", {"limit": "many"}, 422, "limit"),
        (f"/{HOURLY}/1h", {"start_time": "yesterday"}, 422, "start_time"),
        (f"/{HOURLY}/1h", {"end_time": "2024-03-01T05:00:00"}, 422, "end_time"),  # no timezone
        ("/BTC-USDT/1h", {}, 422, "symbol"),
    ],
)
def test_candle_query_errors_name_the_field(market, path, params, status, field):
    assert _fields(_get(market, path, **params), status) == {field}


def test_level2_listing_gives_market_data_points_of_the_finest_stored_timeframe(market):
    items = _get(market, "", symbol=MINUTELY, **{"from": "2024-03-01T00:58:00Z", "to": "2024-03-01T01:00:00Z"}).json()[
        "items"
    ]
    assert items == [
        {"id": f"{MINUTELY}:1m:{MAR_1_MS + 58 * MINUTE_MS}", "symbol": MINUTELY, **_minutely(58)},
        {"id": f"{MINUTELY}:1m:{MAR_1_MS + 59 * MINUTE_MS}", "symbol": MINUTELY, **_minutely(59)},
    ]


def test_level2_listing_of_a_coarser_timeframe(market):
    [item] = _get(market, "", symbol=MINUTELY.lower(), timeframe="1h", limit=1).json()["items"]
    # Minutes 60-119: open 110, high 51 + 119, low 49.5 + 60, close 50.5 + 119, volume sum of 61..120.
    assert item == {
        "id": f"{MINUTELY}:1h:{MAR_1_MS + HOUR_MS}",
        "symbol": MINUTELY,
        "timestamp": "2024-03-01T01:00:00Z",
        "open": 110.0,
        "high": 170.0,
        "low": 109.5,
        "close": 169.5,
        "volume": float(sum(range(61, 121))),
    }


@pytest.mark.parametrize(
    "params, status, fields",
    [
        ({}, 422, {"symbol"}),
        ({"symbol": HOURLY, "from": "2024-03-01T05:00:00Z", "to": "2024-03-01T04:00:00Z"}, 422, {"to"}),
        ({"symbol": HOURLY, "from": "soon"}, 422, {"from"}),
        ({"symbol": HOURLY, "timeframe": "2h"}, 422, {"timeframe"}),
        ({"symbol": "NOTSTORED"}, 404, {"symbol"}),
    ],
)
def test_level2_listing_errors_name_its_own_parameters(market, params, status, fields):
    response = _get(market, "", **params)
    assert _fields(response, status) == fields
    assert "end_time" not in response.text and "start_time" not in response.text


def test_latest_candle_of_the_finest_or_a_chosen_timeframe(market):
    assert _get(market, f"/{HOURLY}/latest_candle").json() == {
        "id": f"{HOURLY}:1h:{MAR_1_MS + 29 * HOUR_MS}",
        "symbol": HOURLY,
        **_hourly(29),
    }
    # The newest 4h bucket holds only hours 28 and 29 so far.
    assert _get(market, f"/{HOURLY}/latest_candle", timeframe="4h").json() == {
        "id": f"{HOURLY}:4h:{MAR_1_MS + 28 * HOUR_MS}",
        "symbol": HOURLY,
        "timestamp": "2024-03-02T04:00:00Z",
        "open": 128.0,
        "high": 132.0,
        "low": 126.0,
        "close": 130.0,
        "volume": 77.0,
    }
    assert _fields(_get(market, "/NOTSTORED/latest_candle"), 404) == {"symbol"}
    assert _fields(_get(market, f"/{HOURLY}/latest_candle", timeframe="1m"), 422) == {"timeframe"}


# ------------------------------------------------------------------ imports
def _post(market, path: str, body: dict, token: str | None = None):
    api, own_token = market
    return api.client.post(f"{MARKET}{path}", json=body, headers=bearer(token or own_token))


def _imports_object(market, key: str) -> bytes:
    api, _ = market
    return api.aws("s3").get_object(Bucket=api.settings.imports_bucket, Key=key)["Body"].read()


def test_importing_a_file_queues_it_in_the_imports_bucket(market):
    content = _csv([_hourly(i) for i in range(3)])
    response = _post(
        market,
        "/import",
        {
            "symbol": "newcoin",
            "timeframe": "1h",
            "file_format": "csv",
            "file_content": base64.b64encode(content).decode(),
        },
    )
    assert response.status_code == 202, response.text
    status = response.json()
    assert status["status"] == "pending" and status["symbol"] == "NEWCOIN" and status["source"] == "api"
    assert response.headers["Location"] == f"{MARKET}/imports/{status['import_id']}"
    # The import function runs it when this object's S3 event arrives (on the local stack: tested there).
    assert _imports_object(market, f"imports/candles/NEWCOIN/1h/{status['import_id']}-upload.csv") == content
    assert _get(market, f"/imports/{status['import_id']}").json() == status


def test_base64_wrapped_over_lines_is_accepted(market):
    content = _csv([_hourly(i) for i in range(5)])
    wrapped = base64.encodebytes(content).decode()  # 76 characters a line, as `base64` prints it
    assert "\n" in wrapped.strip()
    response = _post(
        market, "/import", {"symbol": "NEWCOIN", "timeframe": "1h", "file_format": "csv", "file_content": wrapped}
    )
    assert response.status_code == 202
    assert _imports_object(market, f"imports/candles/NEWCOIN/1h/{response.json()['import_id']}-upload.csv") == content


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"file_content": "not base64!"}, "file_content", "not valid base64"),
        (
            {"file_content": base64.b64encode(b"x" * (7 * 1024 * 1024 + 1)).decode()},
            "file_content",
            "files above 7340032 bytes go through POST /api/v1/market_data/uploads",
        ),
        ({"file_content": ""}, "file_content", "the file is empty"),
        ({"symbol": "BTC/USDT"}, "symbol", "String should match pattern"),
        ({"timeframe": "2h"}, "timeframe", "Input should be"),
        ({"file_format": "xlsx"}, "file_format", "Input should be"),
        ({"owner_id": "someone"}, "owner_id", "Extra inputs are not permitted"),
    ],
)
def test_import_errors_name_the_field(market, change, field, message):
    body = {
        "symbol": "NEWCOIN",
        "timeframe": "1h",
        "file_format": "csv",
        "file_content": base64.b64encode(b"timestamp,open\n").decode(),
        **change,
    }
    [detail] = _error(_post(market, "/import", body), 422)["details"]
    assert detail["field"] == field and message in detail["message"]


def test_an_upload_url_takes_the_file_with_a_plain_put(market):
    response = _post(market, "/uploads", {"symbol": "NEWCOIN", "timeframe": "1h", "filename": "../my data.csv"})
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert ticket["status"] == "pending" and ticket["method"] == "PUT" and ticket["expires_in"] == 900
    assert response.headers["Location"] == f"{MARKET}/imports/{ticket['import_id']}"
    url = urllib.parse.urlsplit(ticket["upload_url"])
    # Signature V4 (V2 presigned URLs are refused in newer regions); the name made safe.
    assert urllib.parse.parse_qs(url.query)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert url.path.endswith(f"/imports/candles/NEWCOIN/1h/{ticket['import_id']}-my_data.csv")

    content = _csv([_hourly(i) for i in range(4)])
    # (urllib's default form Content-Type would make moto parse the body as a form and store nothing.)
    upload = urllib.request.Request(
        ticket["upload_url"], data=content, method="PUT", headers={"Content-Type": "text/csv"}
    )
    urllib.request.urlopen(upload).read()
    assert _imports_object(market, f"imports/candles/NEWCOIN/1h/{ticket['import_id']}-my_data.csv") == content
    assert _get(market, f"/imports/{ticket['import_id']}").json()["source"] == "upload"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"filename": "..."}, "filename"),
        ({"filename": ""}, "filename"),
        ({"symbol": "X"}, "symbol"),
        ({"timeframe": "1y"}, "timeframe"),
    ],
)
def test_upload_errors_name_the_field(market, change, field):
    body = {"symbol": "NEWCOIN", "timeframe": "1h", "filename": "candles.csv", **change}
    assert _fields(_post(market, "/uploads", body), 422) == {field}


def test_a_fetch_is_queued_as_a_request_object(market):
    response = _post(
        market,
        "/fetch",
        {
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "start_time": "2024-01-01T00:00:00Z",
            "end_time": "2024-01-02T00:00:00+00:00",
        },
    )
    assert response.status_code == 202, response.text
    status = response.json()
    assert (status["status"], status["source"], status["symbol"]) == ("pending", "binance", "BTCUSDT")
    request = json.loads(_imports_object(market, f"imports/candle-fetches/BTCUSDT/1h/{status['import_id']}.json"))
    assert request == {"ranges": [[1_704_067_200_000, 1_704_153_600_000]], "exchange": "binance", "market": "spot"}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"end_time": "2024-01-01T00:00:00Z"}, "end_time"),  # not after the start
        ({"start_time": "2999-01-01T00:00:00Z", "end_time": "2999-02-01T00:00:00Z"}, "end_time"),  # in the future
        ({"start_time": "2024-01-01"}, "start_time"),  # no time, no timezone
        ({"timeframe": "3m"}, "timeframe"),
    ],
)
def test_fetch_errors_name_the_field(market, change, field):
    body = {
        "symbol": "BTCUSDT",
        "timeframe": "1m",
        "start_time": "2024-01-01T00:00:00Z",
        "end_time": "2024-01-02T00:00:00Z",
        **change,
    }
    assert _fields(_post(market, "/fetch", body), 422) == {field}


def test_imports_are_their_creators_alone_newest_first(market):
    api, _ = market
    ada, _ = api.sign_up("Ada")
    bob, _ = api.sign_up("Bob")
    body = {"symbol": "NEWCOIN", "timeframe": "1h", "filename": "a.csv"}
    ada_first = _post(market, "/uploads", body, ada).json()["import_id"]
    ada_second = _post(market, "/uploads", body, ada).json()["import_id"]
    bob_own = _post(market, "/uploads", body, bob).json()["import_id"]

    def listing(token: str, **params) -> list[str]:
        response = api.client.get(f"{MARKET}/imports", params=params, headers=bearer(token))
        return [status["import_id"] for status in response.json()["data"]]

    # Records are stamped to the second: two made within one second may list in either order.
    assert set(listing(ada)) == {ada_first, ada_second} and listing(bob) == [bob_own]
    created = [api.client.get(f"{MARKET}/imports/{i}", headers=bearer(ada)).json()["created_at"] for i in listing(ada)]
    assert created == sorted(created, reverse=True)
    assert len(listing(ada, limit=1)) == 1
    assert _fields(api.client.get(f"{MARKET}/imports", params={"limit": 101}, headers=bearer(ada)), 422) == {"limit"}
    # Someone else's import is answered exactly like one that does not exist.
    assert _fields(api.client.get(f"{MARKET}/imports/{ada_first}", headers=bearer(bob)), 404) == {"import_id"}
    missing = api.client.get(f"{MARKET}/imports/00000000-0000-4000-8000-000000000000", headers=bearer(bob))
    assert _fields(missing, 404) == {"import_id"}
    assert _fields(api.client.get(f"{MARKET}/imports/not-an-id", headers=bearer(bob)), 422) == {"import_id"}


# ------------------------------------------------------------------ funding rates and symbol rules
FUNDED = "FUNDEDTEST"
H8_MS = 8 * HOUR_MS


@pytest.fixture(scope="module")
def funded(market):
    """FUNDED has rates 0.0001·(i + 1) at 2024-03-01 + 8h·i for i in 0..5 (every 8 hours, 2 days)."""
    from adapters.funding_store import S3FundingStore
    from shared.market_data.funding_history import funding_rates

    api, _ = market
    times = [MAR_1_MS + i * H8_MS for i in range(6)]
    S3FundingStore(api.aws("s3"), api.settings.candles_bucket).put_funding(
        FUNDED, funding_rates(times, [0.0001 * (i + 1) for i in range(6)])
    )
    return market


def test_funding_rates_in_a_range_oldest_first_end_excluded(funded):
    response = _get(
        funded, f"/{FUNDED.lower()}/funding", start_time="2024-03-01T08:00:00Z", end_time="2024-03-02T00:00:00Z"
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": [
            {"time": "2024-03-01T08:00:00Z", "rate": 0.0002},
            {"time": "2024-03-01T16:00:00Z", "rate": 0.00030000000000000003},
        ]
    }
    assert len(_get(funded, f"/{FUNDED}/funding").json()["data"]) == 6


def test_funding_of_a_symbol_with_none_stored_is_404_and_a_bad_range_422(funded):
    assert _fields(_get(funded, f"/{HOURLY}/funding"), 404) == {"symbol"}
    assert _fields(
        _get(funded, f"/{FUNDED}/funding", start_time="2024-03-02T00:00:00Z", end_time="2024-03-01T00:00:00Z"), 422
    ) == {"end_time"}


@pytest.fixture
def binance_listing(market, monkeypatch):
    """The API's Binance client pointed at a fake listing BTCUSDT (spot and linear)."""
    from adapters.binance import BinanceClient
    from tests.fakes.binance import FakeBinance

    api, _ = market
    with FakeBinance() as fake:
        fake.add_symbol_rules("INFOUSDT", "spot", "0.01000000", "0.00001000", "5.00000000")
        fake.add_symbol_rules("INFOUSDT", "linear", "0.10", "0.001", "100")
        monkeypatch.setitem(
            api.services.market_data().exchanges,
            "binance",
            BinanceClient(fake.url, futures_base_url=fake.url, sleep=lambda seconds: None),
        )
        yield fake


def test_symbol_info_is_fetched_once_from_the_exchange_then_served_from_the_store(market, binance_listing):
    expected = {
        "symbol": "INFOUSDT",
        "exchange": "binance",
        "market": "spot",
        "tick_size": 0.01,
        "lot_size": 0.00001,
        "min_notional": 5.0,
    }
    assert _get(market, "/infousdt/info").json() == expected
    assert _get(market, "/INFOUSDT/info", exchange="binance").json() == expected
    assert len(binance_listing.calls("/api/v3/exchangeInfo")) == 1
    linear = _get(market, "/INFOUSDT/info", market="linear").json()
    assert (linear["tick_size"], linear["lot_size"], linear["min_notional"]) == (0.1, 0.001, 100.0)


def test_symbol_info_errors(market, binance_listing):
    assert _fields(_get(market, "/NOPEUSDT/info"), 404) == {"symbol"}
    assert _fields(_get(market, "/INFOUSDT/info", exchange="kraken"), 422) == {"exchange"}
    binance_listing.fail_next(451)
    refused = _error(_get(market, "/OTHERUSDT/info"), 502)
    assert refused["code"] == "upstream_refused" and "451" in refused["message"]


# ------------------------------------------------------------------ quality and repair
def test_quality_of_a_complete_stretch(market):
    report = _get(
        market, f"/{HOURLY}/1h/quality", start_time="2024-03-01T00:00:00Z", end_time="2024-03-01T06:00:00Z"
    ).json()
    assert (report["candles"], report["first_timestamp"], report["last_timestamp"]) == (
        6,
        "2024-03-01T00:00:00Z",
        "2024-03-01T05:00:00Z",
    )
    assert report["gaps"] == {"missing_candles": 0, "gap_count": 0, "gaps": []}
    assert report["stale_end"] == {"stale": False, "candles_behind": 0, "until": "2024-03-01T06:00:00Z"}
    assert (report["zero_volume_runs"]["count"], report["spikes"]["count"], report["flat_stretches"]["count"]) == (
        0,
        0,
        0,
    )


def test_quality_reports_the_missing_start_and_the_stale_end(market):
    # HOURLY holds hours 0-29 of March 1-2; asked from Feb 29 22:00 to March 2 08:00.
    report = _get(
        market, f"/{HOURLY}/1h/quality", start_time="2024-02-29T22:00:00Z", end_time="2024-03-02T08:00:00Z"
    ).json()
    assert report["gaps"]["gaps"] == [
        {"start": "2024-02-29T22:00:00Z", "end": "2024-03-01T00:00:00Z", "missing_candles": 2}
    ]
    assert report["stale_end"] == {"stale": True, "candles_behind": 2, "until": "2024-03-02T08:00:00Z"}


def test_quality_needs_the_series_stored_at_that_timeframe(market):
    assert _fields(_get(market, f"/{HOURLY}/4h/quality"), 404) == {"timeframe"}
    assert _fields(_get(market, f"/{HOURLY}/1h/quality", k=0), 422) == {"k"}


def test_a_repair_queues_a_fetch_of_exactly_the_missing_ranges(market):
    response = _post(
        market,
        f"/{HOURLY}/1h/repair",
        {"start_time": "2024-03-01T00:00:00Z", "end_time": "2024-03-02T08:00:00Z", "exchange": "bybit"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["missing_candles"] == 2
    assert body["ranges"] == [{"start": "2024-03-02T06:00:00Z", "end": "2024-03-02T08:00:00Z", "missing_candles": 2}]
    assert (body["import"]["status"], body["import"]["source"]) == ("pending", "bybit")
    assert response.headers["Location"] == f"{MARKET}/imports/{body['import']['import_id']}"
    request = json.loads(
        _imports_object(market, f"imports/candle-fetches/{HOURLY}/1h/{body['import']['import_id']}.json")
    )
    assert request == {
        "ranges": [[MAR_1_MS + 30 * HOUR_MS, MAR_1_MS + 32 * HOUR_MS]],
        "exchange": "bybit",
        "market": "spot",
    }


def test_a_repair_of_a_complete_range_queues_nothing(market):
    response = _post(
        market, f"/{HOURLY}/1h/repair", {"start_time": "2024-03-01T00:00:00Z", "end_time": "2024-03-01T10:00:00Z"}
    )
    assert response.status_code == 200
    assert response.json() == {"missing_candles": 0, "ranges": [], "import": None}


def test_repair_errors_name_the_field(market):
    body = {"start_time": "2024-03-01T00:00:00Z", "end_time": "2024-03-02T00:00:00Z"}
    assert _fields(_post(market, f"/{HOURLY}/4h/repair", body), 404) == {"timeframe"}
    assert _fields(_post(market, f"/{HOURLY}/1h/repair", {**body, "exchange": "kraken"}), 422) == {"exchange"}
    assert _fields(_post(market, f"/{HOURLY}/1h/repair", {**body, "end_time": "2024-02-01T00:00:00Z"}), 422) == {
        "end_time"
    }


# ------------------------------------------------------------------ documentation and cold start
def test_openapi_documents_every_market_data_route_with_examples(market):
    api, _ = market
    document = api.client.get("/api/openapi.json").json()
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        if path.startswith(MARKET)
        for method, operation in item.items()
    }
    assert set(operations) == {
        ("GET", MARKET),
        ("GET", f"{MARKET}/symbols"),
        ("GET", f"{MARKET}/timeframes"),
        ("GET", f"{MARKET}/{{symbol}}/{{timeframe}}"),
        ("GET", f"{MARKET}/{{symbol}}/latest_candle"),
        ("POST", f"{MARKET}/import"),
        ("POST", f"{MARKET}/uploads"),
        ("POST", f"{MARKET}/fetch"),
        ("GET", f"{MARKET}/imports"),
        ("GET", f"{MARKET}/imports/{{import_id}}"),
        ("GET", f"{MARKET}/{{symbol}}/funding"),
        ("GET", f"{MARKET}/{{symbol}}/info"),
        ("GET", f"{MARKET}/{{symbol}}/{{timeframe}}/quality"),
        ("POST", f"{MARKET}/{{symbol}}/{{timeframe}}/repair"),
    }
    limit = api.services.rate_limiter.limits["market_data"]  # the configured one (300 unless set otherwise)
    assert all(
        operation["x-rate-limit"]["limit"] == limit and operation["security"] == [{"bearer": []}]
        for operation in operations.values()
    )
    candles = operations[("GET", f"{MARKET}/{{symbol}}/{{timeframe}}")]
    [symbol] = [parameter for parameter in candles["parameters"] if parameter["name"] == "symbol"]
    assert symbol["schema"]["pattern"] == "^[A-Z0-9]{2,20}$"
    schemas = document["components"]["schemas"]
    for name in (
        "CandleFileImport",
        "UploadRequest",
        "FetchRequest",
        "ImportOut",
        "MarketDataPoint",
        "Candle",
        "SymbolInfo",
    ):
        assert schemas[name]["examples"], name


def test_the_api_cold_start_loads_neither_numpy_nor_pyarrow_nor_talib(api):
    """The market-data routes load them on first use (the handler's import time stays as it was)."""
    environment = {
        **os.environ,
        **{field.upper(): str(value) for field, value in vars(api.settings).items()},
        "PYTHONPATH": os.pathsep.join([str(API_CODE), str(ROOT)]),
    }
    program = "import sys, app; print(sorted({'numpy', 'pyarrow', 'talib'} & set(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", program], env=environment, capture_output=True, text=True, check=True, cwd=API_CODE
    ).stdout
    assert loaded.strip() == "[]"
