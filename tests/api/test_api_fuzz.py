"""schemathesis against the local stack, every phase (examples, coverage, fuzzing, stateful through
the document's links) and every check: no 5xx, no response outside its schema, no undeclared
method without 405 + Allow, no schema-invalid request accepted, no schema-valid one refused
(except the rules listed in schemathesis.toml). Bounded by the example counts of that file.

The run is schemathesis' own CLI, so a failure prints what it prints: each failing operation,
the check, the response and a curl line to reproduce it. New routes must pass it too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import httpx
import pytest

from local.stack import LocalStack
from tests.api.conftest import PASSWORD
from tests.fakes.binance import FakeBinance
from tests.fakes.bybit import FakeBybit

pytestmark = pytest.mark.stack

CONFIG = Path(__file__).with_name("schemathesis.toml")
# A fuzzer sends thousands of requests a minute: the template's rate-limit parameters, raised.
RAISED_LIMITS = dict.fromkeys(
    ("AuthRateLimit", "GeneralRateLimit", "MarketDataRateLimit", "BacktestCreationRateLimit"), "1000000"
)


@pytest.fixture(scope="module")
def stack(moto_server):
    """The local stack with raised limits, its exchanges the fakes of the tests (no network here)."""
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).read()
    try:
        with FakeBinance() as binance, FakeBybit() as bybit:
            exchanges = {"BinanceBaseUrl": binance.url, "BinanceFuturesBaseUrl": binance.url, "BybitBaseUrl": bybit.url}
            with LocalStack(api_port=0, ws_port=0, parameters={**RAISED_LIMITS, **exchanges}) as running:
                yield running
    finally:
        urllib.request.urlopen(reset).read()


def _token(api_url: str) -> str:
    email = f"fuzz-{uuid.uuid4().hex[:10]}@example.com"
    with httpx.Client(base_url=api_url, timeout=30) as http:
        assert (
            http.post("/api/v1/users", json={"email": email, "password": PASSWORD, "name": "Fuzz"}).status_code == 201
        )
        return http.post("/api/v1/sessions", json={"email": email, "password": PASSWORD}).json()["token"]


def test_schemathesis_finds_nothing_in_any_phase(stack, tmp_path):
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{stack.api_url}/api/openapi.json",
        "--checks",
        "all",
        "--report-dir",
        str(tmp_path),
    ]
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env={**os.environ, "FUZZ_TOKEN": _token(stack.api_url), "NO_COLOR": "1"},
    )
    assert run.returncode == 0, f"schemathesis found problems (exit {run.returncode}):\n{run.stdout}\n{run.stderr}"
    assert "Stateful" in run.stdout and "Coverage" in run.stdout  # every phase ran
