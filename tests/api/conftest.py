"""Fixtures of the REST API tests: the API in-process (FastAPI's TestClient) on its own moto server,
whose tables, buckets and state machine are provisioned from template.yaml, and helpers that
sign users up and create their resources through the API itself."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
API_CODE = ROOT / "functions" / "api"
if str(API_CODE) not in sys.path:
    sys.path.insert(0, str(API_CODE))

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette asks for httpx2 instead of httpx in its TestClient
    from fastapi.testclient import TestClient

from api.application import create_app  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from api.wiring import ApiServices, build_services  # noqa: E402
from local.resources import provision  # noqa: E402
from local.template import Template  # noqa: E402
from shared.accounts.auth import PasswordHasher  # noqa: E402
from shared.backtests.model import Backtest  # noqa: E402
from tests.fanout.strategies import sma_cross  # noqa: E402

# A cheap scrypt cost keeps sign-ups fast; test_api_auth checks the production parameters apart.
FAST_HASHER = PasswordHasher(n=2**8, r=8, p=1)
UNLIMITED = {"auth": 10**9, "general": 10**9, "market_data": 10**9, "backtest_creation": 10**9}
PASSWORD = "correct horse battery"

STRATEGY = {
    "name": "SMA 10/50 cross",
    "description": "trend following",
    "strategy_type": "trend",
    **sma_cross(stop_loss=2, take_profit=4),
}


class FakeCatalog:
    """The market-data store as the backtest service sees it: symbol -> servable timeframes (no
    candles needed); funding rates and symbol rules from the real stores (`stored`)."""

    def __init__(self, stored: Any) -> None:
        self.series = {
            "BTCUSDT": ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"],
            "ETHUSDT": ["1h", "4h", "1d", "1w"],
        }
        self.stored = stored

    def timeframes(self, symbol: str) -> list[str]:
        return self.series.get(symbol, [])

    def funding(self, symbol: str, start_ms: int, end_ms: int) -> Any:
        return self.stored.funding(symbol, start_ms, end_ms)

    def symbol_rules(self, symbol: str, exchange: str, market: str) -> Any:
        return self.stored.symbol_rules(symbol, exchange, market)


@dataclass
class Api:
    """The API under test plus what a test needs to look behind it."""

    client: TestClient
    services: ApiServices
    settings: ApiSettings
    endpoint_url: str

    def aws(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name="us-east-1")

    def sign_up(self, name: str = "Ada") -> tuple[str, dict]:
        """A new user signed in: (token, user)."""
        email = f"{name.lower()}-{uuid.uuid4().hex[:10]}@example.com"
        created = self.client.post("/api/v1/users", json={"email": email, "password": PASSWORD, "name": name})
        assert created.status_code == 201, created.text
        session = self.client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD})
        assert session.status_code == 200, session.text
        return session.json()["token"], created.json()

    def create_strategy(self, token: str, **overrides: Any) -> dict:
        response = self.client.post("/api/v1/strategies", json={**STRATEGY, **overrides}, headers=bearer(token))
        assert response.status_code == 201, response.text
        return response.json()

    def create_backtest(self, token: str, strategy_id: str, **overrides: Any) -> dict:
        response = self.client.post(
            "/api/v1/backtests", json=backtest_body(strategy_id, **overrides), headers=bearer(token)
        )
        assert response.status_code == 202, response.text
        return response.json()

    def complete(
        self,
        backtest_id: str,
        trades: Any,
        final_balance: float = 10500.0,
        summary: dict | None = None,
        equity: Any = None,
    ) -> Backtest:
        """Play the state machine's part: running, then the results (and `equity`, an
        EquitySeries, when given) persisted."""
        from shared.backtests.service import record_results
        from shared.times import utc_now

        repository = self.services.backtests.repository
        repository.mark_running(backtest_id, utc_now())
        if equity is not None:
            self.services.results.equity.save(backtest_id, equity)
        return record_results(
            repository,
            self.services.backtests.trades,
            backtest_id,
            final_balance=final_balance,
            performance_summary=summary or {"total_trades": len(trades), "winning_trades": 0, "losing_trades": 0},
            trade_columns=trades,
            now=utc_now(),
        )


def backtest_body(strategy_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid backtest body (January 2024 of the BTCUSDT 1h candles), `overrides` on top."""
    return {
        "strategy_id": strategy_id,
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "start_time": "2024-01-01T00:00:00Z",
        "end_time": "2024-02-01T00:00:00Z",
        "initial_balance": 10000,
        **overrides,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def engine_trades(sides: list[int], pnls: list[float], open_last: bool = False) -> Any:
    """Columnar trades as the engine returns them (shared.engine.Trades): trade i enters at bar 2i
    (hourly bars from 2024-01-01) and exits at bar 2i+1 at a price giving `pnls[i]`."""
    from shared.candles import Candles
    from shared.engine import Trades

    n = len(sides)
    entry_bar = np.arange(n, dtype=np.int64) * 2
    exit_bar = entry_bar + 1
    if open_last:
        exit_bar[-1] = -1
    hour, start = 3_600_000, 1_704_067_200_000
    return Trades(
        entry_bar=entry_bar,
        exit_bar=exit_bar,
        entry_time=start + entry_bar * hour,
        exit_time=np.where(exit_bar < 0, -1, start + exit_bar * hour),
        side=np.asarray(sides, dtype=np.int8),
        entry_price=np.full(n, 100.0),
        exit_price=100.0 + np.asarray(pnls, dtype=np.float64),
        quantity=np.ones(n),
        pnl=np.asarray(pnls, dtype=np.float64),
        pnl_percentage=np.asarray(pnls, dtype=np.float64),
        fees=np.full(n, 0.2),
        exit_reason=np.where(exit_bar < 0, 5, 0).astype(np.int8),
    ).with_excursions(
        Candles.from_arrays(
            start + np.arange(2 * n) * hour,
            np.full(2 * n, 100.0),
            np.full(2 * n, 104.0),
            np.full(2 * n, 97.0),
            np.full(2 * n, 100.0),
            np.ones(2 * n),
        )
    )


@pytest.fixture(scope="session")
def api_aws():
    """This test area's own moto server (tests/api/atomic_moto.py) with the template's resources;
    yields (url, settings)."""
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("atomic_moto.py"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        template = Template.load()
        provision(template, url)
        yield url, ApiSettings.from_env(template.function_environment("ApiFunction"))
    finally:
        server.terminate()
        server.wait(timeout=10)


def make_api(api_aws: tuple[str, ApiSettings], limits: dict[str, int] = UNLIMITED, clock: Any = None) -> Api:
    url, settings = api_aws
    services = build_services(settings, endpoint_url=url)
    services.accounts.hasher = FAST_HASHER
    services.rate_limiter.limits = limits
    if clock is not None:
        services.rate_limiter.clock = clock
    services.backtests.catalog = FakeCatalog(services.backtests.catalog)
    return Api(
        TestClient(create_app(services, settings.cors_allowed_origin), raise_server_exceptions=False),
        services,
        settings,
        url,
    )


@pytest.fixture(scope="session")
def api(api_aws) -> Api:
    """The API with rate limits out of the way; tests isolate themselves by signing up new users."""
    return make_api(api_aws)
