"""The local stack (local.stack.LocalStack, seeded with test candles) driven the way a user
drives it: REST requests with a bearer token; and the AWS behind it for a test's checks."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import numpy as np

from adapters.candle_store import S3CandleStore
from adapters.models.backtests import BacktestItem
from adapters.repositories.backtests import DynamoBacktestRepository
from adapters.repositories.binding import bind
from adapters.repositories.trades import S3TradeStore
from local.functions import PROCESS_FUNCTIONS
from local.stack import LocalStack
from shared.candles import Candles
from shared.market_data.query import get_candles
from shared.market_data.store import month_index, month_name

PASSWORD = "correct horse battery"
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOUR_MS = 3_600_000
TERMINAL = ("completed", "failed", "cancelled")


def random_walk(seed: int, count: int, step_ms: int, start_ms: int = START_MS) -> Candles:
    """Candles of a random walk (a few percent a day) with wicks: stops and signals both happen."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, count)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.exponential(0.002, count))
    low = np.minimum(open_, close) * (1 - rng.exponential(0.002, count))
    return Candles.from_arrays(
        start_ms + step_ms * np.arange(count), open_, high, low, close, rng.uniform(1.0, 10.0, count)
    )


@dataclass
class StackUser:
    token: str
    id: str
    email: str


class Stack:
    """A started LocalStack plus helpers. `functions` and `aws` are the stack's own."""

    def __init__(self, stack: LocalStack) -> None:
        self.local = stack
        self.template = stack.template

    # ------------------------------------------------------------ AWS behind the stack
    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.local.aws.url, region_name="us-east-1")

    def bucket(self, logical_id: str) -> str:
        return self.template.physical_name(logical_id)

    def candle_store(self) -> S3CandleStore:
        return S3CandleStore(self.client("s3"), self.bucket("CandlesBucket"))

    def backtests(self) -> DynamoBacktestRepository:
        table = self.template.physical_name("BacktestsTable")
        return DynamoBacktestRepository(bind(BacktestItem, table, self.local.aws.url))

    def trade_store(self) -> S3TradeStore:
        return S3TradeStore(self.client("s3"), self.bucket("ResultsBucket"))

    def import_candles(self, symbol: str, timeframe: str, candles: Candles) -> None:
        store = self.candle_store()
        months = month_index(candles.ts)
        by_month = {}
        for month in np.unique(months):
            rows = np.flatnonzero(months == month)
            by_month[month_name(month)] = candles.slice(int(rows[0]), int(rows[-1]) + 1)
        store.commit(symbol, timeframe, store.manifest(symbol, timeframe), by_month)

    def candles(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> Candles:
        return get_candles(self.candle_store(), symbol, timeframe, start_ms, end_ms)

    def keys(self, logical_bucket: str, prefix: str) -> list[str]:
        listed = self.client("s3").list_objects_v2(Bucket=self.bucket(logical_bucket), Prefix=prefix)
        return [item["Key"] for item in listed.get("Contents", [])]

    def execution(self, backtest_id: str) -> dict:
        machine = self.template.arn("BacktestStateMachine")
        arn = f"{machine.replace(':stateMachine:', ':execution:')}:{backtest_id}"
        return self.client("stepfunctions").describe_execution(executionArn=arn)

    def wait_for_execution(self, backtest_id: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            described = self.execution(backtest_id)
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                return described
            time.sleep(0.1)

    # ------------------------------------------------------------ REST as a user
    def request(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.local.api_url}/api/v1{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None

    def sign_up(self, name: str = "Ada") -> StackUser:
        email = f"{name.lower()}-{uuid.uuid4().hex[:10]}@example.com"
        status, user = self.request("POST", "/users", body={"email": email, "password": PASSWORD, "name": name})
        assert status == 201, user
        status, session = self.request("POST", "/sessions", body={"email": email, "password": PASSWORD})
        assert status == 200, session
        return StackUser(session["token"], user["id"], email)

    def create_strategy(self, user: StackUser, definition: dict) -> dict:
        body = {"name": "under test", **definition}
        status, strategy = self.request("POST", "/strategies", user.token, body)
        assert status == 201, strategy
        return strategy

    def create_backtest(self, user: StackUser, strategy_id: str, **body: Any) -> dict:
        status, backtest = self.request("POST", "/backtests", user.token, {"strategy_id": strategy_id, **body})
        assert status == 202, backtest
        return backtest

    def wait_for_backtest(self, user: StackUser, backtest_id: str, timeout: float = 60.0) -> dict:
        """The backtest once it reached a terminal status (or as it is when `timeout` ran out)."""
        deadline = time.monotonic() + timeout
        while True:
            status, backtest = self.request("GET", f"/backtests/{backtest_id}", user.token)
            assert status == 200, backtest
            if backtest["status"] in TERMINAL or time.monotonic() > deadline:
                return backtest
            time.sleep(0.1)


def start_stack(in_process: frozenset[str] = frozenset()) -> tuple[LocalStack, Stack]:
    """A stack on free ports; the functions named in `in_process` run as threads of this process
    (a test patches their module), whatever the stack's default."""
    local = LocalStack(
        api_port=0, ws_port=0, seed_sample_data=False, process_functions=PROCESS_FUNCTIONS - in_process
    ).start()
    return local, Stack(local)
