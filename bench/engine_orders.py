"""Orders and costs (issue 16): limit entries + partial take-profits + intrabar 1m resolution on one
year of 1h bars, against the single vectorised pass without them, in the same run.

    .venv/bin/python bench/engine_orders.py [--repeats 9]

Data: one year of synthetic 1-minute bars (bench/engine_vs_peers.py's seeded random walk),
aggregated to 8760 hourly bars; the 1-minute bars are the intrabar candles. Strategy: SMA(10)
crosses above SMA(50) entry / crosses below exit, long, all in, stop-loss 2 %.
- basic: market entries, take-profit 4 % — the vectorised pass (`shared.engine.exits`);
- orders: a limit 0.3 % below the signal close live 3 bars, take-profit levels 2 %/50 % and
  4 %/50 %, every fill resolved on the 1-minute path (`shared.engine.positions`);
- orders + costs: the same with maker/taker fees, funding every 8 h, tick/lot/min-notional rules.
Each is timed through `run_backtest` (signals included) and `simulate` alone (the engine only),
as medians over interleaved rounds; the ratios to `basic` are the figures to record.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_vs_peers import interleaved_times, milliseconds, strategy_json, synthetic_ohlc
from shared.candles import Candles
from shared.engine import BacktestSettings, run_backtest, simulate
from shared.engine.positions import MarketData
from shared.market_data.funding import FundingRates
from shared.market_data.symbol_rules import SymbolRules
from shared.strategy import validate_strategy

MINUTES_PER_YEAR = 365 * 24 * 60


def hourly(minute: Candles) -> Candles:
    hours = len(minute) // 60
    shape = (hours, 60)
    return Candles.from_arrays(
        minute.ts[::60][:hours],
        minute.open[::60][:hours],
        minute.high[: hours * 60].reshape(shape).max(axis=1),
        minute.low[: hours * 60].reshape(shape).min(axis=1),
        minute.close[59::60][:hours],
        minute.volume[: hours * 60].reshape(shape).sum(axis=1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()

    minute = Candles.from_arrays(*synthetic_ohlc(MINUTES_PER_YEAR))
    candles = hourly(minute)
    basic_json = strategy_json(2.0, 4.0)
    orders_json = {
        **basic_json,
        "config": {
            "direction": "long",
            "position_sizing": "all_in",
            "stop_loss": 2.0,
            "entry_order": {"type": "limit", "offset": 0.3, "expire_bars": 3},
            "take_profit_levels": [{"percent": 2, "size": 50}, {"percent": 4, "size": 50}],
        },
    }
    basic, orders = validate_strategy(basic_json), validate_strategy(orders_json)
    plain = BacktestSettings(commission=0.1, timeframe="1h")
    intrabar = BacktestSettings(commission=0.1, timeframe="1h", intrabar_timeframe="1m")
    costed = BacktestSettings(
        maker_fee=0.02, taker_fee=0.05, timeframe="1h", intrabar_timeframe="1m", funding=True, slippage_ticks=1
    )
    funding_times = candles.ts[0] + 8 * 3_600_000 * np.arange(len(candles) // 8 + 1)
    fine = MarketData(fine=minute)
    full = MarketData(
        fine=minute,
        funding=FundingRates(funding_times, np.full(len(funding_times), 1e-4)),
        rules=SymbolRules(tick_size=0.01, lot_size=0.0001, min_notional=5.0),
    )
    signals = {name: strategy.signals(candles) for name, strategy in (("basic", basic), ("orders", orders))}

    cases = {
        "basic (vectorised)": lambda: run_backtest(basic, candles, plain),
        "orders (limit+TP levels+1m)": lambda: run_backtest(orders, candles, intrabar, fine),
        "orders + costs": lambda: run_backtest(orders, candles, costed, full),
        "engine only: basic": lambda: simulate(candles, signals["basic"], basic.config, plain),
        "engine only: orders": lambda: simulate(candles, signals["orders"], orders.config, intrabar, fine),
        "engine only: orders + costs": lambda: simulate(candles, signals["orders"], orders.config, costed, full),
    }
    times = interleaved_times(cases, args.repeats)
    results = {name: case() for name, case in cases.items()}
    print(f"{len(candles)} hourly bars, {len(minute)} 1-minute intrabar candles, {args.repeats} rounds")
    for name, samples in times.items():
        base = "basic (vectorised)" if not name.startswith("engine only") else "engine only: basic"
        ratio = statistics.median(samples) / statistics.median(times[base])
        summary = results[name].performance_summary
        print(
            f"  {name:30s} {milliseconds(samples)}  x{ratio:5.1f}  trades {summary['total_trades']:4d}  "
            f"ambiguous {summary['ambiguous_bars']:3d}  funding {summary['funding_paid']:9.2f}  "
            f"skipped {summary['skipped_orders']}"
        )


if __name__ == "__main__":
    main()
