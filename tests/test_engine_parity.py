"""The vectorised engine equals a plain bar-by-bar simulator of the documented conventions.

`bar_by_bar` below is written independently of the engine, as the conventions read in the README:
one loop over bars, scalar state, orders at the open, stops intrabar, signals at the close. Random
price paths, random signals and random strategies (long/short, SL/TP/trailing, every sizing
mode, leverage) must give the same trades and equity curve.
"""

from __future__ import annotations

import math
from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.candles import Candles
from shared.engine import BacktestSettings, simulate
from shared.engine import exits as exits_module
from shared.engine.positions import MarketData
from shared.market_data.funding import FundingRates
from shared.market_data.symbol_rules import SymbolRules
from shared.strategy.model import EntryOrder, Pyramiding, Signals, StrategyConfig, TakeProfitLevel


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
            position = {
                "bar": t,
                "entry": p,
                "units": units,
                "entry_fee": units * p * fee,
                "best": p,
                "all_committed": units == most,
            }
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
        trades.append(
            (
                position["bar"],
                -1,
                "open",
                p,
                c[-1],
                u,
                d * u * (c[-1] - p) - position["entry_fee"],
                position["entry_fee"],
            )
        )
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
            [record["entry_price"], record["exit_price"], record["quantity"]],
            [entry_price, exit_price, units],
            rtol=1e-9,
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


# ---------------------------------------------------------------- orders and costs
def bar_by_bar_orders(
    candles: Candles,
    signals: Signals,
    config: StrategyConfig,
    backtest: BacktestSettings,
    market: MarketData,
    step_ms: int,
):
    """The README's conventions for entry orders, take-profit levels, break-even, trailing
    activation, pyramiding, both sides, maker/taker fees, tick slippage, exchange rules, funding
    and intrabar paths, one bar at a time. Returns (trades, equity curve, ambiguous, skipped)."""
    o, h, l, c, ts = candles.open, candles.high, candles.low, candles.close, candles.ts
    n = len(c)
    rules = market.rules
    tick, lot, min_notional = rules.tick_size, rules.lot_size, rules.min_notional
    taker, maker = backtest.taker / 100, backtest.maker / 100
    lev, mm, slip = backtest.leverage, backtest.maintenance_margin / 100, config.slippage / 100
    slip_ticks = (backtest.slippage_ticks or 0) * (tick or 0)
    optimistic = backtest.same_bar_priority == "take_profit"
    can_liquidate = config.direction != "long" or lev > 1
    order_type = config.entry_order.type
    pyramid = config.pyramiding
    max_entries = pyramid.max_entries if pyramid else 1

    def rnd(price):
        return price if tick is None else round(price / tick) * tick

    def slipped(price, d, entering):
        sign = d if entering else -d
        return rnd(price * (1 + sign * slip) + sign * slip_ticks)

    def fine_path(t, d):
        if market.fine is None:
            return None
        fine = market.fine
        rows = np.flatnonzero((fine.ts >= ts[t]) & (fine.ts < ts[t] + step_ms))
        if not len(rows):
            return None
        points = []
        for r in rows:
            fo, fh, fl, fc = fine.open[r], fine.high[r], fine.low[r], fine.close[r]
            first, second = (fh, fl) if fh - fo <= fo - fl else (fl, fh)
            points += [(d * fo, True), (d * first, False), (d * second, False), (d * fc, False)]
        return points

    both = config.direction == "both"
    long_entry = np.asarray(signals.entry, dtype=bool)
    short_entry = np.asarray(signals.short_entry, dtype=bool) if both else long_entry
    if both:
        conflict = long_entry & short_entry
        long_entry, short_entry = long_entry & ~conflict, short_entry & ~conflict
    entry_of = {1: long_entry, -1: short_entry}
    exit_of = {
        1: np.asarray(signals.exit, dtype=bool),
        -1: np.asarray(signals.short_exit if both else signals.exit, dtype=bool),
    }
    sides = {"long": (1,), "short": (-1,), "both": (1, -1)}[config.direction]

    cash = float(backtest.initial_balance)
    trades, curve, alive = [], [], []

    def holds(bar, at_open, t, time):
        """Whether a fill at `bar` (at its open or inside it) happened before funding time
        `time` inside bar t: a fill at the open holds at that open, one inside the bar after it."""
        return bar < t or (bar == t and (at_open or time > ts[t]))

    ambiguous = skipped = 0
    order = None  # pending entry order: dict(side, type, level, last)
    pos = None
    pending = None  # at the next open: ("exit", reversal) or ("add",)

    def weight(price, fee, k):
        share = 1.0 if pyramid is None else pyramid.size[k] / 100
        if config.position_sizing in ("all_in", "percent_of_equity"):
            return share / (price * (1 + lev * fee))
        return share if config.position_sizing == "fixed_quantity" else share / price

    def units_for(k, price, fee, equity):
        share = 1.0 if pyramid is None else pyramid.size[k] / 100
        mode = config.position_sizing
        scale = {
            "all_in": equity * lev,
            "percent_of_equity": min(1, config.risk_percentage / 100) * equity * lev,
            "risk_based": equity * (config.risk_percentage or 0) / 100 / ((config.stop_loss or 1) / 100),
            "fixed_quantity": config.quantity,
            "fixed_notional": config.notional,
        }[mode]
        cap = share * equity * lev / (price * (1 + lev * fee))
        units = min(weight(price, fee, k) * scale, cap)
        at_cap = units >= cap * (1 - 1e-12) and share == 1.0
        if lot is not None:
            units = math.floor(units / lot + 1e-9) * lot
        if units <= 0 or (min_notional is not None and units * price < min_notional):
            return 0.0, at_cap
        return units, at_cap

    def open_position(t, d, price, fee, at_open):
        nonlocal pos, skipped
        units, at_cap = units_for(0, price, fee, cash)
        if units == 0.0:
            skipped += 1
            return False
        entry = {
            "bar": t,
            "price": price,
            "fee": fee,
            "at_open": at_open,
            "weight": weight(price, fee, 0),
            "units": units,
        }
        pos = {
            "side": d,
            "entries": [entry],
            "equity": cash,
            "committed": at_cap,
            "peak": d * price,
            "hit": 0,
            "be": False,
            "left_units": units,
            "total": units,
            "legs": [],
        }
        alive.append(pos)
        return True

    def levels():
        d = pos["side"]
        avg = sum(e["weight"] * e["price"] for e in pos["entries"]) / sum(e["weight"] for e in pos["entries"])
        stop = -math.inf if config.stop_loss is None else d * rnd(avg * (1 - d * config.stop_loss / 100))
        if pos["be"]:
            stop = max(stop, d * avg)
        liq = d * avg * ((1 - d / lev) / (1 - d * (taker + mm))) if can_liquidate else -math.inf
        fixed = max(stop, liq)
        trail = -math.inf
        if config.trailing_stop is not None:
            activation = (
                -math.inf
                if config.trailing_activation is None
                else (d * avg * (1 + d * config.trailing_activation / 100))
            )
            if pos["peak"] >= activation:
                level = pos["peak"] * (1 - d * config.trailing_stop / 100)
                trail = level if tick is None else d * round(d * level / tick) * tick
        targets = [d * rnd(avg * (1 + d * lv.percent / 100)) for lv in config.take_profit_levels]
        final = math.inf if config.take_profit is None else d * rnd(avg * (1 + d * config.take_profit / 100))
        return {
            "avg": avg,
            "fixed": fixed,
            "liq": liq,
            "adverse": max(fixed, trail),
            "targets": targets,
            "final": final,
        }

    def target(lv):
        return lv["targets"][pos["hit"]] if pos["hit"] < len(lv["targets"]) else lv["final"]

    def close_leg(t, price, fee, reason, at_open, units):
        nonlocal cash
        d = pos["side"]
        realised = 0.0
        for e in pos["entries"]:
            share = units / pos["total"] if pos["total"] else 0
            u = e["units"] * share if len(pos["entries"]) > 1 else units
            realised += d * u * (price - e["price"]) - u * e["price"] * e["fee"] - u * price * fee
        cash += realised
        pos["legs"].append({"bar": t, "price": price, "fee": fee, "reason": reason, "at_open": at_open, "units": units})
        pos["left_units"] -= units

    def finish(t):
        nonlocal pos
        held = pos
        d = pos["side"]
        entries = pos["entries"]
        if len(pos["legs"]) > 1:
            e = entries[0]
            for number, leg in enumerate(pos["legs"]):
                if leg["units"] <= 0:
                    continue
                fees = leg["units"] * (e["price"] * e["fee"] + leg["price"] * leg["fee"])
                trades.append(
                    {
                        "entry_bar": e["bar"],
                        "exit_bar": leg["bar"],
                        "side": d,
                        "entry_price": e["price"],
                        "exit_price": leg["price"],
                        "quantity": leg["units"],
                        "fees": fees,
                        "reason": leg["reason"],
                        "leg": number + 1,
                        "pnl": d * leg["units"] * (leg["price"] - e["price"]) - fees,
                        "entries": [e],
                        "exit_open": leg["at_open"],
                        "units_of": lambda _e, u=leg["units"]: u,
                    }
                )
        else:
            leg = pos["legs"][0]
            q = sum(e["units"] for e in entries)
            cost = sum(e["units"] * e["price"] for e in entries)
            fees = sum(e["units"] * (e["price"] * e["fee"] + leg["price"] * leg["fee"]) for e in entries)
            trades.append(
                {
                    "entry_bar": entries[0]["bar"],
                    "exit_bar": leg["bar"],
                    "side": d,
                    "entry_price": cost / q,
                    "exit_price": leg["price"],
                    "quantity": q,
                    "fees": fees,
                    "reason": leg["reason"],
                    "leg": 1,
                    "pnl": d * (q * leg["price"] - cost) - fees,
                    "entries": entries,
                    "exit_open": leg["at_open"],
                    "units_of": lambda e: e["units"],
                }
            )
        held["wiped"] = pos["legs"][-1]["reason"] == "liquidation" and len(pos["legs"]) == 1 and pos["committed"]
        pos = None

    def take_profit(t, lv, signed_price, at_open):
        """True once closed."""
        d = pos["side"]
        if pos["hit"] < len(config.take_profit_levels):
            share = config.take_profit_levels[pos["hit"]].size / 100
            pos["hit"] += 1
            done_share = sum(x.size for x in config.take_profit_levels[: pos["hit"]]) / 100
            closes = done_share >= 1 - 1e-12
            units = pos["left_units"] if closes else min(pos["left_units"], lots(share * pos["total"]))
            close_leg(t, d * signed_price, maker, "take_profit", at_open, units)
            return closes
        close_leg(t, d * signed_price, maker, "take_profit", at_open, pos["left_units"])
        return True

    def lots(units):
        return units if lot is None else math.floor(units / lot + 1e-9) * lot

    def stop_out(t, lv, touched, at_open):
        d = pos["side"]
        fill = d * slipped(d * touched, d, False)
        if fill <= lv["liq"]:
            close_leg(t, d * lv["liq"], taker + mm, "liquidation", at_open, pos["left_units"])
        else:
            reason = "trailing_stop" if lv["adverse"] > lv["fixed"] else "stop_loss"
            close_leg(t, d * fill, taker, reason, at_open, pos["left_units"])
        return True

    def settle(t, entered_by=None, fill_point=0):
        """Intrabar fills of bar t; True once the position is closed."""
        nonlocal ambiguous
        d = pos["side"]
        lv = levels()
        worst, best, so = (l[t], h[t], o[t]) if d > 0 else (-h[t], -l[t], -o[t])
        adverse = lv["adverse"]
        gap = entered_by is None and (so <= adverse or so >= target(lv))
        a_hit, f_hit = worst <= adverse, best >= target(lv)
        maybe_a, maybe_f = entered_by == "stop", entered_by == "limit"
        if not gap and ((a_hit and f_hit) or (a_hit and maybe_a) or (f_hit and maybe_f)):
            ambiguous += 1
        path = fine_path(t, d)
        if path is not None:
            for index in range(fill_point, len(path)):
                price, is_open = path[index]
                if price <= adverse:
                    return stop_out(t, lv, price if is_open else adverse, is_open and index == 0)
                while pos["left_units"] > 0 and price >= target(lv):
                    if take_profit(t, lv, price if is_open else target(lv), is_open and index == 0):
                        return True
            return False
        if entered_by is None:
            if so <= adverse:
                return stop_out(t, lv, so, True)
            while pos["left_units"] > 0 and so >= target(lv):
                if take_profit(t, lv, so, True):
                    return True
            f_hit = best >= target(lv)
        if not optimistic:
            if a_hit:
                return stop_out(t, lv, adverse, False)
            if f_hit and not maybe_f:
                while pos["left_units"] > 0 and best >= target(lv):
                    if take_profit(t, lv, target(lv), False):
                        return True
            return False
        while f_hit and pos["left_units"] > 0 and best >= target(lv):
            if take_profit(t, lv, target(lv), False):
                return True
        if a_hit and not maybe_a:
            return stop_out(t, lv, adverse, False)
        return False

    def place(t, d):
        nonlocal order
        if order_type == "market":
            order = {"side": d, "type": "market", "bar": t + 1}
        else:
            off = config.entry_order.offset / 100
            level = rnd(c[t] * (1 - d * off if order_type == "limit" else 1 + d * off))
            order = {
                "side": d,
                "type": order_type,
                "level": level,
                "first": t + 1,
                "last": t + config.entry_order.expire_bars,
            }

    for t in range(n):
        # ---- at the open
        if pending is not None and pos is not None:
            kind = pending[0]
            if kind == "exit":
                d = pos["side"]
                close_leg(
                    t, slipped(o[t], d, False), taker, "reversal" if pending[1] else "signal", True, pos["left_units"]
                )
                finish(t)
                if pending[1] and cash > 0:
                    place(t - 1, -d)
            else:
                d = pos["side"]
                price = slipped(o[t], d, True)
                k = len(pos["entries"])
                units, _ = units_for(k, price, taker, pos["equity"])
                if units == 0.0:
                    skipped += 1
                pos["entries"].append(
                    {
                        "bar": t,
                        "price": price,
                        "fee": taker,
                        "at_open": True,
                        "weight": weight(price, taker, k),
                        "units": units,
                    }
                )
                pos["total"] += units
                pos["left_units"] += units
        pending = None
        entered_by, fill_point = None, 0
        if order is not None and pos is None:
            d = order["side"]
            if order["type"] == "market":
                if open_position(t, d, slipped(o[t], d, True), taker, True):
                    pass
                order = None
            elif order["first"] <= t <= order["last"]:
                signed_level = d * order["level"]
                limit = order["type"] == "limit"
                worst, best, so = (l[t], h[t], o[t]) if d > 0 else (-h[t], -l[t], -o[t])
                if (worst <= signed_level) if limit else (best >= signed_level):
                    at_open = so <= signed_level if limit else so >= signed_level
                    price = o[t] if at_open else order["level"]
                    path = None if at_open else fine_path(t, d)
                    if path is not None:
                        crossed = [
                            i for i, (p, _) in enumerate(path) if (p <= signed_level if limit else p >= signed_level)
                        ]
                        if crossed:
                            fill_point = crossed[0]
                            price = d * path[fill_point][0] if path[fill_point][1] else order["level"]
                        else:
                            fill_point = len(path)
                    fee = maker if limit else taker
                    if not limit:
                        price = slipped(price, d, True)
                    order = None
                    if open_position(t, d, price, fee, at_open) and not at_open:
                        entered_by = "limit" if limit else "stop"
        # ---- inside the bar
        if pos is not None:
            if settle(t, entered_by, fill_point):
                finish(t)
            else:
                d = pos["side"]
                pos["peak"] = max(pos["peak"], h[t] if d > 0 else -l[t])
                if config.break_even_after is not None and pos["hit"] >= config.break_even_after:
                    pos["be"] = True
        # ---- funding at the funding times inside this bar
        if backtest.funding and market.funding is not None:
            times = market.funding.times
            for i in np.flatnonzero((times >= ts[t]) & (times < ts[t] + step_ms)):
                for held in alive:
                    d = held["side"]
                    units = sum(e["units"] for e in held["entries"] if holds(e["bar"], e["at_open"], t, times[i]))
                    gone = sum(leg["units"] for leg in held["legs"] if holds(leg["bar"], leg["at_open"], t, times[i]))
                    if held["total"] > 0 and len(held["entries"]) > 1:
                        units *= 1 - gone / held["total"]
                    elif held["total"] > 0:
                        units -= gone
                    cash -= d * units * o[t] * market.funding.rates[i]
        for held in alive:
            if held is not pos:  # closed in this bar: its funding is in, now its account effect
                cash = 0.0 if held["wiped"] else max(cash, 0.0)
        alive = [held for held in alive if held is pos]
        # ---- at the close
        if order is not None and order["type"] != "market" and t >= order["last"]:
            order = None
        if t < n - 1 and cash > 0:
            if pos is None and order is None:
                wanted = [d for d in sides if entry_of[d][t]]
                if wanted:
                    place(t, wanted[0])
            elif pos is not None:
                d = pos["side"]
                opposite = both and entry_of[-d][t]
                if exit_of[d][t] or opposite:
                    pending = ("exit", opposite)
                elif entry_of[d][t] and len(pos["entries"]) < max_entries:
                    pending = ("add",)
        mark = cash
        if pos is not None:
            d = pos["side"]
            share_open = pos["left_units"] / pos["total"] if pos["total"] else 0
            for e in pos["entries"]:
                u = e["units"] * share_open
                mark += -u * e["price"] * e["fee"] + d * u * (c[t] - e["price"])
        curve.append(max(mark, 0.0) if can_liquidate else mark)
    if pos is not None:
        close_leg(n, c[-1], 0.0, "open", True, pos["left_units"])
        finish(n)
    if backtest.funding and market.funding is not None:  # each trade's funding, from its own fills
        times, rates = market.funding.times, market.funding.rates
        inside = (times >= ts[0]) & (times < ts[-1] + step_ms)
        for trade in trades:
            paid = 0.0
            for time, rate in zip(times[inside], rates[inside]):
                b = int(np.searchsorted(ts, time, side="right")) - 1
                for e in trade["entries"]:
                    if holds(e["bar"], e["at_open"], b, time) and (
                        trade["exit_bar"] >= n or not holds(trade["exit_bar"], trade["exit_open"], b, time)
                    ):
                        paid += trade["side"] * trade["units_of"](e) * o[b] * rate
            trade["funding"] = paid
            trade["pnl"] -= paid
    return trades, np.array(curve), ambiguous, skipped


def fine_candles(candles: Candles, seed: int, parts: int = 5) -> Candles:
    """Finer candles inside each bar (parts per bar), consistent with the bar's OHLC."""
    rng = np.random.default_rng(seed)
    n = len(candles)
    step = (candles.ts[1] - candles.ts[0]) // parts if n > 1 else 15_000
    path = np.empty((n, parts + 1))
    path[:, 0], path[:, -1] = candles.open, candles.close
    inner = rng.uniform(candles.low[:, None], candles.high[:, None], (n, parts - 1))
    path[:, 1:-1] = inner
    opens, closes = path[:, :-1], path[:, 1:]
    highs, lows = np.maximum(opens, closes), np.minimum(opens, closes)
    high_part, low_part = rng.integers(0, parts, n), rng.integers(0, parts, n)
    highs[np.arange(n), high_part] = candles.high
    lows[np.arange(n), low_part] = candles.low
    highs, lows = np.maximum(highs, np.maximum(opens, closes)), np.minimum(lows, np.minimum(opens, closes))
    ts = (candles.ts[:, None] + step * np.arange(parts)).ravel()
    return Candles.from_arrays(ts, opens.ravel(), highs.ravel(), lows.ravel(), closes.ravel(), np.ones(n * parts))


order_configs = st.fixed_dictionaries(
    {
        "direction": st.sampled_from(["long", "short", "both"]),
        "stop_loss": st.one_of(st.none(), st.floats(0.5, 8)),
        "take_profit": st.one_of(st.none(), st.floats(0.5, 12)),
        "trailing_stop": st.one_of(st.none(), st.floats(0.5, 8)),
        "slippage": st.sampled_from([0.0, 0.05]),
        "position_sizing": st.sampled_from(
            ["all_in", "percent_of_equity", "fixed_quantity", "fixed_notional", "risk_based"]
        ),
        "entry": st.sampled_from(["market", "limit", "stop"]),
        "offset": st.floats(0.0, 2.0),
        "expire_bars": st.integers(1, 5),
        "scaling": st.sampled_from(["none", "levels", "levels_break_even", "pyramiding"]),
        "trailing_activation": st.one_of(st.none(), st.floats(0.2, 3)),
    }
)


@settings(max_examples=250, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    raw=order_configs,
    fees=st.sampled_from([(0.0, 0.0), (0.02, 0.05), (-0.01, 0.1)]),
    leverage=st.sampled_from([1.0, 3.0, 20.0]),
    entry_rate=st.floats(0.02, 0.6),
    exit_rate=st.floats(0.02, 0.5),
    exchange=st.sampled_from(["none", "ticks", "lots", "ticks_and_lots"]),
    funding=st.booleans(),
    intrabar=st.booleans(),
    priority=st.sampled_from(["stop_loss", "take_profit"]),
)
def test_orders_and_costs_match_bar_by_bar_simulation(
    seed, raw, fees, leverage, entry_rate, exit_rate, exchange, funding, intrabar, priority
):
    n, result, (expected, curve, ambiguous, skipped) = orders_case(
        seed, raw, fees, leverage, entry_rate, exit_rate, exchange, funding, intrabar, priority
    )
    got = result.trades.to_records()
    assert [
        (r["entry_bar"], r["exit_bar"] if r["exit_bar"] is not None else n, r["exit_reason"], r["leg"]) for r in got
    ] == [(t["entry_bar"], t["exit_bar"], t["reason"], t["leg"]) for t in expected]
    for record, trade in zip(got, expected):
        assert record["side"] == ("long" if trade["side"] > 0 else "short")
        np.testing.assert_allclose(
            [record["entry_price"], record["exit_price"], record["quantity"]],
            [trade["entry_price"], trade["exit_price"], trade["quantity"]],
            rtol=1e-9,
        )
        np.testing.assert_allclose(
            [record["pnl"], record["fees"], record["funding"]],
            [trade["pnl"], trade["fees"], trade.get("funding", 0.0)],
            rtol=1e-9,
            atol=1e-7,
        )
    np.testing.assert_allclose(result.equity_curve, curve, rtol=1e-9, atol=1e-6)
    assert result.performance_summary["ambiguous_bars"] == ambiguous
    assert result.performance_summary["skipped_orders"] == skipped


def orders_case(seed, raw, fees, leverage, entry_rate, exit_rate, exchange, funding, intrabar, priority):
    """One random case: (bars, the engine's result, the bar-by-bar simulation's)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 200))
    coarse = random_candles(rng, n)
    candles = Candles.from_arrays(
        np.arange(n) * 300_000, coarse.open, coarse.high, coarse.low, coarse.close, coarse.volume
    )
    entry, exit_ = rng.random(n) < entry_rate, rng.random(n) < exit_rate
    short_entry, short_exit = rng.random(n) < entry_rate, rng.random(n) < exit_rate
    both = raw["direction"] == "both"
    config = StrategyConfig(
        direction=raw["direction"],
        stop_loss=raw["stop_loss"] if raw["position_sizing"] != "risk_based" else (raw["stop_loss"] or 3.0),
        take_profit=raw["take_profit"],
        trailing_stop=raw["trailing_stop"],
        trailing_activation=raw["trailing_activation"] if raw["trailing_stop"] else None,
        slippage=raw["slippage"],
        position_sizing=raw["position_sizing"],
        risk_percentage=float(rng.choice([1.0, 30.0, 100.0])),
        quantity=float(rng.choice([0.5, 100.0])),
        notional=float(rng.choice([500.0, 1e6])),
        entry_order=EntryOrder(
            raw["entry"],
            raw["offset"] if raw["entry"] != "market" else 0.0,
            raw["expire_bars"] if raw["entry"] != "market" else 1,
        ),
        take_profit_levels=(TakeProfitLevel(1.0, 30.0), TakeProfitLevel(2.5, float(rng.choice([20.0, 70.0]))))
        if raw["scaling"].startswith("levels")
        else (),
        break_even_after=1 if raw["scaling"] == "levels_break_even" else None,
        pyramiding=Pyramiding(3, (50.0, 25.0, 25.0)) if raw["scaling"] == "pyramiding" else None,
    )
    tick = {"none": None, "ticks": 0.01, "lots": None, "ticks_and_lots": 0.05}[exchange]
    lot = {"none": None, "ticks": None, "lots": 0.01, "ticks_and_lots": 0.1}[exchange]
    rules = SymbolRules(tick_size=tick, lot_size=lot, min_notional=500.0 if lot else None)
    backtest = BacktestSettings(
        initial_balance=10_000.0,
        maker_fee=fees[0],
        taker_fee=fees[1],
        leverage=leverage,
        timeframe="5m",
        slippage_ticks=2.0 if tick else None,
        funding=funding,
        intrabar_timeframe="1m" if intrabar else None,
        same_bar_priority=priority,
    )
    times = candles.ts[0] + 100_000 * np.arange(3 * n + 2) - 100_000
    market = MarketData(
        rules=rules,
        funding=FundingRates(times, rng.normal(0.0002, 0.001, len(times))),
        fine=fine_candles(candles, seed) if intrabar else None,
    )
    signals = Signals(entry, exit_, short_entry=short_entry if both else None, short_exit=short_exit if both else None)

    return (
        n,
        simulate(candles, signals, config, backtest, market),
        bar_by_bar_orders(candles, signals, config, backtest, market, 300_000),
    )
