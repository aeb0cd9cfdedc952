"""Chunked execution (shared.engine.chunks) equals a single pass of run_backtest, exactly.

The property tests draw random strategies (finite-window and recursive indicators, long/short,
with and without stops, every sizing mode, leverage, fees, slippage), random price paths with
flat stretches and prices on a 0.01 tick (so indicator ties really happen), and 1..16 chunks at
random boundaries; each chunk sees only the candles of its span plus its warm-up, as the compute
function does. Every trade field, the equity curve, the final balance and the summary must be
identical, not close.
"""

from __future__ import annotations

import numpy as np
import pytest
import talib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.candles import Candles
from shared.engine import BacktestSettings, run_backtest
from shared.engine.chunks import (
    NO_SIGNAL,
    ChunkResult,
    ChunkSpan,
    chunk_count,
    compute_chunk,
    plan_chunks,
    stitch,
    warmup_start,
)
from shared.engine.positions import MarketData
from shared.indicators.functions import vwap
from shared.market_data.funding import FundingRates
from shared.market_data.symbol_rules import SymbolRules
from shared.strategy import validate_strategy
from tests.test_engine_parity import fine_candles

TRADE_COLUMNS = (
    "entry_bar",
    "exit_bar",
    "entry_time",
    "exit_time",
    "side",
    "entry_price",
    "exit_price",
    "quantity",
    "pnl",
    "pnl_percentage",
    "fees",
    "exit_reason",
    "funding",
    "leg",
)


# ---------------------------------------------------------------- data and strategies
def price_path(seed: int, n: int, volatility: float, flat_share: float) -> Candles:
    """A random walk on a 0.01 tick; a `flat_share` of bars repeat the previous candle exactly."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, volatility, n)
    steps[rng.random(n) < flat_share] = 0.0
    close = np.round(100.0 * np.exp(np.cumsum(steps)), 2)
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = np.round(rng.exponential(volatility * 50.0, (2, n)), 2)
    wick[:, steps == 0.0] = 0.0
    high = np.maximum(open_, close) + wick[0]
    low = np.maximum(np.minimum(open_, close) - wick[1], 0.01)
    return Candles.from_arrays(
        1_700_000_000_000 + 60_000 * np.arange(n), open_, high, low, close, rng.uniform(1.0, 5.0, n)
    )


def ma_cross(kind: str, fast: int, slow: int) -> tuple[dict, dict]:
    def condition(comparator: str) -> dict:
        return {
            "indicator": kind,
            "params": {"period": "$fast"},
            "comparator": comparator,
            "value": {"indicator": kind, "params": {"period": "$slow"}},
        }

    return (
        {"operator": "and", "conditions": [condition("crosses_above")]},
        {"operator": "or", "conditions": [condition("crosses_below")]},
    )


def oscillator(kind: str, period: int, low: float, high: float) -> tuple[dict, dict]:
    params = {"period": "$fast"} if kind != "stoch" else {"k_period": "$fast"}
    return (
        {"operator": "and", "conditions": [{"indicator": kind, "params": params, "comparator": "<", "value": low}]},
        {"operator": "or", "conditions": [{"indicator": kind, "params": params, "comparator": ">", "value": high}]},
    )


def channel(kind: str) -> tuple[dict, dict]:
    def band(output: str) -> dict:
        return {"indicator": kind, "params": {"period": "$slow", "output": output}}

    return (
        {
            "operator": "and",
            "conditions": [{"indicator": "price", "params": {}, "comparator": ">=", "value": band("upper")}],
        },
        {
            "operator": "or",
            "conditions": [
                {"indicator": "price", "params": {}, "comparator": "<=", "value": band("middle")},
                {
                    "indicator": "obv",
                    "params": {},
                    "comparator": "crosses_below",
                    "value": {"indicator": "sma", "params": {"period": "$fast", "source": "volume"}},
                },
            ],
        },
    )


def trend_state(kind: str, timeframe: str | None = None) -> tuple[dict, dict]:
    """Entry while the close is above the slow average: a state, true on long runs of bars, so
    candidates are dense and stops make chains diverge (what exercises the replay). `timeframe`:
    the averages on coarser candles."""

    def versus(comparator: str, period: str) -> dict:
        params = {"period": period} | ({"timeframe": timeframe} if timeframe else {})
        return {
            "indicator": "price",
            "params": {},
            "comparator": comparator,
            "value": {"indicator": kind, "params": params},
        }

    return {"operator": "and", "conditions": [versus(">", "$slow")]}, {
        "operator": "or",
        "conditions": [versus("<", "$fast")],
    }


@st.composite
def strategies(draw) -> dict:
    fast = draw(st.integers(2, 12))
    slow = draw(st.integers(fast + 1, 40))
    family = draw(
        st.sampled_from(
            [
                "sma",
                "ema",
                "wma",
                "rsi",
                "stoch",
                "cci",
                "williams_r",
                "donchian",
                "bbands",
                "keltner",
                "kama",
                "trend_sma_5m",
                *["trend_sma", "trend_ema"] * 4,
            ]
        )
    )
    if family in ("sma", "ema", "wma", "kama"):
        entry, exit_ = ma_cross(family, fast, slow)
    elif family == "trend_sma_5m":
        entry, exit_ = trend_state("sma", "5m")
    elif family.startswith("trend_"):
        entry, exit_ = trend_state(family.removeprefix("trend_"))
    elif family in ("donchian", "bbands", "keltner"):
        entry, exit_ = channel(family)
    else:
        low, high = {"rsi": (30, 70), "stoch": (20, 80), "cci": (-100, 100), "williams_r": (-80, -20)}[family]
        entry, exit_ = oscillator(family, fast, low, high)
    sizing = draw(st.sampled_from(["all_in", "percent_of_equity", "fixed_quantity", "fixed_notional", "risk_based"]))
    percent = st.none() | st.floats(0.3, 8.0)
    config = {
        "direction": draw(st.sampled_from(["long", "short"])),
        "position_sizing": sizing,
        "stop_loss": draw(percent) if sizing != "risk_based" else draw(st.floats(0.5, 8.0)),
        "take_profit": draw(percent),
        "trailing_stop": draw(percent),
        "slippage": draw(st.sampled_from([0.0, 0.05])),
        "parameters": {"fast": fast, "slow": slow},
    }
    if sizing in ("percent_of_equity", "risk_based"):
        config["risk_percentage"] = draw(st.floats(5.0, 100.0))
    if sizing == "fixed_quantity":
        config["quantity"] = draw(st.floats(0.5, 200.0))
    if sizing == "fixed_notional":
        config["notional"] = draw(st.floats(100.0, 20_000.0))
    if draw(st.booleans()) and config["stop_loss"] is not None:
        exit_ = None  # positions close by their stops only
    return {"entry_rules": entry, "exit_rules": exit_, "config": {k: v for k, v in config.items() if v is not None}}


@st.composite
def chunk_spans(draw, strategy, n: int) -> list[ChunkSpan]:
    count = draw(st.integers(1, min(16, n)))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), min_size=count - 1, max_size=count - 1))) if count > 1 else []
    bounds = [0, *cuts, n]
    return [ChunkSpan(i, bounds[i], bounds[i + 1], warmup_start(strategy, bounds[i])) for i in range(len(bounds) - 1)]


def run_chunked(
    strategy, candles: Candles, spans: list[ChunkSpan], backtest: BacktestSettings, market: MarketData | None = None
):
    """What the state machine does: each chunk on its own window, then the stitch."""
    results = [
        compute_chunk(strategy, candles.slice(span.read_bar, span.end_bar), span, backtest, market) for span in spans
    ]
    # Through the storage format, as the partials travel between Lambdas.
    results = [ChunkResult.from_arrays(result.to_arrays()) for result in results]
    return stitch(candles, results, strategy.config, backtest, market)


def assert_identical(chunked, single) -> None:
    for column in TRADE_COLUMNS:
        np.testing.assert_array_equal(getattr(chunked.trades, column), getattr(single.trades, column), err_msg=column)
    np.testing.assert_array_equal(chunked.equity_curve, single.equity_curve)
    assert chunked.final_balance == pytest.approx(single.final_balance, rel=1e-9, abs=0.0)
    assert chunked.performance_summary == single.performance_summary


# ---------------------------------------------------------------- the property
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    strategies(),
    st.integers(0, 2**32 - 1),
    st.integers(40, 500),
    st.sampled_from([0.002, 0.01, 0.03]),
    st.sampled_from([0.0, 0.3, 0.8]),
    st.sampled_from([1.0, 1.0, 3.0, 20.0]),
    st.sampled_from([0.0, 0.1]),
)
def test_stitched_chunks_equal_the_single_pass(data, definition, seed, n, volatility, flat_share, leverage, commission):
    # Given a random strategy, price path and account
    strategy = validate_strategy(definition)
    candles = price_path(seed, n, volatility, flat_share)
    backtest = BacktestSettings(initial_balance=10_000.0, commission=commission, leverage=leverage, timeframe="1m")
    # and the range cut into 1..16 chunks at random bars
    spans = data.draw(chunk_spans(strategy, n))
    # When the chunks are computed separately and stitched
    chunked = run_chunked(strategy, candles, spans, backtest)
    # Then the result is the single pass's, field for field
    assert_identical(chunked, run_backtest(strategy, candles, backtest))


@st.composite
def order_rules(draw, definition: dict) -> dict:
    """`definition` with the rules resolved position by position: entry orders, take-profit
    levels, break-even, trailing activation, pyramiding, long and short."""
    config = dict(definition["config"])
    kind = draw(st.sampled_from(["market", "limit", "stop"]))
    if kind != "market":
        config["entry_order"] = {
            "type": kind,
            "offset": draw(st.floats(0.0, 2.0)),
            "expire_bars": draw(st.integers(1, 6)),
        }
    if draw(st.booleans()):
        config["pyramiding"] = {"max_entries": draw(st.integers(1, 4))}
    elif draw(st.booleans()):
        first = draw(st.floats(0.2, 3.0))
        config["take_profit_levels"] = [
            {"percent": first, "size": draw(st.floats(10.0, 60.0))},
            {"percent": first + draw(st.floats(0.1, 3.0)), "size": draw(st.floats(10.0, 40.0))},
        ]
        if draw(st.booleans()):
            config["break_even_after"] = 1
    if "trailing_stop" in config and draw(st.booleans()):
        config["trailing_activation"] = draw(st.floats(0.1, 3.0))
    result = {**definition, "config": config}
    if draw(st.booleans()):
        config["direction"] = "both"
        result["short_entry_rules"], result["short_exit_rules"] = (
            definition["exit_rules"] or definition["entry_rules"],
            None,
        )
    return result


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    strategies(),
    st.integers(0, 2**32 - 1),
    st.integers(40, 400),
    st.sampled_from([0.002, 0.01, 0.03]),
    st.sampled_from([0.0, 0.3]),
    st.sampled_from([1.0, 3.0, 20.0]),
    st.booleans(),
    st.booleans(),
)
def test_stitched_chunks_equal_the_single_pass_with_orders_and_costs(
    data, definition, seed, n, volatility, flat_share, leverage, exchange_rules, intrabar
):
    # Given a strategy with entry orders, partial exits, pyramiding or both sides
    strategy = validate_strategy(data.draw(order_rules(definition)))
    path = price_path(seed, n, volatility, flat_share)
    candles = Candles.from_arrays(
        path.ts[0] + 300_000 * np.arange(n), path.open, path.high, path.low, path.close, path.volume
    )
    # and maker/taker fees, funding, exchange rules and finer candles
    backtest = BacktestSettings(
        initial_balance=10_000.0,
        maker_fee=0.02,
        taker_fee=0.05,
        leverage=leverage,
        timeframe="5m",
        funding=True,
        intrabar_timeframe="1m" if intrabar else None,
        same_bar_priority=data.draw(st.sampled_from(["stop_loss", "take_profit"])),
    )
    times = candles.ts[0] + 100_000 * np.arange(3 * n)  # every 100 s: at bar opens and inside bars
    funding = FundingRates(times, np.random.default_rng(seed).normal(0.0001, 0.0003, len(times)))
    rules = SymbolRules(tick_size=0.01, lot_size=0.001, min_notional=50.0) if exchange_rules else SymbolRules()
    market = MarketData(rules=rules, funding=funding, fine=fine_candles(candles, seed) if intrabar else None)
    spans = data.draw(chunk_spans(strategy, n))
    # When the chunks are computed separately and stitched
    chunked = run_chunked(strategy, candles, spans, backtest, market)
    # Then the result is the single pass's, field for field
    assert_identical(chunked, run_backtest(strategy, candles, backtest, market))


# ---------------------------------------------------------------- stitching cases by hand
# ---------------------------------------------------------------- the new vocabulary
def _condition(indicator: str, params: dict, comparator: str, value) -> dict:
    return {"indicator": indicator, "params": params, "comparator": comparator, "value": value}


def _price(comparator: str, indicator: str, **params) -> dict:
    return _condition("price", {}, comparator, {"indicator": indicator, "params": params})


_AROON_UP = {"indicator": "aroon", "params": {"output": "aroonup"}}
_AROON_DOWN = {"indicator": "aroon", "params": {"output": "aroondown"}}
# name -> (entry condition, exit condition): TA-Lib functions (recursive and exact-window), the
# seeds' indicators, mavp with a series for its period, a coarser timeframe.
VOCABULARY = {
    "mfi": (_condition("mfi", {}, "<", 40), _condition("mfi", {}, ">", 60)),
    "sar": (_price("crosses_above", "sar"), _price("crosses_below", "sar")),
    "cdlengulfing": (_condition("cdlengulfing", {}, ">", 0), _condition("cdlengulfing", {}, "<", 0)),
    "aroon": (
        _condition("aroon", {"output": "aroonup"}, "crosses_above", _AROON_DOWN),
        _condition("aroon", {"output": "aroondown"}, "crosses_above", _AROON_UP),
    ),
    "ichimoku": (_price("crosses_above", "ichimoku", output="kijun"), _price("<", "ichimoku", output="senkou_b")),
    "supertrend": (_condition("supertrend", {"output": "trend"}, ">", 0), _price("<", "supertrend")),
    "pivots": (_price("crosses_above", "pivots", output="pp"), _price("crosses_below", "pivots", output="s1")),
    "fractals": (_price(">", "fractals", output="up"), _price("<", "fractals", output="down")),
    "mavp": (
        _price("crosses_above", "mavp", periods=_AROON_UP, maxperiod=40),
        _price("crosses_below", "mavp", periods=_AROON_UP, maxperiod=40),
    ),
    "hma": (_price("crosses_above", "hma"), _price("crosses_below", "hma")),
    "cmf": (_condition("cmf", {}, ">", 0.05), _condition("cmf", {}, "<", -0.05)),
    "tsi": (_condition("tsi", {}, "crosses_above", 0), _condition("tsi", {}, "crosses_below", 0)),
    "keltner": (_price(">", "keltner", output="upper"), _price("<", "keltner", output="middle")),
    "linreg_channel": (_price("<", "linreg_channel", output="lower"), _price(">", "linreg_channel", output="middle")),
    "stochrsi": (
        _condition("stochrsi", {"output": "fastk"}, "<", 20),
        _condition("stochrsi", {"output": "fastk"}, ">", 80),
    ),
    "ultosc": (_condition("ultosc", {}, "<", 40), _condition("ultosc", {}, ">", 60)),
    "donchian": (_price(">=", "donchian", output="upper", offset=1), _price("<=", "donchian", output="middle")),
    "willr_15m": (
        _condition("willr", {"timeframe": "15m"}, "<", -80),
        _condition("willr", {"timeframe": "15m"}, ">", -20),
    ),
}


@pytest.mark.parametrize("name", sorted(VOCABULARY))
@pytest.mark.parametrize("direction", ["long", "both"])
def test_stitched_chunks_equal_the_single_pass_with_the_new_indicators(name: str, direction: str) -> None:
    # Given a strategy on one of the new indicators (both sides: the exit rule also enters short),
    # on two days of minute candles (pivots need a previous day)
    entry, exit_ = VOCABULARY[name]
    definition = {
        "entry_rules": {"conditions": [entry]},
        "exit_rules": {"conditions": [exit_]},
        "config": {"direction": direction, "stop_loss": 2.0, "take_profit": 3.0},
    }
    if direction == "both":
        definition |= {"short_entry_rules": {"conditions": [exit_]}, "short_exit_rules": {"conditions": [entry]}}
    strategy = validate_strategy(definition)
    candles = price_path(sum(map(ord, name)), 3000, 0.003, 0.1)
    backtest = BacktestSettings(initial_balance=10_000.0, commission=0.1, timeframe="1m")
    single = run_backtest(strategy, candles, backtest)
    assert len(single.trades) >= 5, name
    # When the range is cut into 2 to 9 chunks at random bars
    rng = np.random.default_rng(len(name))
    for count in (2, 5, 9):
        cuts = sorted(rng.choice(np.arange(1, 3000), count - 1, replace=False).tolist())
        # Then the stitched result is the single pass's, field for field
        assert_identical(run_chunked(strategy, candles, _spans(strategy, [0, *cuts, 3000]), backtest), single)


def _hand_strategy(exit_rules: dict | None, **config) -> dict:
    entry = {"operator": "and", "conditions": [{"indicator": "price", "params": {}, "comparator": ">", "value": 100.5}]}
    return {"entry_rules": entry, "exit_rules": exit_rules, "config": config}


def _flat_candles(close: list[float]) -> Candles:
    close_array = np.asarray(close, dtype=float)
    open_ = np.concatenate(([close_array[0]], close_array[:-1]))
    return Candles.from_arrays(
        1_700_000_000_000 + 3_600_000 * np.arange(len(close)),
        open_,
        np.maximum(open_, close_array),
        np.minimum(open_, close_array),
        close_array,
        np.ones(len(close)),
    )


def _spans(strategy, bounds: list[int]) -> list[ChunkSpan]:
    return [ChunkSpan(i, bounds[i], bounds[i + 1], warmup_start(strategy, bounds[i])) for i in range(len(bounds) - 1)]


def test_a_trade_open_across_several_chunks_exits_at_a_later_chunks_signal():
    # Given entry when close > 100.5 and exit when close < 100: the signal at bar 1 fills at bar 2,
    # and the first exit signal is at bar 9 (fill at bar 10), three chunks later
    exit_rules = {
        "operator": "or",
        "conditions": [{"indicator": "price", "params": {}, "comparator": "<", "value": 100}],
    }
    strategy = validate_strategy(_hand_strategy(exit_rules))
    candles = _flat_candles([100, 101, 102, 103, 104, 103, 102, 101, 100.5, 99, 98, 101, 102])
    spans = _spans(strategy, [0, 3, 5, 8, 11, 13])
    chunked = run_chunked(strategy, candles, spans, BacktestSettings(timeframe="1h"))
    # Then the first trade runs from bar 2 to bar 10 at its open (99), and the second enters at
    # bar 12 (signal at bar 11) and is still open at the end
    assert chunked.trades.entry_bar.tolist() == [2, 12]
    assert chunked.trades.exit_bar.tolist() == [10, -1]
    assert chunked.trades.exit_price.tolist() == [99.0, 102.0]
    assert_identical(chunked, run_backtest(strategy, candles, BacktestSettings(timeframe="1h")))


def test_a_trade_closing_inside_a_chunk_replays_that_chunk_up_to_its_own_chain():
    # Given entries while close > 100.5, a 2 % take-profit and no exit signal; open = previous close
    strategy = validate_strategy(
        _hand_strategy(
            {"operator": "or", "conditions": [{"indicator": "price", "params": {}, "comparator": "<", "value": 100}]},
            take_profit=2,
        )
    )
    candles = _flat_candles([100, 101, 101.5, 102, 102, 103, 102.5, 103, 103.5, 104.5, 105])
    spans = _spans(strategy, [0, 3, 11])
    # Chunk 2 alone follows its own chain: in at bar 3 (101.5), take-profit 103.53 reached at bar 9
    # (high 104.5), in again at bar 10 and open at the end
    second = compute_chunk(strategy, candles.slice(spans[1].read_bar, 11), spans[1], BacktestSettings(timeframe="1h"))
    assert second.candidates.fill_bar[second.own_chain].tolist() == [3, 10]
    # When stitched: the trade of chunk 1 (in at bar 2, 101) takes profit at 103.02 in bar 8 (high
    # 103.5), so the chain enters chunk 2 at its candidate filling at bar 9, which is not on the
    # own chain: it is replayed, and stays open to the end
    chunked = run_chunked(strategy, candles, spans, BacktestSettings(timeframe="1h"))
    assert chunked.trades.entry_bar.tolist() == [2, 9]
    assert chunked.trades.exit_bar.tolist() == [8, -1]
    assert chunked.trades.exit_price[0] == pytest.approx(103.02)
    assert_identical(chunked, run_backtest(strategy, candles, BacktestSettings(timeframe="1h")))


def test_the_chunk_reports_its_first_exit_signal_from_the_bar_before_it():
    # Given exit signals at bars 3 and 6, and chunks [0, 4) [4, 6) [6, 8)
    exit_rules = {
        "operator": "or",
        "conditions": [{"indicator": "price", "params": {}, "comparator": "<", "value": 101}],
    }
    strategy = validate_strategy(_hand_strategy(exit_rules))
    candles = _flat_candles([102, 102, 102, 100, 102, 102, 100, 102])
    first, second, third = (
        compute_chunk(strategy, candles.slice(s.read_bar, s.end_bar), s, BacktestSettings())
        for s in _spans(strategy, [0, 4, 6, 8])
    )
    # Then the signal on chunk 1's last bar fills in chunk 2, so chunk 2 reports it
    assert first.first_exit_signal == NO_SIGNAL
    assert second.first_exit_signal == 3
    assert third.first_exit_signal == 6


# ---------------------------------------------------------------- planning and warm-up
def test_chunk_count_follows_bars_per_chunk_unless_forced():
    assert chunk_count(1_000_000, 500_000) == 2
    assert chunk_count(1_000_001, 500_000) == 3
    assert chunk_count(10, 500_000) == 1
    assert chunk_count(1_000_000, 500_000, forced=8) == 8
    assert chunk_count(5, 500_000, forced=8) == 5  # never an empty chunk


def test_plan_chunks_covers_the_range_with_near_equal_chunks():
    strategy = validate_strategy(_hand_strategy(None, stop_loss=1))
    spans = plan_chunks(strategy, 10, 3)
    assert [(s.first_bar, s.end_bar) for s in spans] == [(0, 3), (3, 7), (7, 10)]


def test_a_finite_window_warm_up_starts_on_the_window_sum_grid():
    # rolling VWAP(10) crosses VWAP(50): lookback 51 bars; the prefix sums restart every 2048 bars
    strategy = validate_strategy(
        {
            "entry_rules": ma_cross("vwap", 10, 50)[0],
            "exit_rules": ma_cross("vwap", 10, 50)[1],
            "config": {"parameters": {"fast": 10, "slow": 50}},
        }
    )
    assert strategy.lookback == 51
    assert warmup_start(strategy, 0) == 0
    assert warmup_start(strategy, 51) == 0
    assert warmup_start(strategy, 2048 + 51) == 2048
    assert warmup_start(strategy, 2048 + 50) == 0  # 2048 + 50 - 51 = 2047 rounds down to 0
    # a window longer than the block: the grid is the next power of two of the lookback
    long_window = validate_strategy(
        {
            "entry_rules": ma_cross("vwap", 10, 3000)[0],
            "exit_rules": None,
            "config": {"stop_loss": 1, "parameters": {"fast": 10, "slow": 3000}},
        }
    )
    assert warmup_start(long_window, 20_000) == 16_384


def test_recursive_filters_and_running_sums_read_from_the_first_bar():
    # TA-Lib's SMA too: its running sum carries rounding from the first bar it reads
    for kind in ("ema", "rsi", "sma"):
        entry, exit_ = ma_cross(kind, 5, 20) if kind != "rsi" else oscillator(kind, 5, 30, 70)
        strategy = validate_strategy(
            {"entry_rules": entry, "exit_rules": exit_, "config": {"parameters": {"fast": 5, "slow": 20}}}
        )
        assert warmup_start(strategy, 100_000) == 0
    obv = validate_strategy(
        {
            "entry_rules": channel("donchian")[1],
            "exit_rules": None,
            "config": {"stop_loss": 1, "parameters": {"fast": 5, "slow": 20}},
        }
    )
    assert warmup_start(obv, 100_000) == 0


def test_why_the_warm_up_keeps_the_grid_window_sums_depend_on_where_the_read_starts():
    # Given prices whose prefix sums round (0.1 is not a binary fraction)
    x = np.full(6000, 0.1) + np.repeat(np.arange(3) * 0.3, 2000)
    volume = np.ones(6000)
    full = vwap(x, volume, 10)
    # Then a read starting on the 2048 grid reproduces every VWAP value bit for bit...
    np.testing.assert_array_equal(vwap(x[2048:], volume[2048:], 10)[10:], full[2048 + 10 :])
    # ...and one starting elsewhere does not (which flips `>`/`crosses` on flat stretches)
    assert not np.array_equal(vwap(x[2000:], volume[2000:], 10)[10:], full[2000 + 10 :])


def test_why_rsi_needs_the_whole_history_a_flat_stretch_keeps_its_old_ratio():
    # Given a rise, then 600 flat bars (longer than RSI(14)'s nominal memory of ~390 bars)
    x = np.concatenate((100 + np.arange(30.0), np.full(600, 129.0)))
    # The single pass holds RSI at 100 through the flat stretch (gains only, decayed alike)...
    assert talib.RSI(x, 14)[-1] == 100.0
    # ...while a warm-up starting inside the flat stretch sees no gains and no losses: RSI 0
    assert talib.RSI(x[-450:], 14)[-1] == 0.0


def test_a_chunk_refuses_a_window_of_the_wrong_size():
    strategy = validate_strategy(_hand_strategy(None, stop_loss=1))
    with pytest.raises(ValueError, match="needs 5 candles"):
        compute_chunk(strategy, _flat_candles([100.0] * 4), ChunkSpan(0, 0, 5, 0), BacktestSettings())


def test_stitch_refuses_chunks_that_do_not_cover_the_range():
    strategy = validate_strategy(_hand_strategy(None, stop_loss=1))
    candles = _flat_candles([100.0, 101, 102, 103])
    chunks = [compute_chunk(strategy, candles.slice(0, 2), ChunkSpan(0, 0, 2, 0), BacktestSettings())]
    with pytest.raises(ValueError, match="do not cover"):
        stitch(candles, chunks, strategy.config, BacktestSettings())
