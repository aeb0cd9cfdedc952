"""The REST API on the local stack (template.yaml's gateway, function, tables, state machine, candle
store with its sample data): an end-to-end flow over HTTP (schemathesis runs in test_api_fuzz.py)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from local.stack import LocalStack
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
        with (LocalStack(api_port=0, ws_port=0) as running, FakeBinance() as binance, FakeBybit() as bybit,
              pytest.MonkeyPatch.context() as patch):
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
    body = {"strategy_id": strategy.json()["id"], "symbol": "BTCUSDT", "timeframe": "4h",
            "start_time": "2024-01-01T00:00:00Z", "end_time": "2024-03-01T00:00:00Z", "initial_balance": 10000}
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
