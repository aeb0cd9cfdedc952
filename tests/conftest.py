"""Fixtures shared by every test area.

`aws` gives a test its own empty AWS: one moto server per test session (the same server the
local stack embeds, reached over HTTP as the deployed functions reach S3), reset before
each test that asks for it. Fake credentials are set for the whole session so nothing can ever
reach a real AWS account.
"""

from __future__ import annotations

import os

import pytest

from tests.fanout.fake_aws import use_fake_aws

# Fixtures of the fakes, for every test module that names them (s3, candle_store, fake_binance, fake_bybit).
pytest_plugins = ["tests.fakes.binance", "tests.fakes.bybit", "tests.fakes.market_data"]

use_fake_aws()


@pytest.fixture(scope="session")
def moto_server():
    """A moto server on a free loopback port for the whole test session; yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = url
    yield url
    if previous is None:
        os.environ.pop("AWS_ENDPOINT_URL", None)
    else:
        os.environ["AWS_ENDPOINT_URL"] = previous
    server.stop()


def reset_moto(moto_url: str) -> None:
    """moto keeps its state per process, not per server: clear what earlier tests (or a module's
    stack) created, so that every stack provisions into an empty AWS."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).read()


@pytest.fixture(scope="module")
def stack_candles() -> dict:
    """The candles a module's `stack` starts with, {(symbol, timeframe): Candles}; a module that
    needs some overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def in_process_functions() -> frozenset[str]:
    """Functions whose module a module's tests patch: its `stack` runs them as threads of this
    process rather than in process environments of their own (local/functions.py)."""
    return frozenset()


@pytest.fixture(scope="module")
def stack(moto_server, stack_candles, in_process_functions):
    """The local stack of a module (tests.fanout.stack.Stack): the template's functions on the
    session's moto server, emptied before and after, holding the module's `stack_candles`."""
    from tests.fanout.stack import start_stack

    reset_moto(moto_server)
    local, started = start_stack(in_process_functions)
    try:
        for (symbol, timeframe), candles in stack_candles.items():
            started.import_candles(symbol, timeframe, candles)
        yield started
    finally:
        local.stop()
        reset_moto(moto_server)


@pytest.fixture
def aws(moto_server):
    """An empty AWS for this test: the session's moto server, reset first. Yields its URL."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).read()
    return moto_server
