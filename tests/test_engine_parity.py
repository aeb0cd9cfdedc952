"""The vectorised engine equals a plain bar-by-bar simulator of the documented conventions.

`bar_by_bar` below is written independently of the engine, as the conventions read in the README:
one loop over bars, scalar state, orders at the open, stops intrabar, signals at the close. Random
price paths, random signals and random strategies (long/short, SL/TP/trailing, every sizing
mode, leverage) must give the same trades and equity curve.
"""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.candles import Candles
from shared.engine import BacktestSettings, simulate
from shared.engine import exits as exits_module
from shared.strategy.model import Signals, StrategyConfig


def bar_by_bar(candles: Candles, entry, exit_, config: StrategyConfig, fee, leverage, maintenance, balance):
    o, h, l, c = candles.open, candles.high, candles.low, candles.close
    n = len(c)
    d = 1 if config.direction == "long" else -1
    slip = config.slippage / 100
    sl = None if config.stop_loss is None else config.stop_loss / 100
    tp = None if config.take_profit is None else config.take_profit / 100
    tr = None if config.trailing_stop is None else config.trailing_stop / 100
    equity = balance
    position = None
    pending_entry = pending_exit = False
    trades, curve = [], []

    def close_position(t, price, reason, liquidation=False):
        nonlocal equity, position
        p, u = position["entry"], position["units"]
        exit_fee = u * (fee + maintenance) * price if liquidation else u * fee * price
        fees = position["entry_fee"] + exit_fee
        pnl = d * u * (price - p) - fees
        equity = 0.0 if liquidation and position["all_committed"] else max(0.0, equity + pnl)
        trades.append((position["bar"], t, reason, p, price, u, pnl, fees))
        position = None

    for t in range(n):
        if position is None and pending_entry and equity > 0:
            p = o[t] * (1 + d * slip)
            most = equity * leverage / (p * (1 + leverage * fee))
            mode = config.position_sizing
            if mode == "all_in":
                units = most
            elif mode == "percent_of_equity":
                units = min(most, equity * config.risk_percentage / 100 * leverage / (p * (1 + leverage * fee)))
            elif mode == "fixed_quantity":
                units = min(most, config.quantity)
            elif mode == "fixed_notional":
                units = min(most, config.notional / p)
            else:
                units = min(most, equity * config.risk_percentage / 100 / (p * sl))
            position = {"bar": t, "entry": p, "units": units, "entry_fee": units * p * fee, "best": p, "all_committed": units == most}
        elif position is not None and pending_exit:
            close_position(t, o[t] * (1 - d * slip), "signal")
        pending_entry = pending_exit = False

        if position is not None:
            p = position["entry"]
            adverse_levels, stop_loss, trail = [], None, None
            if sl is not None:
                stop_loss = p * (1 - sl) if d > 0 else p * (1 + sl)
                adverse_levels.append(stop_loss)
            if tr is not None:
                trail = position["best"] * (1 - tr) if d > 0 else position["best"] * (1 + tr)
                adverse_levels.append(trail)
            liquidation = None
            if d < 0 or leverage > 1:
                liquidation = p * ((1 - d / leverage) / (1 - d * (fee + maintenance)))
                adverse_levels.append(liquidation)
            take_profit = None if tp is None else (p * (1 + tp) if d > 0 else p * (1 - tp))
            worst, best = (l[t], h[t]) if d > 0 else (h[t], l[t])
            adverse = (max if d > 0 else min)(adverse_levels) if adverse_levels else None
            hit_adverse = adverse is not None and (worst <= adverse if d > 0 else worst >= adverse)
            hit_profit = take_profit is not None and (best >= take_profit if d > 0 else best <= take_profit)
            gap_profit = hit_profit and (o[t] >= take_profit if d > 0 else o[t] <= take_profit)
            if gap_profit:
                close_position(t, o[t], "take_profit")
            elif hit_adverse:
                touched = min(o[t], adverse) if d > 0 else max(o[t], adverse)
                fill = touched * (1 - d * slip)
                if liquidation is not None and (fill <= liquidation if d > 0 else fill >= liquidation):
                    close_position(t, liquidation, "liquidation", liquidation=True)
                elif stop_loss is not None and (trail is None or (stop_loss >= trail if d > 0 else stop_loss <= trail)):
                    close_position(t, fill, "stop_loss")
                else:
                    close_position(t, fill, "trailing_stop")
            elif hit_profit:
                close_position(t, take_profit, "take_profit")
            else:
                position["best"] = max(position["best"], h[t]) if d > 0 else min(position["best"], l[t])

        if t < n - 1:
            if position is None:
                pending_entry = bool(entry[t])
            else:
                pending_exit = bool(exit_[t])
        if position is None:
            curve.append(equity)
        else:
            curve.append(equity - position["entry_fee"] + d * position["units"] * (c[t] - position["entry"]))

    if position is not None:
        p, u = position["entry"], position["units"]
        trades.append((position["bar"], -1, "open", p, c[-1], u, d * u * (c[-1] - p) - position["entry_fee"], position["entry_fee"]))
    return trades, np.array(curve)


def random_candles(rng: np.random.Generator, n: int) -> Candles:
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    opens = np.concatenate(([100.0], close[:-1] * np.exp(rng.normal(0, 0.005, n - 1))))
    high = np.maximum(opens, close) * np.exp(np.abs(rng.normal(0, 0.01, n)))
    low = np.minimum(opens, close) * np.exp(-np.abs(rng.normal(0, 0.01, n)))
    return Candles.from_arrays(np.arange(n) * 3_600_000, opens, high, low, close, np.ones(n))


configs = st.fixed_dictionaries(
    {
        "direction": st.sampled_from(["long", "short"]),
        "stop_loss": st.one_of(st.none(), st.floats(0.5, 8)),
        "take_profit": st.one_of(st.none(), st.floats(0.5, 12)),
        "trailing_stop": st.one_of(st.none(), st.floats(0.5, 8)),
        "slippage": st.sampled_from([0.0, 0.05, 0.3]),
        "position_sizing": st.sampled_from(
            ["all_in", "percent_of_equity", "fixed_quantity", "fixed_notional", "risk_based"]
        ),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    raw=configs,
    commission=st.sampled_from([0.0, 0.1, 1.0]),
    leverage=st.sampled_from([1.0, 3.0, 20.0]),
    entry_rate=st.floats(0.02, 0.6),
    exit_rate=st.floats(0.02, 0.6),
    precheck=st.booleans(),
)
def test_engine_matches_bar_by_bar_simulation(seed, raw, commission, leverage, entry_rate, exit_rate, precheck):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 250))
    candles = random_candles(rng, n)
    entry, exit_ = rng.random(n) < entry_rate, rng.random(n) < exit_rate
    extra = {}
    if raw["position_sizing"] in ("percent_of_equity", "risk_based"):
        extra["risk_percentage"] = float(rng.choice([1.0, 30.0, 100.0, 250.0]))
    if raw["position_sizing"] == "risk_based" and raw["stop_loss"] is None:
        raw = {**raw, "stop_loss": 3.0}
    extra["quantity"] = float(rng.choice([0.5, 100.0]))
    extra["notional"] = float(rng.choice([500.0, 1e6]))
    config = StrategyConfig(**raw, **extra)
    backtest = BacktestSettings(initial_balance=10_000.0, commission=commission, leverage=leverage)

    # Without the window pre-check every candidate goes through the bar-by-bar block scan.
    scan_all = patch.object(exits_module, "_rows_that_may_stop", lambda _c, fill_bar, *_: np.arange(len(fill_bar)))
    if precheck:
        result = simulate(candles, Signals(entry, exit_), config, backtest)
    else:
        with scan_all:
            result = simulate(candles, Signals(entry, exit_), config, backtest)
    expected, curve = bar_by_bar(candles, entry, exit_, config, commission / 100, leverage, 0.005, 10_000.0)

    got = result.trades.to_records()
    assert [(r["entry_bar"], r["exit_bar"] if r["exit_bar"] is not None else -1, r["exit_reason"]) for r in got] == [
        trade[:3] for trade in expected
    ]
    for record, (_, _, _, entry_price, exit_price, units, pnl, fees) in zip(got, expected):
        np.testing.assert_allclose(
            [record["entry_price"], record["exit_price"], record["quantity"]], [entry_price, exit_price, units], rtol=1e-9
        )
        np.testing.assert_allclose([record["pnl"], record["fees"]], [pnl, fees], rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(result.equity_curve, curve, rtol=1e-9, atol=1e-7)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), entry_rate=st.floats(0.01, 1.0), exit_rate=st.floats(0.0, 0.5))
def test_window_extremes_equal_brute_force(seed, entry_rate, exit_rate):
    # Windows as the engine forms them: from each candidate to its signal exit (or the end)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 120))
    series = rng.normal(size=n).round(1)  # rounding makes ties common
    start = np.flatnonzero(rng.random(n - 1) < entry_rate) + 1
    signals = np.flatnonzero(rng.random(n - 1) < exit_rate)
    end = np.append(signals, n - 1)[np.searchsorted(signals, start)] + 1
    if not len(start):
        return
    for ufunc, reduce in ((np.minimum, np.min), (np.maximum, np.max)):
        got = exits_module._window_extremes(series, ufunc, start, end)
        assert got.tolist() == [reduce(series[a:b]) for a, b in zip(start, end)]
