"""A backtest's trades as Parquet in the results bucket, read a page at a time with ranged GETs
(`adapters.s3_parquet`, the one way Parquet is read from S3).

Layout (everything a backtest produces lives under its id, so deleting it is one prefix):

    backtests/<id>/trades.parquet        every trade in entry order (row = sequence number),
                                         zstd, row groups of ROW_GROUP_ROWS trades
    backtests/<id>/trade-filters.parquet side and result of every trade, dictionary-encoded:
                                         a few KB even for 100k trades
    partials/<id>/...                    the state machine's per-chunk partial results
    exports/<id>/<filename>.csv          a CSV download too large for one API answer, behind a
                                         presigned GET (expired after a day by the bucket's lifecycle)

Why not DynamoDB items: 100k trades would be 100k writes (and as many deletes) per backtest, and a
filtered page (`side=short&result=win`, page 40) would read every item before it. Here a save is
two PUTs, a delete one LIST + one DELETE, an unfiltered page reads the footer and the row group(s)
holding it (two GETs), a filtered page first reads the small filters object to find the matching
rows. Saving the same backtest again overwrites both objects: a re-run never duplicates.

pyarrow/NumPy are imported on first use, keeping them out of the API's cold start.
"""

from __future__ import annotations

import bisect
import io
import itertools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from adapters.s3_objects import S3Objects
from shared.backtests.model import LONG, LOSS, SHORT, WIN, Trade
from shared.backtests.trade_ids import trade_id

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

ROW_GROUP_ROWS = 4096
SIDES = (LONG, SHORT)
RESULTS = (WIN, LOSS, "even", "open")  # even: closed at exactly zero pnl, neither win nor loss
_CREATED_AT = b"created_at"
EXPORT_URL_EXPIRES_S = 300


def trades_key(backtest_id: str) -> str:
    return f"backtests/{backtest_id}/trades.parquet"


def filters_key(backtest_id: str) -> str:
    return f"backtests/{backtest_id}/trade-filters.parquet"


def result_prefixes(backtest_id: str) -> tuple[str, ...]:
    return f"backtests/{backtest_id}/", f"partials/{backtest_id}/", f"exports/{backtest_id}/"


class S3TradeStore:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._objects = S3Objects(s3_client, bucket)

    # ------------------------------------------------------------------ writing
    def save(self, backtest_id: str, trades: Any, created_at: datetime) -> int:
        """Store the engine's columnar trades (`shared.engine.Trades`), replacing any earlier save."""
        import pyarrow.parquet as pq

        table, filters = _trade_tables(trades, created_at)
        for key, content in ((trades_key(backtest_id), table), (filters_key(backtest_id), filters)):
            sink = io.BytesIO()
            pq.write_table(
                content, sink, compression="zstd", row_group_size=ROW_GROUP_ROWS if content is table else None
            )
            self._objects.put_bytes(key, sink.getvalue())
        return table.num_rows

    def delete(self, backtest_id: str) -> None:
        self._objects.delete_prefix(*result_prefixes(backtest_id))

    # ------------------------------------------------------------------ reading
    def page(
        self, backtest_id: str, side: str | None, result: str | None, offset: int, limit: int
    ) -> tuple[list[Trade], int]:
        parquet = self._open(trades_key(backtest_id))
        if parquet is None:
            return [], 0
        if side is None and result is None:
            total = parquet.metadata.num_rows
            rows = list(range(offset, min(offset + limit, total)))
        else:
            matching = self._matching_rows(backtest_id, side, result)
            total = len(matching)
            rows = [int(row) for row in matching[offset : offset + limit]]
        return _read_rows(parquet, backtest_id, rows), total

    def get(self, backtest_id: str, seq: int) -> Trade | None:
        parquet = self._open(trades_key(backtest_id))
        if parquet is None or not 0 <= seq < parquet.metadata.num_rows:
            return None
        return _read_rows(parquet, backtest_id, [seq])[0]

    def _open(self, key: str) -> pq.ParquetFile | None:
        from adapters.s3_parquet import parquet_file

        return parquet_file(self._objects, key)

    def _matching_rows(self, backtest_id: str, side: str | None, result: str | None) -> Any:
        import numpy as np

        filters = self._open(filters_key(backtest_id))
        if filters is None:
            return np.empty(0, dtype=np.int64)
        table = filters.read()
        mask = np.ones(table.num_rows, dtype=bool)
        for column, wanted, names in (("side", side, SIDES), ("result", result, RESULTS)):
            if wanted is not None:
                mask &= table.column(column).combine_chunks().indices.to_numpy() == names.index(wanted)
        return np.flatnonzero(mask)


class S3TradeExports:
    """Downloads too large for one API answer (Lambda answers at most 6 MB): the file is written
    under `exports/<id>/` with its download headers, and handed out as a short-lived presigned GET.
    The client must sign with Signature V4 (presigned V2 URLs are refused in newer regions)."""

    def __init__(self, s3_client: Any, bucket: str, expires_in: int = EXPORT_URL_EXPIRES_S) -> None:
        self._objects = S3Objects(s3_client, bucket)
        self.expires_in = expires_in

    def publish(self, backtest_id: str, filename: str, content: bytes, media_type: str) -> str:
        """The presigned URL of `content`, served as an attachment named `filename`."""
        key = f"exports/{backtest_id}/{filename}"
        self._objects.put_bytes(key, content, media_type, ContentDisposition=f'attachment; filename="{filename}"')
        return self._objects.presign_get(key, self.expires_in)


def _trade_tables(trades: Any, created_at: datetime) -> tuple[pa.Table, pa.Table]:
    """(all columns, filter columns) of the engine's columnar trades."""
    import numpy as np
    import pyarrow as pa

    from shared.engine.exits import EXIT_REASONS

    is_open = np.asarray(trades.exit_bar) < 0
    pnl = np.asarray(trades.pnl, dtype=np.float64)
    side_codes = (np.asarray(trades.side) < 0).astype(np.int8)  # +1 long -> 0, -1 short -> 1
    result_codes = np.select([is_open, pnl > 0, pnl < 0], [3, 0, 1], default=2).astype(np.int8)

    def labels(codes: np.ndarray, names: tuple[str, ...] | list[str]) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), pa.array(list(names), pa.string()))

    def floats(values: Any) -> pa.Array:
        return pa.array(np.asarray(values, dtype=np.float64))

    times = pa.timestamp("ms", tz="UTC")
    side, result = labels(side_codes, SIDES), labels(result_codes, RESULTS)
    table = pa.table(
        {
            "entry_time": pa.array(np.asarray(trades.entry_time, dtype=np.int64), times),
            "entry_price": floats(trades.entry_price),
            "exit_time": pa.array(np.asarray(trades.exit_time, dtype=np.int64), times, mask=is_open),
            "exit_price": floats(trades.exit_price),
            "quantity": floats(trades.quantity),
            "side": side,
            "pnl": floats(pnl),
            "pnl_percentage": floats(trades.pnl_percentage),
            "fees": floats(trades.fees),
            "entry_reason": labels(np.zeros(len(pnl), dtype=np.int8), ["signal"]),
            "exit_reason": labels(np.asarray(trades.exit_reason, dtype=np.int8), list(EXIT_REASONS)),
            "funding": floats(trades.funding),
            "leg": pa.array(np.asarray(trades.leg, dtype=np.int16)),
            **_excursion_columns(trades),
        }
    ).replace_schema_metadata({_CREATED_AT: created_at.isoformat().encode()})
    return table, pa.table({"side": side, "result": result})


def _excursion_columns(trades: Any) -> dict[str, pa.Array]:
    """mae / mfe (price and percent) and bars, when the engine computed them."""
    import numpy as np
    import pyarrow as pa

    if getattr(trades, "mae", None) is None:
        return {}
    mae_percentage, mfe_percentage = trades.excursion_percentages()
    columns = {"mae": trades.mae, "mfe": trades.mfe, "mae_percentage": mae_percentage, "mfe_percentage": mfe_percentage}
    return {name: pa.array(np.asarray(values, dtype=np.float64)) for name, values in columns.items()} | {
        "bars": pa.array(np.asarray(trades.bars, dtype=np.int64))
    }


def _read_rows(parquet: pq.ParquetFile, backtest_id: str, rows: list[int]) -> list[Trade]:
    """The trades at `rows` (sequence numbers, ascending), reading only the row groups holding them."""
    if not rows:
        return []
    metadata = parquet.metadata
    sizes = [metadata.row_group(index).num_rows for index in range(metadata.num_row_groups)]
    starts = list(itertools.accumulate(sizes, initial=0))
    group_of = [bisect.bisect_right(starts, row) - 1 for row in rows]
    groups = sorted(set(group_of))
    # Where each group's first row lands in the table of just those groups.
    offsets = dict(zip(groups, itertools.accumulate((sizes[group] for group in groups), initial=0)))
    table = parquet.read_row_groups(groups)
    picked = _python_rows(table.take([offsets[group] + row - starts[group] for row, group in zip(rows, group_of)]))
    created_at = datetime.fromisoformat(parquet.schema_arrow.metadata[_CREATED_AT].decode())
    return [
        Trade(id=trade_id(backtest_id, row), backtest_id=backtest_id, seq=row, created_at=created_at, **values)
        for row, values in zip(rows, picked)
    ]


def _python_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows as dicts, timestamps as UTC datetimes: converted naive, then given UTC, because
    pyarrow converts a zoned timestamp by trying `import pytz` for each value (~50 µs apiece, 3 s
    for a 30k-trade CSV download)."""
    import pyarrow as pa

    zoned = [field.name for field in table.schema if pa.types.is_timestamp(field.type) and field.type.tz]
    naive = pa.schema(
        [
            pa.field(field.name, pa.timestamp(field.type.unit)) if field.name in zoned else field
            for field in table.schema
        ]
    )
    rows = table.cast(naive).to_pylist()
    for row in rows:
        for name in zoned:
            if row[name] is not None:
                row[name] = row[name].replace(tzinfo=UTC)
    return rows
