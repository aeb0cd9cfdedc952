"""Engine vs a plain NumPy reference, vectorbt and backtesting.py (issue 4's benchmark).

    .venv/bin/python bench/engine_vs_peers.py [--bars 1000000] [--repeats 9] [--no-peers]

One run: 1M synthetic 1-minute bars (seeded random walk), SMA(10) crosses above SMA(50) entry /
crosses below exit, long only, next-open fills, 0.1 % fees, all_in — first without stops, then
with SL 2 % / TP 4 %. The engine runs through its public API from the JSON strategy
(`validate_strategy` + `run_backtest`). Warm times are medians over `--repeats` rounds in which
the engine and the reference alternate (the machine is shared: interleaving exposes both to the
same load). Trade lists are checked: entry/exit bars and prices equal, quantities to 1e-9.

vectorbt and backtesting.py run as subprocesses in their own venv (bench/.venv-peers, built
from requirements/bench.txt on first use): they pull in numba, pandas and ~1 GB of packages
that neither the service nor its tests should import, and their JIT threads would disturb the
engine's timings in one process. backtesting.py is slow, so it runs once.

Finally whole processes are timed: `backtest run --json` (import + read Parquet + run + print)
against a process running the NumPy reference on the same file and printing the same trades,
and `python -X importtime` lists what the CLI's imports cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS_VENV = ROOT / "bench" / ".venv-peers"
FEE = 0.001
INITIAL = 10_000.0
FAST, SLOW = 10, 50
MINUTE_MS = 60_000
T0 = 1_672_531_200_000  # 2023-01-01T00:00:00Z


def strategy_json(stop_loss: float | None, take_profit: float | None) -> dict:
    def cross(comparator: str) -> dict:
        return {
            "operator": "and",
            "conditions": [
                {
                    "indicator": "sma",
                    "params": {"period": FAST},
                    "comparator": comparator,
                    "value": {"indicator": "sma", "params": {"period": SLOW}},
                }
            ],
        }

    config = {"direction": "long", "position_sizing": "all_in"}
    if stop_loss is not None:
        config |= {"stop_loss": stop_loss, "take_profit": take_profit}
    return {"entry_rules": cross("crosses_above"), "exit_rules": cross("crosses_below"), "config": config}


def synthetic_ohlc(bars: int, seed: int = 20240101):
    """A random walk whose drift wanders (an AR(1) with a ~100-bar memory), so trends exist for
    the crossover to catch: over 1M bars it trades ~11k times and ends neither at zero nor
    astronomically rich, and its 2 %/4 % stops trigger a few hundred times. Realistic wicks."""
    import numpy as np

    rng = np.random.default_rng(seed)
    drift_shocks = rng.normal(0.0, 1.5e-5, bars).tolist()
    drift, level = [], 0.0
    for shock in drift_shocks:  # data generation only, once per run
        level = 0.99 * level + shock
        drift.append(level)
    returns = rng.normal(0.0, 0.0008, bars) + np.array(drift)
    close = 20_000.0 * np.exp(np.cumsum(returns))
    opens = np.empty(bars)
    opens[0] = 20_000.0
    opens[1:] = close[:-1] * np.exp(rng.normal(0.0, 0.0001, bars - 1))
    high = np.maximum(opens, close) * np.exp(np.abs(rng.normal(0.0, 0.0004, bars)))
    low = np.minimum(opens, close) * np.exp(-np.abs(rng.normal(0.0, 0.0004, bars)))
    volume = rng.gamma(2.0, 5.0, bars)
    ts = T0 + MINUTE_MS * np.arange(bars, dtype=np.int64)
    return ts, opens, high, low, close, volume


# --- the plain NumPy reference ----------------------------------------------------------------


def numpy_reference(o, h, l, c, stop_loss=None, take_profit=None, metrics=False):
    """SMA crossover, next-open fills, all-in with fees, optional SL/TP — written for this one
    strategy with plain array code. Crossovers alternate (an entry cross is always followed by an
    exit cross before the next entry cross), so every entry cross opens a trade and a stop only
    shortens the trade it belongs to."""
    import numpy as np

    n = len(c)
    sums = np.cumsum(c)
    fast = np.full(n, np.nan)
    slow = np.full(n, np.nan)
    fast[FAST - 1] = sums[FAST - 1] / FAST
    fast[FAST:] = (sums[FAST:] - sums[:-FAST]) / FAST
    slow[SLOW - 1] = sums[SLOW - 1] / SLOW
    slow[SLOW:] = (sums[SLOW:] - sums[:-SLOW]) / SLOW
    above = fast > slow
    below = fast < slow
    entry = np.zeros(n, dtype=bool)
    exit_ = np.zeros(n, dtype=bool)
    entry[SLOW:] = above[SLOW:] & ~above[SLOW - 1 : -1]
    exit_[SLOW:] = below[SLOW:] & ~below[SLOW - 1 : -1]

    fill = np.flatnonzero(entry[:-1]) + 1
    signal_bars = np.flatnonzero(exit_[:-1])
    k = np.searchsorted(signal_bars, fill)
    exit_bar = np.where(k < len(signal_bars), signal_bars[np.minimum(k, len(signal_bars) - 1)] + 1, n)
    assert (fill[1:] > exit_bar[:-1]).all(), "crossovers must alternate"
    entry_price = o[fill]
    exit_price = np.where(exit_bar < n, o[np.minimum(exit_bar, n - 1)], c[-1])

    if stop_loss is not None:
        sl = entry_price * (1 - stop_loss / 100)
        tp = entry_price * (1 + take_profit / 100)
        lengths = exit_bar - fill
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        bars = np.arange(lengths.sum()) - np.repeat(offsets - fill, lengths)
        hit_sl = l[bars] <= np.repeat(sl, lengths)
        hit_tp = h[bars] >= np.repeat(tp, lengths)
        hits = np.flatnonzero(hit_sl | hit_tp)
        trade = np.searchsorted(offsets, hits, side="right") - 1
        first = np.concatenate(([True], trade[1:] != trade[:-1]))
        hits, trade = hits[first], trade[first]
        bar = bars[hits]
        gap_tp = hit_tp[hits] & (o[bar] >= tp[trade])
        at_sl = hit_sl[hits] & ~gap_tp
        exit_bar[trade] = bar
        exit_price[trade] = np.where(at_sl, np.minimum(o[bar], sl[trade]), np.where(gap_tp, o[bar], tp[trade]))

    closed = exit_bar < n
    growth = np.where(closed, exit_price * (1 - FEE), exit_price) / (entry_price * (1 + FEE))
    equity_before = INITIAL * np.concatenate(([1.0], np.cumprod(growth)[:-1]))
    quantity = equity_before / (entry_price * (1 + FEE))
    cash_after = equity_before * growth

    segments = np.empty(2 * len(fill) + 2, dtype=np.int64)
    segments[0], segments[-1] = 0, n
    segments[1:-1:2], segments[2:-1:2] = fill, exit_bar
    lengths = np.diff(segments)
    level = np.empty(2 * len(fill) + 1)
    slope = np.zeros(2 * len(fill) + 1)
    level[0], level[2::2] = INITIAL, cash_after
    level[1::2] = equity_before - quantity * entry_price * (1 + FEE)
    slope[1::2] = quantity
    equity = np.repeat(level, lengths) + np.repeat(slope, lengths) * c
    result = {
        "entry_bar": fill,
        "exit_bar": np.where(closed, exit_bar, -1),
        "entry_price": entry_price,
        "exit_price": exit_price,
        "quantity": quantity,
        "final_balance": float(equity[-1]),
        "equity": equity,
    }
    if metrics:  # the summary's core: drawdown, Sharpe, Sortino, win rate, profit factor
        peak = np.maximum.accumulate(equity)
        returns = equity[1:] / equity[:-1] - 1
        pnl = (cash_after - equity_before)[closed]
        result["summary"] = {
            "max_drawdown": float((peak - equity).max()),
            "max_drawdown_percentage": float(((peak - equity) / peak).max() * 100),
            "sharpe": float(returns.mean() / returns.std(ddof=1)),
            "sortino": float(returns.mean() / np.sqrt(np.mean(np.minimum(returns, 0) ** 2))),
            "win_rate": float((pnl > 0).mean() * 100),
            "profit_factor": float(pnl[pnl > 0].sum() / -pnl[pnl < 0].sum()),
        }
    return result


# --- comparisons and timing -------------------------------------------------------------------


def compare(name: str, reference: dict, other: dict, check_quantity: bool = True) -> str:
    """One line: trade count, whether bars/prices agree exactly and quantities to 1e-9."""
    import numpy as np

    count = len(reference["entry_bar"])
    if len(other["entry_bar"]) != count:
        first = next(
            (i for i, (a, b) in enumerate(zip(reference["entry_bar"], other["entry_bar"])) if a != b),
            min(count, len(other["entry_bar"])),
        )
        return f"{name}: {len(other['entry_bar'])} trades vs {count}; first difference at trade {first}"
    problems = []
    for key in ("entry_bar", "exit_bar"):
        bad = np.flatnonzero(np.asarray(other[key]) != np.asarray(reference[key]))
        if len(bad):
            problems.append(f"{key} differs on {len(bad)} trades (first #{bad[0]})")
    for key in ("entry_price", "exit_price"):
        bad = np.flatnonzero(~np.isclose(other[key], reference[key], rtol=1e-12, atol=0))
        if len(bad):
            problems.append(f"{key} differs on {len(bad)} trades (first #{bad[0]})")
    if check_quantity:
        error = float(np.max(np.abs(np.asarray(other["quantity"]) / reference["quantity"] - 1))) if count else 0.0
        if error > 1e-9:
            problems.append(f"quantity differs by up to {error:.1e} relative")
        quantity_note = f", quantity max rel. error {error:.1e}"
    else:
        quantity_note = ""
    verdict = "IDENTICAL" if not problems else "DIFFERENT: " + "; ".join(problems)
    return f"{name}: {count} trades {verdict}{quantity_note}"


def interleaved_times(functions: dict, repeats: int) -> dict[str, list[float]]:
    for function in functions.values():  # warm-up
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return times


def milliseconds(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e3:9.1f} ms (min {min(samples) * 1e3:7.1f})"


# --- peers (run inside bench/.venv-peers) -----------------------------------------------------


def ensure_peers_venv() -> Path:
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {PEERS_VENV.relative_to(ROOT)} from requirements/bench.txt (first run only) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-r",
                str(ROOT / "requirements" / "bench.txt"),
            ],
            check=True,
        )
    return python


def run_peer(python: Path, peer: str, data: Path, stops: bool) -> dict:
    command = [str(python), str(Path(__file__).resolve()), "--peer", peer, "--data", str(data)]
    if stops:
        command.append("--stops")
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode:
        return {"error": completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "failed"}
    return json.loads(completed.stdout)


def peer_main(peer: str, data: Path, stops: bool) -> None:
    """Subprocess side: load the candles, run the peer, print times and its trade list."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    table = pq.read_table(data / "candles.parquet")
    frame = pd.DataFrame(
        {
            "Open": table.column("open").to_numpy(),
            "High": table.column("high").to_numpy(),
            "Low": table.column("low").to_numpy(),
            "Close": table.column("close").to_numpy(),
            "Volume": table.column("volume").to_numpy(),
        },
        index=pd.to_datetime(table.column("ts").to_numpy()),
    )
    stop_loss, take_profit = (0.02, 0.04) if stops else (None, None)
    out = {"times": {}}
    if peer == "vectorbt":
        import vectorbt as vbt

        def run():
            fast = vbt.MA.run(frame["Close"], FAST)
            slow = vbt.MA.run(frame["Close"], SLOW)
            entries = fast.ma_crossed_above(slow).shift(1, fill_value=False)
            exits = fast.ma_crossed_below(slow).shift(1, fill_value=False)
            # vectorbt's stops default to the entry bar's close; ours are relative to the fill price
            kwargs = {"sl_stop": stop_loss, "tp_stop": take_profit, "stop_entry_price": "fillprice"} if stops else {}
            return vbt.Portfolio.from_signals(
                frame["Close"],
                entries,
                exits,
                price=frame["Open"],
                open=frame["Open"],
                high=frame["High"],
                low=frame["Low"],
                fees=FEE,
                init_cash=INITIAL,
                size=np.inf,
                direction="longonly",
                freq="1min",
                **kwargs,
            )

        start = time.perf_counter()
        portfolio = run()
        out["times"]["first_run"] = time.perf_counter() - start
        warm = []
        for _ in range(3):
            start = time.perf_counter()
            portfolio = run()
            warm.append(time.perf_counter() - start)
        out["times"]["warm"] = warm
        records = portfolio.trades.records
        still_open = records["status"].to_numpy() == 0
        out["trades"] = {
            "entry_bar": records["entry_idx"].to_numpy().tolist(),
            "exit_bar": np.where(still_open, -1, records["exit_idx"].to_numpy()).tolist(),
            "entry_price": records["entry_price"].to_numpy().tolist(),
            "exit_price": records["exit_price"].to_numpy().tolist(),
            "quantity": records["size"].to_numpy().tolist(),
        }
    else:
        from backtesting import Strategy
        from backtesting.lib import FractionalBacktest, crossover

        def sma(values, period):
            return pd.Series(values).rolling(period).mean().to_numpy()

        class SmaCross(Strategy):
            def init(self):
                self.fast = self.I(sma, self.data.Close, FAST)
                self.slow = self.I(sma, self.data.Close, SLOW)

            def next(self):
                for trade in self.trades:  # stops relative to the fill, known once filled
                    if stops and trade.sl is None:
                        trade.sl = trade.entry_price * (1 - stop_loss)
                        trade.tp = trade.entry_price * (1 + take_profit)
                if not self.position and crossover(self.fast, self.slow):
                    self.buy()
                elif self.position and crossover(self.slow, self.fast):
                    self.position.close()

        unit = 1e-12
        backtest = FractionalBacktest(frame, SmaCross, cash=INITIAL, commission=FEE, fractional_unit=unit)
        start = time.perf_counter()
        stats = backtest.run()
        out["times"]["first_run"] = time.perf_counter() - start
        closed = stats["_trades"]
        still_open = stats["_strategy"].trades  # in the scaled units FractionalBacktest trades in
        out["trades"] = {
            "entry_bar": closed["EntryBar"].tolist() + [trade.entry_bar for trade in still_open],
            "exit_bar": closed["ExitBar"].tolist() + [-1] * len(still_open),
            "entry_price": closed["EntryPrice"].tolist() + [trade.entry_price / unit for trade in still_open],
            "exit_price": closed["ExitPrice"].tolist() + [float(frame["Close"].iloc[-1])] * len(still_open),
            "quantity": closed["Size"].tolist() + [trade.size * unit for trade in still_open],
        }
    print(json.dumps(out))


# --- whole processes --------------------------------------------------------------------------


def reference_process_main(parquet: str, stops: bool) -> None:
    """What a process doing the NumPy reference does: read Parquet, run, print trades as JSON."""
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    ts = table.column("ts").cast("int64").to_numpy()
    o, h, l, c = (table.column(name).to_numpy() for name in ("open", "high", "low", "close"))
    result = numpy_reference(o, h, l, c, *((2.0, 4.0) if stops else (None, None)), metrics=True)
    entry_times = np.datetime_as_string(ts[result["entry_bar"]].astype("datetime64[ms]"), unit="s")
    exit_times = np.datetime_as_string(ts[result["exit_bar"]].astype("datetime64[ms]"), unit="s")
    trades = [
        {
            "entry_time": a + "Z",
            "exit_time": b + "Z" if x >= 0 else None,
            "entry_price": p,
            "exit_price": q,
            "quantity": u,
        }
        for a, b, x, p, q, u in zip(
            entry_times.tolist(),
            exit_times.tolist(),
            result["exit_bar"].tolist(),
            result["entry_price"].tolist(),
            result["exit_price"].tolist(),
            result["quantity"].tolist(),
        )
    ]
    sys.stdout.write(
        json.dumps({"final_balance": result["final_balance"], "summary": result["summary"], "trades": trades}) + "\n"
    )


def process_times(commands: dict[str, list[str]], repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(repeats):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, check=True, env=env, cwd=ROOT)
            times[name].append(time.perf_counter() - start)
    return times


def import_costs(command: list[str], top: int = 8) -> list[tuple[str, float]]:
    """Cumulative import time of the top-level modules a command imports (python -X importtime)."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", *command],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    costs = []
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        if not name.startswith("  "):  # top-level import (nested ones are indented further)
            costs.append((name.strip(), int(cumulative) / 1e3))
    return sorted(costs, key=lambda item: -item[1])[:top]


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-peers", action="store_true", help="skip vectorbt and backtesting.py")
    parser.add_argument("--peer", choices=["vectorbt", "backtesting"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stops", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reference-process", metavar="PARQUET", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        peer_main(args.peer, args.data, args.stops)
        return
    if args.reference_process:
        reference_process_main(args.reference_process, args.stops)
        return

    sys.path.insert(0, str(ROOT))
    import numpy as np
    import pyarrow.parquet as pq

    from shared.candles import Candles
    from shared.engine import BacktestSettings, run_backtest
    from shared.strategy import validate_strategy

    candles = Candles.from_arrays(*synthetic_ohlc(args.bars))
    settings = BacktestSettings(initial_balance=INITIAL, commission=FEE * 100, timeframe="1m")
    peers_python = None if args.no_peers else ensure_peers_venv()

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        pq.write_table(candles.to_arrow(), data / "candles.parquet")
        print(
            f"{args.bars:,} 1-minute bars, SMA({FAST}) x SMA({SLOW}) long-only, next-open fills, fee {FEE:.1%}, all_in"
        )
        for stop_loss, take_profit in ((None, None), (2.0, 4.0)):
            stops = stop_loss is not None
            label = "SL 2 % / TP 4 %" if stops else "no stops"
            document = strategy_json(stop_loss, take_profit)
            strategy = validate_strategy(document)
            (data / f"strategy-{int(stops)}.json").write_text(json.dumps(document))

            def engine():
                return run_backtest(strategy, candles, settings)  # noqa: B023 - timed within this iteration

            def reference():
                return numpy_reference(candles.open, candles.high, candles.low, candles.close, stop_loss, take_profit)  # noqa: B023

            def reference_with_metrics(stop_loss=stop_loss, take_profit=take_profit):
                return numpy_reference(
                    candles.open, candles.high, candles.low, candles.close, stop_loss, take_profit, metrics=True
                )

            times = interleaved_times(
                {"engine": engine, "numpy reference": reference, "numpy reference + metrics": reference_with_metrics},
                args.repeats,
            )
            result, expected = engine(), reference()
            trades = result.trades
            ours = {
                "entry_bar": trades.entry_bar,
                "exit_bar": trades.exit_bar,
                "entry_price": trades.entry_price,
                "exit_price": trades.exit_price,
                "quantity": trades.quantity,
            }
            print(f"\n== {label} ==")
            print(compare("engine vs numpy reference", expected, ours))
            final_error = abs(result.final_balance / expected["final_balance"] - 1)
            print(
                f"final balance: engine {result.final_balance:,.6f}, reference {expected['final_balance']:,.6f} (rel. diff {final_error:.1e})"
            )
            base = statistics.median(times["numpy reference"])
            rows = [(name, samples) for name, samples in times.items()]
            if peers_python is not None:
                for peer in ("vectorbt", "backtesting"):
                    outcome = run_peer(peers_python, peer, data, stops)
                    if "error" in outcome:
                        print(f"{peer}: failed: {outcome['error']}")
                        continue
                    note = (
                        "fractional units of 1e-12; stops set once filled, so live from the next bar"
                        if peer == "backtesting"
                        else ""
                    )
                    print(
                        compare(
                            f"{peer} vs numpy reference",
                            expected,
                            {k: np.asarray(v) for k, v in outcome["trades"].items()},
                        )
                        + (f"  [{note}]" if note and stops else "")
                    )
                    rows.append((f"{peer} first run", [outcome["times"]["first_run"]]))
                    if "warm" in outcome["times"]:
                        rows.append((f"{peer} warm", outcome["times"]["warm"]))
            print(f"{'':34}{'median':>12}{'':16}{'x reference':>12}")
            for name, samples in rows:
                print(f"{name:34}{milliseconds(samples)}{statistics.median(samples) / base:>10.2f}x")

            engine_process = [
                str(Path(sys.executable).parent / "backtest"),
                "run",
                "--strategy",
                str(data / f"strategy-{int(stops)}.json"),
                "--candles",
                str(data / "candles.parquet"),
                "--timeframe",
                "1m",
                "--commission",
                "0.1",
                "--json",
            ]
            reference_process = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--reference-process",
                str(data / "candles.parquet"),
            ]
            if stops:
                reference_process.append("--stops")
            processes = process_times(
                {"backtest run --json": engine_process, "numpy reference process": reference_process},
                max(3, args.repeats // 2),
            )
            reference_seconds = statistics.median(processes["numpy reference process"])
            print(f"{'whole process':34}{'median':>12}{'':16}{'x reference':>12}")
            for name, samples in processes.items():
                print(f"{name:34}{milliseconds(samples)}{statistics.median(samples) / reference_seconds:>10.2f}x")

        print("\nimport costs of `backtest run` (python -X importtime, cumulative, top level):")
        cli = ["-c", "import sys; from adapters.cli import main; sys.exit(main(sys.argv[1:]))", *engine_process[1:]]
        for name, ms in import_costs(cli):
            print(f"  {name:40}{ms:8.1f} ms")


if __name__ == "__main__":
    main()
