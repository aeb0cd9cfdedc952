"""Replays: durations and rules, actual trades as a backtest, alternatives computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from shared.candles import Candles
from shared.engine.exits import first_price_exits, resolve_exits
from shared.engine.rules import EngineRules
from shared.errors import ValidationFailed
from shared.strategy import validate_strategy
from shared.transactions.pairing import LONG, SHORT, RoundTrip
from shared.transactions.replay import AlternativeSetup, ReplaySettings, compute_replay
from shared.transactions.rules import Alternative, ExitRules, RuleError, parse_alternative, parse_duration
from tests.fanout.replay_candles import OPEN, replay_candles

JAN_1 = 1_704_067_200_000
HOUR, MINUTE = 3_600_000, 60_000
STRATEGY_ID = "0b7e3c1e-4f5a-4d8b-9c1e-2f3a4b5c6d7e"


def hourly(open_=OPEN) -> Candles:
    return replay_candles(JAN_1, open_)


def at(hours: float) -> int:
    return JAN_1 + int(hours * HOUR)


# A long of 1.0: bought at 01:30 for 100.5 (fee 0.1 % = 0.1005), sold at 04:15 for 106.5 (fee 0.1065).
LONG_TRIP = RoundTrip("BTCUSDT", LONG, 1.0, at(1.5), 100.5, 0.1005, "buy-1", at(4.25), 106.5, 0.1065, "sell-1")
ACTUAL_PNL = 6.0 - 0.1005 - 0.1065  # 5.793


def settings(after_hours: float = 2, before_hours: float = 0, initial_balance: float | None = None) -> ReplaySettings:
    return ReplaySettings("1h", JAN_1, at(12), int(before_hours * HOUR), int(after_hours * HOUR), initial_balance)


def replay_with(rules: str, trips=(LONG_TRIP,), candles=None, after_hours: float = 2):
    alternative = AlternativeSetup(exit_rules=parse_alternative(None, rules).exit_rules)
    return compute_replay(candles or hourly(), list(trips), settings(after_hours), alternative)


def alternative_leg(result, row: int = 0) -> dict:
    return result.comparison["trades"][row]["alternative"]


# ---------------------------------------------------------------- durations and rules
@pytest.mark.parametrize(
    "text, ms",
    [
        ("4h", 4 * HOUR),
        ("2d", 48 * HOUR),
        ("90m", 90 * MINUTE),
        ("1.5d", 36 * HOUR),
        ("30s", 30_000),
        ("1w", 168 * HOUR),
        ("0", 0),
        (" 15 m ", 15 * MINUTE),
    ],
)
def test_durations(text, ms):
    assert parse_duration(text, "window_before") == ms


@pytest.mark.parametrize("text", ["4x", "", "h", "-1h", "4", "1.0000001s", "367d", "4 hours"])
def test_durations_that_do_not_parse_name_their_field(text):
    with pytest.raises(RuleError) as caught:
        parse_duration(text, "window_after")
    assert caught.value.error.field == "window_after"


def test_exit_rules_combine_and_strategy_ids_are_recognised():
    assert parse_alternative(None, "stop_loss:2, take_profit:4,trailing_stop:1.5,time:24h") == Alternative(
        exit_rules=ExitRules(stop_loss=2.0, take_profit=4.0, trailing_stop=1.5, time_limit_ms=24 * HOUR)
    )
    assert parse_alternative(STRATEGY_ID.upper(), STRATEGY_ID) == Alternative(STRATEGY_ID, STRATEGY_ID)
    assert parse_alternative("", None).is_empty


@pytest.mark.parametrize(
    "entry, exit_, field, message",
    [
        ("sma-cross", None, "metadata.alternative_entry", "'sma-cross' is not a strategy id"),
        (
            None,
            "stop_loss",
            "metadata.alternative_exit",
            "'stop_loss' is not a rule; expected stop_loss:2, take_profit:4, "
            "trailing_stop:1.5, time:24h (comma-separated), or a strategy id",
        ),
        (
            None,
            "stop:2",
            "metadata.alternative_exit",
            "unknown rule 'stop'; expected stop_loss:2, take_profit:4, "
            "trailing_stop:1.5, time:24h (comma-separated), or a strategy id",
        ),
        (None, "stop_loss:2,stop_loss:3", "metadata.alternative_exit", "stop_loss is given twice"),
        (
            None,
            "stop_loss:100",
            "metadata.alternative_exit",
            "stop_loss must be greater than 0 and below 100 (percent), not 100",
        ),
        (None, "take_profit:abc", "metadata.alternative_exit", "take_profit:abc needs a number (percent)"),
        (None, "time:0h", "metadata.alternative_exit", "time must be longer than 0"),
        (None, "time:soon", "metadata.alternative_exit", "'soon' is not a duration such as 30m, 4h or 2d"),
    ],
)
def test_rules_that_do_not_parse(entry, exit_, field, message):
    with pytest.raises(RuleError) as caught:
        parse_alternative(entry, exit_)
    assert (caught.value.error.field, caught.value.error.message) == (field, message)


# ---------------------------------------------------------------- the actual trades as a backtest
def test_actual_trades_become_a_backtest_with_the_engines_equity_and_summary():
    result = compute_replay(hourly(), [LONG_TRIP], settings())
    actual = result.actual
    # Initial balance: the cash the trade needed, 100.5 + 0.1005
    assert actual.initial_balance == pytest.approx(100.6005)
    # Held at the closes of bars 1..3 (marked: cash 0 + close), flat with the profit from bar 4 on
    expected = [100.6005, 101, 102, 105] + [100.6005 + ACTUAL_PNL] * 8
    np.testing.assert_allclose(actual.equity_curve, expected, rtol=0, atol=1e-9)
    trades = actual.trades
    assert (trades.entry_bar.tolist(), trades.exit_bar.tolist()) == ([1], [4])
    assert (trades.entry_time.tolist(), trades.exit_time.tolist()) == ([at(1.5)], [at(4.25)])
    assert trades.pnl.tolist() == pytest.approx([ACTUAL_PNL])
    assert trades.fees.tolist() == pytest.approx([0.207])
    summary = actual.performance_summary
    assert (summary["total_trades"], summary["winning_trades"], summary["losing_trades"]) == (1, 1, 0)
    assert summary["total_pnl"] == pytest.approx(ACTUAL_PNL)
    assert summary["max_drawdown"] == 0.0  # the equity above never falls
    assert summary["exposure"] == pytest.approx(100 * 3 / 12)
    assert result.alternative is None and "alternative" not in result.comparison["trades"][0]
    assert result.comparison["totals"] == {"trades": 1, "actual_pnl": pytest.approx(ACTUAL_PNL)}


def test_overlapping_and_open_round_trips_mark_every_open_position():
    # Given two lots bought at 01:30 (100.5) and 02:30 (101.5), the first sold at 03:30 for 104, the second never
    trips = [
        RoundTrip("BTCUSDT", LONG, 1.0, at(1.5), 100.5, 0.0, "a", at(3.5), 104.0, 0.0, "c"),
        RoundTrip("BTCUSDT", LONG, 2.0, at(2.5), 101.5, 0.0, "b"),
    ]
    result = compute_replay(hourly(), trips, settings(initial_balance=1000))
    equity = result.actual.equity_curve
    # bar 2 close 102: 1000 + (102 - 100.5) + 2 * (102 - 101.5); bar 3 (first sold at 104): + 3.5 + 2 * (105 - 101.5)
    assert equity[2] == pytest.approx(1000 + 1.5 + 1.0)
    assert equity[3] == pytest.approx(1000 + 3.5 + 7.0)
    assert equity[11] == pytest.approx(1000 + 3.5 + 2 * (91 - 101.5))
    trades = result.actual.trades
    assert trades.exit_bar.tolist() == [3, -1] and trades.exit_price.tolist() == [104.0, 91.0]
    assert result.comparison["trades"][1]["actual"]["exit_reason"] == "open"


def test_a_fill_no_candle_covers_fails_with_its_time():
    candles = hourly()
    gap = Candles(*(np.delete(getattr(candles, name), 4) for name in ("ts", "open", "high", "low", "close", "volume")))
    with pytest.raises(ValidationFailed) as caught:
        compute_replay(gap, [LONG_TRIP], settings())
    assert caught.value.message == "no candle covers 2024-01-01T04:15:00Z"


# ---------------------------------------------------------------- alternative exits, by hand
def test_alternative_stop_loss():
    # 3 % under 100.5 is 97.485; checked from bar 2 (the entry at 01:30 was mid-bar); bar 5's low 96 reaches it
    result = replay_with("stop_loss:3")
    leg = alternative_leg(result)
    assert (leg["exit_reason"], leg["exit_price"], leg["exit_time"]) == (
        "stop_loss",
        pytest.approx(97.485),
        "2024-01-01T05:00:00Z",
    )
    # pnl = 97.485 - 100.5 - entry fee 0.1005 - exit fee at the actual exit's rate (0.1 %) of 97.485
    expected = 97.485 - 100.5 - 0.1005 - 0.001 * 97.485
    assert leg["pnl"] == pytest.approx(expected, abs=1e-12)
    assert result.comparison["trades"][0]["pnl_difference"] == pytest.approx(expected - ACTUAL_PNL, abs=1e-12)
    assert result.comparison["totals"]["alternative_pnl"] == pytest.approx(expected, abs=1e-12)
    assert result.alternative.performance_summary["total_pnl"] == pytest.approx(expected, abs=1e-9)
    assert result.alternative.trades.exit_bar.tolist() == [5]


def test_a_gap_through_the_stop_fills_at_the_open():
    opens = list(OPEN)
    opens[5] = 95  # bar 5 opens below 97.485
    leg = alternative_leg(replay_with("stop_loss:3", candles=hourly(open_=opens)))
    assert (leg["exit_reason"], leg["exit_price"]) == ("stop_loss", 95.0)
    assert leg["pnl"] == pytest.approx(95 - 100.5 - 0.1005 - 0.095, abs=1e-12)


def test_alternative_take_profit():
    # 4 % over 100.5 is 104.52: bar 3's high 106 reaches it (bar 3 opened at 102, below it)
    leg = alternative_leg(replay_with("take_profit:4"))
    assert (leg["exit_reason"], leg["exit_price"], leg["exit_time"]) == (
        "take_profit",
        pytest.approx(104.52),
        "2024-01-01T03:00:00Z",
    )
    assert leg["pnl"] == pytest.approx(104.52 - 100.5 - 0.1005 - 0.10452, abs=1e-12)


def test_alternative_trailing_stop_follows_the_best_price_of_earlier_bars():
    # peaks before bars 2..5: 100.5, 103, 106, 107; 2 % behind them: 98.49, 100.94, 103.88, 104.86;
    # lows 100, 101, 104 stay above, bar 5's low 96 does not: filled at 104.86
    leg = alternative_leg(replay_with("trailing_stop:2"))
    assert (leg["exit_reason"], leg["exit_price"]) == ("trailing_stop", pytest.approx(104.86))
    assert leg["pnl"] == pytest.approx(104.86 - 100.5 - 0.1005 - 0.10486, abs=1e-12)


def test_alternative_time_exit_at_the_open_of_the_first_bar_that_late():
    # 01:30 + 2h = 03:30: the first bar opening at or after it is 04:00, open 105
    leg = alternative_leg(replay_with("time:2h"))
    assert (leg["exit_reason"], leg["exit_price"], leg["exit_time"]) == ("time", 105.0, "2024-01-01T04:00:00Z")
    assert leg["pnl"] == pytest.approx(105 - 100.5 - 0.1005 - 0.105, abs=1e-12)


def test_a_time_exit_later_than_window_after_is_still_honoured():
    leg = alternative_leg(replay_with("time:8h", after_hours=0))  # 09:30 -> bar 10 opens at 93
    assert (leg["exit_reason"], leg["exit_price"]) == ("time", 93.0)


def test_nothing_triggered_within_window_after_exits_at_its_last_close():
    # sold at 04:15, followed 2 h to 06:15: the last bar is 06:00, closing at 96 at 07:00
    leg = alternative_leg(replay_with("take_profit:50"))
    assert (leg["exit_reason"], leg["exit_price"], leg["exit_time"]) == ("window_end", 96.0, "2024-01-01T07:00:00Z")
    assert leg["pnl"] == pytest.approx(96 - 100.5 - 0.1005 - 0.096, abs=1e-12)


def test_a_position_still_open_stays_open_when_nothing_triggers():
    open_trip = RoundTrip("BTCUSDT", LONG, 1.0, at(1.5), 100.5, 0.1005, "buy-1")
    result = replay_with("take_profit:50", trips=[open_trip])
    leg = alternative_leg(result)
    assert (leg["exit_reason"], leg["exit_time"], leg["exit_price"]) == ("open", None, 91.0)
    assert leg["pnl"] == pytest.approx(91 - 100.5 - 0.1005, abs=1e-12)  # no exit fee until it exits
    assert result.alternative.trades.exit_bar.tolist() == [-1]


def test_a_short_take_profit_is_below_the_entry():
    # short of 2 sold at 05:00 (bar 5's open) for 106, covered at 09:00 for 94; take profit 5 % -> 100.7,
    # checked from bar 5 itself (entered at its open): its low 96 reaches it
    short = RoundTrip("BTCUSDT", SHORT, 2.0, at(5), 106.0, 0.0, "s", at(9), 94.0, 0.0, "b")
    result = replay_with("take_profit:5", trips=[short])
    leg = alternative_leg(result)
    assert (leg["exit_reason"], leg["exit_price"], leg["exit_time"]) == (
        "take_profit",
        pytest.approx(100.7),
        "2024-01-01T05:00:00Z",
    )
    assert leg["pnl"] == pytest.approx(2 * (106 - 100.7), abs=1e-12)
    assert result.comparison["trades"][0]["actual"]["pnl"] == pytest.approx(2 * (106 - 94))


# ---------------------------------------------------------------- strategies as alternatives
def strategy(entry_conditions=None, exit_conditions=None, config=None):
    return validate_strategy(
        {
            "entry_rules": {
                "conditions": entry_conditions or [{"indicator": "price", "comparator": ">", "value": 1e9}]
            },
            "exit_rules": {"conditions": exit_conditions or []},
            "config": config or {},
        }
    )


CLOSE_ABOVE_104_5 = [{"indicator": "price", "comparator": ">", "value": 104.5}]


def test_strategy_entry_fills_at_the_open_after_its_first_signal_around_the_actual_entry():
    # close > 104.5 first at bar 3 (105): filled at bar 4's open, 105, at 04:00 — before the actual exit at 04:15
    alternative = AlternativeSetup(entry_strategy=strategy(CLOSE_ABOVE_104_5))
    result = compute_replay(hourly(), [LONG_TRIP], settings(before_hours=1), alternative)
    leg = alternative_leg(result)
    assert (leg["entry_reason"], leg["entry_time"], leg["entry_price"]) == ("strategy", "2024-01-01T04:00:00Z", 105.0)
    assert (leg["exit_reason"], leg["exit_price"]) == ("actual", 106.5)
    assert leg["pnl"] == pytest.approx(106.5 - 105 - 0.105 - 0.1065, abs=1e-12)


def test_a_trade_the_strategy_never_enters_before_its_exit_is_not_entered():
    early = RoundTrip("BTCUSDT", LONG, 1.0, at(1.5), 100.5, 0.0, "a", at(2.5), 102.0, 0.0, "b")
    result = compute_replay(hourly(), [early], settings(), AlternativeSetup(entry_strategy=strategy(CLOSE_ABOVE_104_5)))
    row = result.comparison["trades"][0]
    assert row["alternative"] is None and row["pnl_difference"] == pytest.approx(-1.5)
    assert result.comparison["totals"]["alternative_trades"] == 0
    assert result.alternative.performance_summary["total_trades"] == 0


def test_strategy_exit_signal_fills_at_the_next_open_unless_its_stop_comes_first():
    # exit when close < 98: bar 5 closes at 97 -> out at bar 6's open, 97; its 10 % stop (90.45) is never reached
    exit_strategy = strategy(
        exit_conditions=[{"indicator": "price", "comparator": "<", "value": 98}], config={"stop_loss": 10}
    )
    result = compute_replay(hourly(), [LONG_TRIP], settings(), AlternativeSetup(exit_strategy=exit_strategy))
    leg = alternative_leg(result)
    assert (leg["exit_reason"], leg["exit_price"], leg["exit_time"]) == ("signal", 97.0, "2024-01-01T06:00:00Z")
    assert leg["pnl"] == pytest.approx(97 - 100.5 - 0.1005 - 0.097, abs=1e-12)
    with_stop = strategy(
        exit_conditions=[{"indicator": "price", "comparator": "<", "value": 98}], config={"stop_loss": 3}
    )
    leg = alternative_leg(compute_replay(hourly(), [LONG_TRIP], settings(), AlternativeSetup(exit_strategy=with_stop)))
    assert (leg["exit_reason"], leg["exit_price"]) == ("stop_loss", pytest.approx(97.485))


# ---------------------------------------------------------------- the engine's stops, reused
def test_first_price_exits_agrees_with_the_engine_for_entries_at_the_open():
    rng = np.random.default_rng(7)
    n = 400
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) / np.exp(np.abs(rng.normal(0, 0.006, n)))
    candles = Candles.from_arrays(np.arange(n) * HOUR, open_, high, low, close, np.ones(n))
    entry = np.zeros(n, dtype=bool)
    entry[rng.choice(n - 1, 60, replace=False)] = True
    for direction in (1, -1):
        rules = EngineRules(
            direction=direction,
            fee=0.001,
            slippage=0.0005,
            stop_loss=0.02,
            take_profit=0.03,
            trailing_stop=0.015,
            leverage=2.0,
            maintenance_margin=0.005,
        )
        engine = resolve_exits(candles, entry, np.zeros(n, dtype=bool), rules)
        hits = first_price_exits(candles, engine.entry_price, engine.fill_bar, np.full(len(engine), n), rules)
        stopped = engine.exit_reason != 5  # every other candidate runs to the end, open
        assert hits.rows.tolist() == np.flatnonzero(stopped).tolist()
        assert hits.bar.tolist() == engine.exit_bar[stopped].tolist()
        assert hits.reason.tolist() == engine.exit_reason[stopped].tolist()
        np.testing.assert_array_equal(hits.price, engine.exit_price[stopped])
