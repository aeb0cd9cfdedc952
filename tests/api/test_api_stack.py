"""The REST API on the local stack (template.yaml's gateway, function, tables, state machine, candle
store with its sample data): an end-to-end flow over HTTP (schemathesis runs in test_api_fuzz.py)."""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from local.stack import LocalStack
from shared.times import iso_utc_ms
from tests.api.conftest import PASSWORD, STRATEGY, bearer
from tests.conftest import reset_moto
from tests.fakes.binance import FakeBinance
from tests.fakes.bybit import FakeBybit

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(moto_server):
    reset_moto(moto_server)
    try:
        # The functions read the exchanges' URLs when they first call them: no request leaves the machine.
        with (
            LocalStack(api_port=0, ws_port=0) as running,
            FakeBinance() as binance,
            FakeBybit() as bybit,
            pytest.MonkeyPatch.context() as patch,
        ):
            patch.setenv("BINANCE_BASE_URL", binance.url)
            patch.setenv("BINANCE_FUTURES_BASE_URL", binance.url)
            patch.setenv("BYBIT_BASE_URL", bybit.url)
            yield running
    finally:
        reset_moto(moto_server)


@pytest.fixture(scope="module")
def http(stack):
    with httpx.Client(base_url=stack.api_url, timeout=30) as client:
        yield client


def _sign_up(http: httpx.Client) -> str:
    email = f"stack-{uuid.uuid4().hex[:10]}@example.com"
    assert http.post("/api/v1/users", json={"email": email, "password": PASSWORD, "name": "Stack"}).status_code == 201
    return http.post("/api/v1/sessions", json={"email": email, "password": PASSWORD}).json()["token"]


def test_end_to_end_over_http(http):
    token = _sign_up(http)
    strategy = http.post("/api/v1/strategies", json=STRATEGY, headers=bearer(token))
    assert strategy.status_code == 201
    assert all(name in strategy.headers for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"))

    # BTCUSDT 1h is in the sample data the local stack imports; the real candle-store catalog checks it.
    body = {
        "strategy_id": strategy.json()["id"],
        "symbol": "BTCUSDT",
        "timeframe": "4h",
        "start_time": "2024-01-01T00:00:00Z",
        "end_time": "2024-03-01T00:00:00Z",
        "initial_balance": 10000,
    }
    created = http.post("/api/v1/backtests", json=body, headers=bearer(token))
    assert created.status_code == 202 and created.json()["status"] == "pending"
    unknown = http.post("/api/v1/backtests", json={**body, "symbol": "NOPEUSDT"}, headers=bearer(token))
    assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["field"] == "symbol"

    backtest_id = created.json()["id"]
    assert http.get(f"/api/v1/backtests/{backtest_id}", headers=bearer(token)).json()["id"] == backtest_id
    assert [b["id"] for b in http.get("/api/v1/backtests", headers=bearer(token)).json()["data"]] == [backtest_id]
    cancelled = http.post(f"/api/v1/backtests/{backtest_id}/cancel", headers=bearer(token))
    assert cancelled.status_code in (200, 422)  # 422 if the stack's state machine already failed it
    assert http.delete(f"/api/v1/backtests/{backtest_id}", headers=bearer(token)).status_code == 204
    assert http.get("/api/v1/no-such-route", headers=bearer(token)).json()["error"]["code"] == "not_found"
    assert http.delete("/api/v1/sessions", headers=bearer(token)).status_code == 204
    assert http.get("/api/v1/backtests", headers=bearer(token)).status_code == 401


def _completed(http: httpx.Client, token: str, backtest_id: str) -> dict:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        backtest = http.get(f"/api/v1/backtests/{backtest_id}", headers=bearer(token)).json()
        if backtest["status"] not in ("pending", "running"):
            assert backtest["status"] == "completed", backtest
            return backtest
        time.sleep(0.5)
    raise AssertionError(f"backtest {backtest_id} did not finish")


def test_a_csv_over_lambdas_6_mb_downloads_through_a_presigned_url(stack, http):
    """A real backtest with a trade on (nearly) every 1m bar of the sample data: its CSV is far over
    what Lambda may answer (the local gateway enforces that limit, as API Gateway shows it: a 502),
    so the API answers 303 to the file in the results bucket, whose CORS rules let a browser read it."""
    token = _sign_up(http)
    # SMA(1) is the close: always above 0, so the strategy re-enters at each next open; the 0.01 %
    # stop and target close nearly every position within its bar.
    always = {"indicator": "sma", "params": {"period": 1}, "comparator": ">", "value": 0}
    strategy = http.post(
        "/api/v1/strategies",
        headers=bearer(token),
        json={
            "name": "every bar",
            "entry_rules": {"conditions": [always]},
            "exit_rules": {"conditions": []},
            "config": {"stop_loss": 0.01, "take_profit": 0.01},
        },
    )
    assert strategy.status_code == 201, strategy.text
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    body = {
        "strategy_id": strategy.json()["id"],
        "symbol": "BTCUSDT",
        "timeframe": "1m",
        "initial_balance": 10000,
        "start_time": iso_utc_ms(now - timedelta(days=29)),
        "end_time": iso_utc_ms(now - timedelta(hours=1)),
    }
    created = http.post("/api/v1/backtests", json=body, headers=bearer(token))
    assert created.status_code == 202, created.text
    backtest_id = created.json()["id"]
    _completed(http, token, backtest_id)
    listed = http.get(f"/api/v1/backtests/{backtest_id}/trades", params={"per_page": 1}, headers=bearer(token)).json()

    redirect = http.get(
        f"/api/v1/backtests/{backtest_id}/trades",
        params={"format": "csv"},
        headers=bearer(token) | {"Origin": "http://dashboard.test"},
    )
    assert redirect.status_code == 303, redirect.text
    assert redirect.headers["access-control-allow-origin"] == "*"
    location = redirect.headers["location"]
    assert location.startswith(f"{stack.aws.url}/")  # the local S3 endpoint, as AWS's S3 on a deployment
    # What a browser's fetch does after a cross-origin redirect: Origin null, no Authorization.
    preflight = httpx.options(location, headers={"Origin": "null", "Access-Control-Request-Method": "GET"})
    # S3 answers "*" to an AllowedOrigins "*" rule, moto echoes the origin: a browser accepts either.
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] in ("*", "null")
    download = httpx.get(location, headers={"Origin": "null"}, timeout=60)
    assert download.status_code == 200
    assert download.headers["access-control-allow-origin"] in ("*", "null")
    assert download.headers["content-disposition"] == f'attachment; filename="backtest-{backtest_id}-trades.csv"'
    assert len(download.content) > 6 * 1024 * 1024
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == listed["meta"]["total_count"]
    assert list(rows[0]) == list(listed["data"][0])  # the JSON fields, in their order
    assert rows[0]["id"] == listed["data"][0]["id"] and float(rows[0]["pnl"]) == listed["data"][0]["pnl"]

    # The same answer inline would be over Lambda's limit: an inline-only API fails here as on AWS.
    from local.rest_gateway import MAX_RESPONSE_PAYLOAD_BYTES

    assert len(download.content) > MAX_RESPONSE_PAYLOAD_BYTES
