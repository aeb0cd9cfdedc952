"""Time to first chart in the browser: a 1M-bar, ~10k-trade backtest against a small one.

    .venv/bin/python bench/web_first_chart.py [--bars 1000000] [--repeats 3]

On a local stack (every Lambda in-process, moto as AWS) with the dashboard served as `make dev`
serves it: 1M synthetic 1-minute bars (seeded random walk) and SMA(15)/SMA(60) crosses (10,616
trades), beside the reference in the same run: the same strategy over 2,000 bars (a few trades).
Headless Chromium opens each backtest's page cold (a fresh page, the session already in
sessionStorage) and times, from navigation start, until the price chart and then every chart
(price, equity, underwater) have drawn pixels, and the trades table has its first page. Printed:
medians in ms and the ratio big/reference (what the size of the run costs the page).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from local.web import WebServer  # noqa: E402
from tests.fanout.stack import START_MS, random_walk, start_stack  # noqa: E402

MINUTE_MS = 60_000
REFERENCE_BARS = 2_000
STRATEGY = {
    "entry_rules": {
        "conditions": [
            {
                "indicator": "sma",
                "params": {"period": 15},
                "comparator": "crosses_above",
                "value": {"indicator": "sma", "params": {"period": 60}},
            }
        ]
    },
    "exit_rules": {
        "conditions": [
            {
                "indicator": "sma",
                "params": {"period": 15},
                "comparator": "crosses_below",
                "value": {"indicator": "sma", "params": {"period": 60}},
            }
        ]
    },
    "config": {},
}


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    local, stack = start_stack()
    web = None
    try:
        runs = {}
        user = stack.sign_up("Bench")
        strategy_id = stack.create_strategy(user, {"name": "SMA 15/60", **STRATEGY})["id"]
        for name, symbol, bars in (("reference", "REFUSDT", REFERENCE_BARS), ("big", "BIGUSDT", args.bars)):
            stack.import_candles(symbol, "1m", random_walk(42, bars, MINUTE_MS))
            started = time.perf_counter()
            created = stack.create_backtest(
                user,
                strategy_id,
                symbol=symbol,
                timeframe="1m",
                start_time=iso(START_MS),
                end_time=iso(START_MS + bars * MINUTE_MS),
                initial_balance=10_000,
            )
            done = stack.wait_for_backtest(user, created["id"], timeout=900)
            assert done["status"] == "completed", done
            runs[name] = {
                "id": created["id"],
                "bars": bars,
                "trades": done["performance_summary"]["total_trades"],
                "run_s": round(time.perf_counter() - started, 1),
            }
        web = WebServer(0, local.api_url, local.ws_url).start()
        status, me = stack.request("GET", "/backtests?per_page=1", user.token)  # the session is valid
        assert status == 200, me
        session = {"token": user.token, "user": {"id": user.id, "email": user.email, "name": "Bench"}}
        measured = subprocess.run(
            ["node", "bench/first_chart.mjs", web.url, json.dumps(session), json.dumps(runs), str(args.repeats)],
            cwd=ROOT / "web",
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        timings = json.loads(measured.strip().splitlines()[-1])
        print(
            f"{'backtest':>9} {'bars':>9} {'trades':>7} {'run s':>6} {'price chart ms':>14} {'all charts ms':>13} "
            f"{'trades table ms':>15}"
        )
        for name, run in runs.items():
            t = timings[name]
            print(
                f"{name:>9} {run['bars']:>9} {run['trades']:>7} {run['run_s']:>6} {t['price']:>14.0f} {t['charts']:>13.0f} "
                f"{t['table']:>15.0f}"
            )
        ratio = {key: timings["big"][key] / timings["reference"][key] for key in ("price", "charts", "table")}
        print(
            f"big / reference: price chart {ratio['price']:.2f}x, all charts {ratio['charts']:.2f}x, "
            f"trades table {ratio['table']:.2f}x"
        )
    finally:
        if web:
            web.stop()
        local.stop()


if __name__ == "__main__":
    main()
