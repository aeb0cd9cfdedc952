"""The `backtest` CLI on Parquet in any layout, against a NumPy process on the same file (issue 15).

    .venv/bin/python bench/cli_parquet_layouts.py [--bars 1000000] [--repeats 5]

1M synthetic 1-minute bars (bench/engine_vs_peers.py's random walk), SMA(10) x SMA(50), written as:
- the project's own Parquet (`ts` timestamp[ms, UTC], zstd, what the candle store writes);
- pandas' `DataFrame.to_parquet()` layout: `ts` timestamp[ns, tz=UTC], snappy, one row group, the
  `pandas` schema metadata (written with pyarrow, as pandas does, so the bench needs no pandas).
Whole processes are timed, interleaved (the machine is shared): `backtest run --json` against
engine_vs_peers' NumPy reference process (read Parquet, run, print the trades as JSON). Also a
1M-row Binance kline CSV through `backtest run`, which parses and validates it the same way.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from engine_vs_peers import process_times, strategy_json, synthetic_ohlc  # noqa: E402

from shared.candles import Candles  # noqa: E402
from tests.fakes.market_data import binance_csv  # noqa: E402


def pandas_layout(candles: Candles) -> pa.Table:
    table = pa.table(
        {
            "ts": pa.array(candles.ts * 1_000_000, pa.timestamp("ns", tz="UTC")),
            **{name: getattr(candles, name) for name in ("open", "high", "low", "close", "volume")},
        }
    )
    metadata = {
        "index_columns": [{"kind": "range", "name": None, "start": 0, "stop": len(candles), "step": 1}],
        "column_indexes": [],
        "columns": [],
        "pandas_version": "2.2.3",
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(metadata).encode()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    candles = Candles.from_arrays(*synthetic_ohlc(args.bars))
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        pq.write_table(candles.to_arrow(), data / "own.parquet", compression="zstd")
        pq.write_table(pandas_layout(candles), data / "pandas.parquet", compression="snappy", row_group_size=args.bars)
        (data / "klines.csv").write_bytes(binance_csv(candles, "1m"))
        (data / "strategy.json").write_text(json.dumps(strategy_json(None, None)))
        cli = [
            str(Path(sys.executable).parent / "backtest"),
            "run",
            "--strategy",
            str(data / "strategy.json"),
            "--timeframe",
            "1m",
            "--commission",
            "0.1",
            "--json",
            "--candles",
        ]
        reference = [sys.executable, str(ROOT / "bench" / "engine_vs_peers.py"), "--reference-process"]
        commands = {
            "numpy reference, own Parquet": [*reference, str(data / "own.parquet")],
            "numpy reference, pandas Parquet": [*reference, str(data / "pandas.parquet")],
            "backtest run, own Parquet": [*cli, str(data / "own.parquet")],
            "backtest run, pandas Parquet": [*cli, str(data / "pandas.parquet")],
            "backtest run, Binance CSV": [*cli, str(data / "klines.csv")],
        }
        times = process_times(commands, args.repeats)
    print(f"{args.bars:,} 1-minute bars, whole processes, {args.repeats} interleaved runs each")
    print(f"{'':34}{'median':>10}{'min':>10}   x numpy process on the same file (median, min)")
    for name, samples in times.items():
        base = times[
            "numpy reference, pandas Parquet" if "pandas" in name or "CSV" in name else "numpy reference, own Parquet"
        ]
        median, best = statistics.median(samples), min(samples)
        print(
            f"{name:34}{median * 1000:8.0f} ms{best * 1000:7.0f} ms   "
            f"{median / statistics.median(base):.2f}x, {best / min(base):.2f}x"
        )


if __name__ == "__main__":
    main()
