"""`backtest run`: a JSON strategy over a candle file, in-process through main(argv) and once as
a real subprocess. Expected trades are hand-computed from the documented conventions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from adapters.cli import main
from shared.candles import Candles

ROOT = Path(__file__).resolve().parent.parent
HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
# Closes 10, 12, 14, 13, 11, 12, 15, 16; open = previous close (10 for the first bar).
CLOSES = [10.0, 12.0, 14.0, 13.0, 11.0, 12.0, 15.0, 16.0]
# Entry when close > 11.5 (true at bars 1, 2, 3, 5, 6, 7), exit when close < 12 (bar 4).
STRATEGY = {
    "name": "threshold",
    "entry_rules": {
        "operator": "and",
        "conditions": [{"indicator": "price", "params": {}, "comparator": ">", "value": 11.5}],
    },
    "exit_rules": {
        "operator": "and",
        "conditions": [{"indicator": "price", "params": {}, "comparator": "<", "value": 12}],
    },
    "config": {"direction": "long", "position_sizing": "all_in"},
}


def candles() -> Candles:
    closes = np.array(CLOSES)
    opens = np.concatenate(([10.0], closes[:-1]))
    return Candles.from_arrays(
        T0 + HOUR * np.arange(len(closes)),
        opens,
        np.maximum(opens, closes),
        np.minimum(opens, closes),
        closes,
        np.ones(len(closes)),
    )


@pytest.fixture
def files(tmp_path):
    strategy = tmp_path / "strategy.json"
    strategy.write_text(json.dumps(STRATEGY))
    parquet = tmp_path / "candles.parquet"
    pq.write_table(candles().to_arrow(), parquet)
    return {"strategy": str(strategy), "parquet": str(parquet), "dir": tmp_path}


def run_json(capsys, *argv) -> dict:
    assert main(["run", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def expected_trades():
    # Entry signal at bar 1's close -> buy at bar 2's open (12); exit signal at bar 4 -> sell at
    # bar 5's open (11); entry signal at bar 5 -> buy at bar 6's open (12), open at the end (16).
    first_units = 10_000 / (12 * 1.001)
    first_cash = first_units * 11 * 0.999
    second_units = first_cash / (12 * 1.001)
    return first_units, first_cash, second_units


def test_json_output_has_trades_summary_and_drawdowns(files, capsys):
    result = run_json(capsys, "--strategy", files["strategy"], "--candles", files["parquet"], "--commission", "0.1")
    first_units, _first_cash, second_units = expected_trades()
    assert set(result) == {"initial_balance", "final_balance", "performance_summary", "trades", "drawdown_periods"}
    first, second = result["trades"]
    assert (first["entry_time"], first["exit_time"]) == ("2024-01-01T02:00:00Z", "2024-01-01T05:00:00Z")
    assert (first["entry_price"], first["exit_price"], first["exit_reason"]) == (12.0, 11.0, "signal")
    assert first["quantity"] == pytest.approx(first_units, rel=1e-12)
    assert (second["entry_time"], second["exit_time"], second["exit_reason"]) == ("2024-01-01T06:00:00Z", None, "open")
    assert result["final_balance"] == pytest.approx(second_units * 16, rel=1e-12)
    assert result["performance_summary"]["total_trades"] == 1
    assert result["performance_summary"]["losing_trades"] == 1
    # Equity peaks at bar 2 (close 14); its low is bar 5, after the exit fee of the sale at 11
    assert (result["drawdown_periods"][0]["start"], result["drawdown_periods"][0]["trough"]) == (
        "2024-01-01T02:00:00Z",
        "2024-01-01T05:00:00Z",
    )


def kline_lines(c: Candles) -> list[str]:
    """Binance kline CSV rows (no header, 12 columns, open time in ms) of `c`, in file order."""
    return [
        f"{t},{o},{h},{l},{cl},{v},{t + HOUR - 1},0,0,0,0,0"
        for t, o, h, l, cl, v in zip(c.ts, c.open, c.high, c.low, c.close, c.volume)
    ]


def test_a_newest_first_binance_kline_csv_runs_like_the_parquet_file(files, capsys):
    # Given the same candles as Binance klines, newest first: the hand-computed trades again
    klines = files["dir"] / "klines.csv"
    klines.write_text("\n".join(reversed(kline_lines(candles()))) + "\n")
    result = run_json(capsys, "--strategy", files["strategy"], "--candles", str(klines), "--timeframe", "1h")
    first_units, _, second_units = expected_trades()
    # the second trade is still open, marked at the last close (16)
    assert [(t["entry_price"], t["exit_price"]) for t in result["trades"]] == [(12.0, 11.0), (12.0, 16.0)]
    assert result["trades"][0]["quantity"] == pytest.approx(first_units, rel=1e-12)
    assert result["final_balance"] == pytest.approx(second_units * 16, rel=1e-12)


def test_candle_files_are_checked_against_the_timeframe_order_and_repeats(files, capsys):
    # Hourly candles from 00:00: as 4h candles, rows 2, 3, 4, 6, 7, 8 (01:00, 02:00, 03:00, 05:00...) are off
    assert main(["run", "--strategy", files["strategy"], "--candles", files["parquet"], "--timeframe", "4h"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"backtest run: error: {files['parquet']}: row 2: timestamp 2024-01-01T01:00:00Z is not on a 4h boundary "
        "(and 5 more problems)\n"
    )
    lines = kline_lines(candles())
    repeated = files["dir"] / "repeated.csv"
    repeated.write_text("\n".join([*lines[:3], lines[2], *lines[3:]]) + "\n")
    assert main(["run", "--strategy", files["strategy"], "--candles", str(repeated)]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("line 4: timestamp 2024-01-01T02:00:00Z repeats line 3 (duplicate row)")
    )


def test_start_and_end_select_candles_and_csv_is_read_too(files, capsys):
    csv = files["dir"] / "candles.csv"
    c = candles()
    rows = [f"{t},{o},{h},{l},{cl},1" for t, o, h, l, cl in zip(c.ts, c.open, c.high, c.low, c.close)]
    csv.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    # Only bars 2..5 (02:00 to before 06:00): entry signal at bar 2 -> buy at bar 3's open (14),
    # exit signal at bar 4 -> sell at bar 5's open (11).
    result = run_json(
        capsys,
        "--strategy",
        files["strategy"],
        "--candles",
        str(csv),
        "--commission",
        "0",
        "--start",
        "2024-01-01T02:00:00Z",
        "--end",
        "2024-01-01T06:00:00Z",
    )
    assert [(t["entry_price"], t["exit_price"]) for t in result["trades"]] == [(14.0, 11.0)]
    assert result["final_balance"] == pytest.approx(10_000 * 11 / 14, rel=1e-12)


def test_leverage_and_initial_balance_reach_the_engine(files, capsys):
    result = run_json(
        capsys,
        "--strategy",
        files["strategy"],
        "--candles",
        files["parquet"],
        "--commission",
        "0",
        "--leverage",
        "2",
        "--initial-balance",
        "1000",
    )
    assert result["trades"][0]["quantity"] == pytest.approx(1000 * 2 / 12, rel=1e-12)


def test_table_output_is_readable(files, capsys):
    assert main(["run", "--strategy", files["strategy"], "--candles", files["parquet"]]) == 0
    out = capsys.readouterr().out
    assert "final_balance" in out and "sharpe_ratio" in out
    assert "exits: signal 1, open 1" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["config"].update(stop_loss=-1), "config.stop_loss"),
        (lambda s: s["entry_rules"]["conditions"][0].update(indicator="nope"), "entry_rules.conditions[0].indicator"),
    ],
)
def test_invalid_strategy_exits_non_zero_naming_the_field(files, capsys, change, message):
    strategy = json.loads(json.dumps(STRATEGY))
    change(strategy)
    Path(files["strategy"]).write_text(json.dumps(strategy))
    assert main(["run", "--strategy", files["strategy"], "--candles", files["parquet"]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_bad_settings_and_files_exit_non_zero_with_one_line(files, capsys):
    assert main(["run", "--strategy", files["strategy"], "--candles", files["parquet"], "--leverage", "0.5"]) == 2
    assert "metadata.leverage" in capsys.readouterr().err
    Path(files["strategy"]).write_text("{not json")
    assert main(["run", "--strategy", files["strategy"], "--candles", files["parquet"]]) == 2
    assert "line 1: invalid JSON" in capsys.readouterr().err
    Path(files["strategy"]).write_text(json.dumps(STRATEGY))
    assert main(["run", "--strategy", files["strategy"], "--candles", str(files["dir"] / "none.parquet")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["run", "--strategy", files["strategy"], "--candles", files["parquet"], "--start", "2030-01-01"]) == 2
    assert "no candles between --start and --end" in capsys.readouterr().err


def test_backtest_console_script_as_a_subprocess(files):
    # The installed `backtest` script if present, else the same entry point through python -c
    script = Path(sys.executable).parent / "backtest"
    command = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "import sys; from adapters.cli import main; sys.exit(main())"]
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run(
        [*command, "run", "--strategy", files["strategy"], "--candles", files["parquet"], "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads(ok.stdout)["trades"]) == 2
    unsorted = files["dir"] / "bad.csv"
    unsorted.write_text(
        f"timestamp,open,high,low,close,volume\n{T0},1,1,1,1,1\n{T0 + 2 * HOUR},1,1,1,1,1\n{T0 + HOUR},1,1,1,1,1\n"
    )
    bad = subprocess.run(
        [*command, "run", "--strategy", files["strategy"], "--candles", str(unsorted)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().endswith(
        "line 4: timestamp 2024-01-01T01:00:00Z is out of order: line 3 has 2024-01-01T02:00:00Z "
        "and the file starts in ascending time order"
    )


def test_talib_indicators_timeframes_and_the_full_metrics_set(files, capsys):
    # Given a strategy on TA-Lib's KAMA and the 4h close (coarser than the 1h candles)
    strategy = {
        "entry_rules": {
            "conditions": [
                {
                    "indicator": "price",
                    "params": {},
                    "comparator": ">",
                    "value": {"indicator": "kama", "params": {"timeperiod": 2}},
                },
                {
                    "indicator": "price",
                    "params": {},
                    "comparator": ">=",
                    "value": {"indicator": "price", "params": {"timeframe": "4h"}},
                },
            ]
        }
    }
    path = files["dir"] / "talib.json"
    path.write_text(json.dumps(strategy))
    result = run_json(capsys, "--strategy", str(path), "--candles", files["parquet"])
    summary = result["performance_summary"]
    for metric in (
        "sqn",
        "kelly",
        "ulcer_index",
        "max_run_up",
        "commission_paid",
        "long",
        "buy_and_hold_outperformance",
    ):
        assert metric in summary
    assert result["trades"] and {"mae", "mfe", "mae_percentage", "mfe_percentage", "bars"} <= set(result["trades"][0])
    # A condition on a finer timeframe than the candles' is refused, naming it
    strategy["entry_rules"]["conditions"][1]["value"]["params"]["timeframe"] = "30m"
    path.write_text(json.dumps(strategy))
    assert main(["run", "--strategy", str(path), "--candles", files["parquet"]]) == 2
    assert "condition timeframe 30m must be coarser than the backtest's 1h" in capsys.readouterr().err
