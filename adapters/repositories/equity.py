"""A backtest's equity series as Parquet in the results bucket: `backtests/<id>/equity.parquet`.

Columns `ts` (epoch ms, delta-encoded: regular bars cost almost nothing), `equity`, `benchmark`;
zstd. It lives under the backtest's prefix, so `S3TradeStore.delete` removes it with the trades.
pyarrow is imported on first use, keeping it out of the API's cold start.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from adapters.s3_objects import S3Objects

if TYPE_CHECKING:
    from shared.backtests.equity import EquitySeries


def equity_key(backtest_id: str) -> str:
    return f"backtests/{backtest_id}/equity.parquet"


class S3EquityStore:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._objects = S3Objects(s3_client, bucket)

    def save(self, backtest_id: str, series: EquitySeries) -> None:
        self._objects.put_bytes(equity_key(backtest_id), series_parquet(series))

    def load(self, backtest_id: str) -> EquitySeries | None:
        """None when nothing is stored (a backtest completed before equity series were kept)."""
        body = self._objects.get_bytes(equity_key(backtest_id))
        return None if body is None else parquet_series(body)


def series_parquet(series: EquitySeries) -> bytes:
    """An equity series as this module stores it (also an optimization's full results'; `adapters.optimization_store`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"ts": series.timestamps, "equity": series.equity, "benchmark": series.benchmark})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", use_dictionary=False, column_encoding={"ts": "DELTA_BINARY_PACKED"})
    return sink.getvalue()


def parquet_series(body: bytes) -> EquitySeries:
    import pyarrow.parquet as pq

    from shared.backtests.equity import EquitySeries

    table = pq.read_table(io.BytesIO(body))
    return EquitySeries(*(table.column(name).to_numpy() for name in ("ts", "equity", "benchmark")))
