"""Helpers for the market-data tests: candles to import, a Binance-format CSV writer, a recording
publisher and a candle store in moto."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
import numpy as np
import pytest

from adapters.candle_store import S3CandleStore
from shared.candles import Candles
from shared.timeframes import timeframe_ms

CANDLES_BUCKET = "test-candles"


@dataclass
class RecordingPublisher:
    """An EventPublisher that keeps what it is given."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def publish(self, channel: str, event: str, data: dict[str, Any]) -> None:
        self.events.append((channel, event, data))

    def on(self, channel: str) -> list[tuple[str, dict[str, Any]]]:
        return [(event, data) for c, event, data in self.events if c == channel]


def random_candles(start_ms: int, count: int, timeframe: str, seed: int = 1) -> Candles:
    """Valid candles on `timeframe` boundaries: a geometric random walk with consistent highs and lows,
    prices on a 0.01 grid and volume on a 0.001 grid (exact in CSV and JSON)."""
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.005, count))), 2)
    open_ = np.round(np.concatenate(([100.0], close[:-1])), 2)
    high = np.round(np.maximum(open_, close) * (1 + rng.uniform(0, 0.003, count)), 2)
    low = np.round(np.minimum(open_, close) * (1 - rng.uniform(0, 0.003, count)), 2)
    volume = np.round(rng.uniform(0, 50, count), 3)
    ts = start_ms + np.arange(count, dtype=np.int64) * timeframe_ms(timeframe)
    return Candles.from_arrays(ts, open_, high, low, close, volume)


def binance_csv(candles: Candles, timeframe: str) -> bytes:
    """Candles as a Binance kline CSV (no header, 12 columns, ms open times)."""
    step = timeframe_ms(timeframe)
    return "".join(
        f"{t},{o:.8f},{h:.8f},{lo:.8f},{c:.8f},{v:.8f},{t + step - 1},{v * c:.8f},7,{v / 2:.8f},{v * c / 2:.8f},0\n"
        for t, o, h, lo, c, v in candles.rows()
    ).encode()


def assert_same_candles(actual: Candles, expected: Candles) -> None:
    for name in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(actual, name), getattr(expected, name), err_msg=name)


def object_keys(s3: Any, bucket: str) -> set[str]:
    return {
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    }


@pytest.fixture
def s3(aws):
    return boto3.client("s3")


@pytest.fixture
def candle_store(s3):
    """An empty S3CandleStore on a fresh bucket in moto."""
    s3.create_bucket(Bucket=CANDLES_BUCKET)
    return S3CandleStore(s3, CANDLES_BUCKET)
