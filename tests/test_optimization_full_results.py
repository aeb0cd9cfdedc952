"""The best combinations' full results in the results bucket (adapters.optimization_store): a
document, an equity curve and trades as JSON Lines, so a page of trades is read no further than
its last trade, however many trades the run made."""

from __future__ import annotations

import boto3
import numpy as np

from adapters.optimization_store import S3OptimizationStore
from shared.backtests.equity import EquitySeries
from shared.optimizations.full_results import FullResult
from tests.test_optimization_ranking import CountingS3

BUCKET = "test-results"
HOUR_MS, START_MS = 3_600_000, 1_704_067_200_000


def a_full_result(rank: int, trades: int) -> FullResult:
    """`trades` trades of ~300 bytes each (the size of an engine record), an hourly curve."""
    records = [
        {
            "entry_time": f"2024-01-01T{i % 24:02d}:00:00Z",
            "entry_price": 100.0 + i,
            "exit_time": None if i == trades - 1 else f"2024-01-02T{i % 24:02d}:00:00Z",
            "exit_price": 101.0 + i,
            "quantity": 1.5,
            "side": "long" if i % 2 else "short",
            "pnl": float(i) - 7.25,
            "pnl_percentage": 0.5,
            "fees": 0.2,
            "funding": 0.0,
            "leg": 1,
            "entry_reason": "signal",
            "exit_reason": "take_profit",
            "entry_bar": 2 * i,
            "exit_bar": 2 * i + 1,
            "sequence": i,
        }
        for i in range(trades)
    ]
    hours = START_MS + np.arange(48, dtype=np.int64) * HOUR_MS
    equity = EquitySeries(hours, 10_000.0 + np.arange(48.0), np.full(48, 10_000.0))
    document = {"rank": rank, "params": {"fast": 5}, "objective_value": 1.5, "final_balance": 10_047.0}
    return FullResult(document | {"performance_summary": {"total_pnl": 47.0}}, records, equity)


def test_a_page_of_trades_reads_no_further_than_its_last_trade(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    S3OptimizationStore(client, BUCKET).put_full_result("opt-1", a_full_result(1, 20_000))
    stored = client.head_object(Bucket=BUCKET, Key="optimizations/opt-1/full/000001.trades.jsonl")["ContentLength"]
    counting = CountingS3(client)
    store = S3OptimizationStore(counting, BUCKET)
    # When the first page of 20 trades is read
    first = store.full_result("opt-1", 1, slice(0, 20))
    # Then it holds trades 0-19 of the 20,000 counted, the whole document and curve, and a small part of the trades read
    assert first is not None
    assert [trade["sequence"] for trade in first.trades] == list(range(20))
    assert first.document["trade_count"] == 20_000 and first.document["performance_summary"] == {"total_pnl": 47.0}
    assert first.equity.equity.tolist() == (10_000.0 + np.arange(48.0)).tolist()
    assert stored > 5_000_000 and counting.bytes_read < 30_000
    # A later page: its trades; past the end: none; everything: every trade in entry order
    assert [t["sequence"] for t in store.full_result("opt-1", 1, slice(19_990, 20_010)).trades] == list(
        range(19_990, 20_000)
    )
    assert store.full_result("opt-1", 1, slice(20_000, 20_020)).trades == []
    every = store.full_result("opt-1", 1)
    assert every.trades == a_full_result(1, 20_000).trades


def test_a_run_without_trades_and_a_rank_not_kept(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    store = S3OptimizationStore(client, BUCKET)
    store.put_full_result("opt-1", a_full_result(2, 0))
    # A run without trades stores no trades object and reads none
    assert sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]) == [
        "optimizations/opt-1/full/000002.equity.parquet",
        "optimizations/opt-1/full/000002.json",
    ]
    empty = store.full_result("opt-1", 2, slice(0, 20))
    assert empty is not None and empty.trades == [] and empty.document["trade_count"] == 0
    # A rank without a full result: None; deleting the optimization removes them all
    assert store.full_result("opt-1", 3) is None
    store.put_full_result("opt-1", a_full_result(1, 5))
    store.delete("opt-1")
    assert client.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []
