"""A backtest run's intermediate objects in the results bucket, under partials/<backtest_id>/:

    plan.json                 Prepare's plan (pinned candle series, chunk spans)
    chunks/<index>.npz        each chunk's result (`ChunkResult.to_arrays()` + its compute seconds)
    stitched.npz              the stitched trades' columns + a JSON document (balance, summary, metrics)
    equity.npz                the stitched equity series beside buy-and-hold (Persist stores it for the API)

Everything is written whole and deterministically, so a retried step rewrites the same object.
The prefix is what `S3TradeStore.delete` removes along with the trades (a cancel, a delete, a
failure), and the bucket's lifecycle rule expires anything left behind after 7 days.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from adapters.s3_objects import S3Objects
from shared.backtests.equity import EquitySeries
from shared.engine import Trades
from shared.engine.chunks import ChunkResult
from shared.errors import NotFound

_TRADE_COLUMNS = tuple(Trades.__dataclass_fields__)


def run_prefix(backtest_id: str) -> str:
    return f"partials/{backtest_id}/"


def _chunk_key(backtest_id: str, index: int) -> str:
    return f"{run_prefix(backtest_id)}chunks/{index:06d}.npz"


class S3RunStore:
    """The RunStore port of `shared.backtests.ports` on S3."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._objects = S3Objects(s3_client, bucket)

    def put_plan(self, backtest_id: str, plan: bytes) -> None:
        self._put(f"{run_prefix(backtest_id)}plan.json", plan)

    def plan(self, backtest_id: str) -> bytes:
        return self._get(f"{run_prefix(backtest_id)}plan.json")

    def put_chunk(self, backtest_id: str, chunk: ChunkResult, seconds: float) -> None:
        self._put(_chunk_key(backtest_id, chunk.span.index), _npz(chunk.to_arrays() | {"seconds": np.array(seconds)}))

    def chunk(self, backtest_id: str, index: int) -> tuple[ChunkResult, float]:
        arrays = _arrays(self._get(_chunk_key(backtest_id, index)))
        return ChunkResult.from_arrays(arrays), float(arrays["seconds"])

    def delete_chunk(self, backtest_id: str, index: int) -> None:
        self._objects.delete(_chunk_key(backtest_id, index))

    def chunks_done(self, backtest_id: str) -> int:
        return self._objects.count(f"{run_prefix(backtest_id)}chunks/")

    def put_stitched(self, backtest_id: str, trades: Trades, document: dict[str, Any]) -> None:
        columns = {name: getattr(trades, name) for name in _TRADE_COLUMNS}
        self._put(
            f"{run_prefix(backtest_id)}stitched.npz", _npz(columns | {"document": np.array(json.dumps(document))})
        )

    def stitched(self, backtest_id: str) -> tuple[Trades, dict[str, Any]]:
        arrays = _arrays(self._get(f"{run_prefix(backtest_id)}stitched.npz"))
        return Trades(**{name: arrays[name] for name in _TRADE_COLUMNS}), json.loads(str(arrays["document"]))

    def put_equity(self, backtest_id: str, series: EquitySeries) -> None:
        arrays = {"timestamps": series.timestamps, "equity": series.equity, "benchmark": series.benchmark}
        self._put(f"{run_prefix(backtest_id)}equity.npz", _npz(arrays))

    def equity(self, backtest_id: str) -> EquitySeries:
        return EquitySeries(**_arrays(self._get(f"{run_prefix(backtest_id)}equity.npz")))

    def delete(self, backtest_id: str) -> None:
        self._objects.delete_prefix(run_prefix(backtest_id))

    def _put(self, key: str, body: bytes) -> None:
        self._objects.put_bytes(key, body)

    def _get(self, key: str) -> bytes:
        body = self._objects.get_bytes(key)
        if body is None:
            raise NotFound(f"{self._objects.url(key)} is gone (the run was cancelled or cleaned up)")
        return body


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    sink = io.BytesIO()
    np.savez(sink, **arrays)
    return sink.getvalue()


def _arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
