"""Rule evaluation: what each comparator, group and operand means, on hand-computed bars."""

from __future__ import annotations

import numpy as np
import pytest

from shared.candles import Candles
from shared.indicators import IndicatorCache
from shared.strategy import validate_strategy

T, F = True, False


def bars(close, open_=None, high=None, low=None, volume=None) -> Candles:
    close = np.asarray(close, dtype=float)
    return Candles.from_arrays(
        np.arange(len(close)) * 3_600_000,
        close if open_ is None else open_,
        close if high is None else high,
        close if low is None else low,
        close,
        np.ones(len(close)) if volume is None else volume,
    )


def condition(indicator="price", params=None, comparator=">", value=0.0) -> dict:
    return {"indicator": indicator, "params": params or {}, "comparator": comparator, "value": value}


def entry(candles: Candles, *conditions, operator="and", config=None, exit_rules=None):
    strategy = {"entry_rules": {"operator": operator, "conditions": list(conditions)}}
    if config is not None:
        strategy["config"] = config
    if exit_rules is not None:
        strategy["exit_rules"] = exit_rules
    return validate_strategy(strategy).signals(candles)


CLOSE = [1.0, 2.0, 3.0, 2.0, 2.0, 4.0]


@pytest.mark.parametrize(
    ("comparator", "expected"),
    [
        (">", [F, F, T, F, F, T]),
        ("greater_than", [F, F, T, F, F, T]),
        (">=", [F, T, T, T, T, T]),
        ("greater_than_or_equal", [F, T, T, T, T, T]),
        ("<", [T, F, F, F, F, F]),
        ("less_than", [T, F, F, F, F, F]),
        ("<=", [T, T, F, T, T, F]),
        ("less_than_or_equal", [T, T, F, T, T, F]),
        ("==", [F, T, F, T, T, F]),
        ("equals", [F, T, F, T, T, F]),
        ("EQUAL", [F, T, F, T, T, F]),
        # close vs 2: above at t means <= 2 at t-1 and > 2 at t
        ("crosses_above", [F, F, T, F, F, T]),
        ("cross_above", [F, F, T, F, F, T]),
        # below at t means >= 2 at t-1 and < 2 at t: never (2 -> 2 is not a cross)
        ("crosses_below", [F, F, F, F, F, F]),
    ],
)
def test_comparators_against_a_number(comparator: str, expected: list[bool]) -> None:
    signals = entry(bars(CLOSE), condition(comparator=comparator, value=2))
    np.testing.assert_array_equal(signals.entry, expected)


def test_crosses_between_two_series_need_both_bars_defined() -> None:
    # Given close and its SMA(2) (undefined on bar 0)
    close = [3.0, 1.0, 2.0, 4.0, 3.0, 1.0, 1.0]
    # sma2:   nan, 2.0, 1.5, 3.0, 3.5, 2.0, 1.0
    sma2 = {"indicator": "sma", "params": {"period": 2}}
    above = entry(bars(close), condition(comparator="crosses_above", value=sma2)).entry
    below = entry(bars(close), condition(comparator="crosses_below", value=sma2)).entry
    # Then: bar 1 has no defined previous SMA; close 1<=2 then 2>1.5 at bar 2; 4>3 at bar 3 was
    # already above; 3<3.5 at bar 4 after 4>=3; 1<2 at bar 5 after 3<3.5 is not a new cross;
    # 1 == 1 at bar 6 is neither
    np.testing.assert_array_equal(above, [F, F, T, F, F, F, F])
    np.testing.assert_array_equal(below, [F, F, F, F, T, F, F])


def test_touching_then_leaving_is_a_cross() -> None:
    # a == b at t-1 counts as "not above", so leaving upward crosses
    signals = entry(bars([2.0, 2.0, 2.5]), condition(comparator="crosses_above", value=2))
    np.testing.assert_array_equal(signals.entry, [F, F, T])


def test_a_nan_operand_makes_every_comparator_false() -> None:
    # SMA(3) is undefined on bars 0-1
    # Given thresholds every defined value satisfies
    for comparator, threshold in ((">", -1e9), (">=", -1e9), ("<", 1e9), ("<=", 1e9), ("==", 5.0)):
        signals = entry(bars([5.0, 5.0, 5.0, 5.0]), condition("sma", {"period": 3}, comparator, threshold))
        np.testing.assert_array_equal(signals.entry, [F, F, T, T], err_msg=comparator)
    # A cross needs the previous bar defined too: close 5, 1, 9, 9 vs SMA(2) nan, 3, 5, 9 is
    # below on bar 1, but with nothing defined before it that is no cross
    for comparator in ("crosses_above", "crosses_below"):
        sma2 = {"indicator": "sma", "params": {"period": 2}}
        signals = entry(bars([5.0, 1.0, 9.0, 9.0]), condition(comparator=comparator, value=sma2))
        expected = [F, F, T, F] if comparator == "crosses_above" else [F, F, F, F]
        np.testing.assert_array_equal(signals.entry, expected, err_msg=comparator)


def test_equality_tolerates_rounding_but_not_real_differences() -> None:
    # 0.1 + 0.2 != 0.3 in floating point, but they are equal to 1e-9 relative
    signals = entry(bars([0.1 + 0.2, 0.3 + 1e-6]), condition(comparator="==", value=0.3))
    np.testing.assert_array_equal(signals.entry, [T, F])


def test_price_field_and_indicator_operands() -> None:
    candles = bars([10.0, 11.0, 12.0], open_=[10.5, 10.5, 12.5], high=[11.0, 11.5, 13.0], low=[9.0, 10.0, 11.0])
    # close > open
    np.testing.assert_array_equal(entry(candles, condition(value="open")).entry, [F, T, F])
    # hl2 (10, 10.75, 12) <= close
    np.testing.assert_array_equal(entry(candles, condition(comparator="<=", value="hl2")).entry, [T, F, T])
    # the left side with a source: open < sma(2) of close (nan, 10.5, 11.5)
    left = condition("price", {"source": "open"}, "<", {"indicator": "sma", "params": {"period": 2}})
    np.testing.assert_array_equal(entry(candles, left).entry, [F, F, F])
    # an indicator output: close > bbands(2) upper? close 11 vs 10.5 + 2 * 0.5 = 11.5: no
    upper = {"indicator": "bbands", "params": {"period": 2, "output": "upper"}}
    np.testing.assert_array_equal(entry(candles, condition(comparator=">=", value=upper)).entry, [F, F, F])
    lower = {"indicator": "bbands", "params": {"period": 2, "output": "lower"}}
    np.testing.assert_array_equal(entry(candles, condition(comparator=">", value=lower)).entry, [F, T, T])


def test_offset_compares_with_earlier_bars() -> None:
    # close > previous bar's close
    signals = entry(bars([1.0, 2.0, 2.0, 3.0]), condition(value={"indicator": "price", "params": {"offset": 1}}))
    np.testing.assert_array_equal(signals.entry, [F, T, F, T])


@pytest.mark.parametrize(
    ("operator", "expected"),
    # close <= 3: [T, T, T, T, T, F];  close > 1.5: [F, T, T, T, T, T];  close < 2: [T, F, F, F, F, F]
    [("and", [F, T, T, T, T, F]), ("or", [T, T, T, T, T, T])],
)
def test_and_or_groups(operator: str, expected: list[bool]) -> None:
    conditions = [condition(comparator="<=", value=3), condition(comparator=">", value=1.5)]
    np.testing.assert_array_equal(entry(bars(CLOSE), *conditions, operator=operator).entry, expected)
    # and of disjoint conditions is never true; or of them is either
    disjoint = [condition(comparator="<", value=2), condition(comparator=">", value=3)]
    either = entry(bars(CLOSE), *disjoint, operator=operator).entry
    np.testing.assert_array_equal(either, [F] * 6 if operator == "and" else [T, F, F, F, F, T])


def test_nested_groups() -> None:
    # (close > 1.5 and close < 3.5) or close == 4  on  1, 2, 3, 2, 2, 4
    inner = {"operator": "and", "conditions": [condition(value=1.5), condition(comparator="<", value=3.5)]}
    signals = entry(bars(CLOSE), inner, condition(comparator="==", value=4), operator="or")
    np.testing.assert_array_equal(signals.entry, [F, T, T, T, T, T])
    deeper = {"operator": "or", "conditions": [{"operator": "and", "conditions": [condition(value=2.5)]}]}
    np.testing.assert_array_equal(entry(bars(CLOSE), deeper).entry, [F, F, T, F, F, T])


def test_named_parameters_resolve_everywhere() -> None:
    candles = bars(np.linspace(1.0, 30.0, 30) % 7)
    named = entry(
        candles,
        condition("sma", {"period": "$fast"}, ">", {"indicator": "sma", "params": {"period": "$slow"}}),
        condition("rsi", {"period": "$fast"}, "<", "$ceiling"),
        config={"parameters": {"fast": 3, "slow": 5, "ceiling": 70}},
    )
    literal = entry(
        candles,
        condition("sma", {"period": 3}, ">", {"indicator": "sma", "params": {"period": 5}}),
        condition("rsi", {"period": 3}, "<", 70),
    )
    np.testing.assert_array_equal(named.entry, literal.entry)
    assert named.entry.any()


def test_exits_are_false_without_exit_rules_and_direction_does_not_change_signals() -> None:
    candles = bars(CLOSE)
    exit_rules = {"operator": "and", "conditions": [condition(comparator="<", value=2)]}
    long = entry(candles, condition(value=2), exit_rules=exit_rules)
    short = entry(candles, condition(value=2), exit_rules=exit_rules, config={"direction": "short"})
    np.testing.assert_array_equal(long.entry, short.entry)
    np.testing.assert_array_equal(long.exit, [T, F, F, F, F, F])
    np.testing.assert_array_equal(long.exit, short.exit)
    np.testing.assert_array_equal(entry(candles, condition(value=2)).exit, [F] * 6)
    empty = {"operator": "and", "conditions": []}
    np.testing.assert_array_equal(entry(candles, condition(value=2), exit_rules=empty).exit, [F] * 6)


def test_warmup_and_lookback() -> None:
    sma = {"indicator": "sma", "params": {"period": 10}}
    cross = validate_strategy({"entry_rules": {"conditions": [condition("sma", {"period": 50}, "crosses_above", sma)]}})
    # SMA(50) is undefined on 49 bars, and a cross also needs the bar before; TA-Lib's running
    # sum carries rounding from the first bar, so a chunk reads all history
    assert cross.warmup == 50 and cross.lookback is None
    level = validate_strategy({"entry_rules": {"conditions": [condition("rsi", {}, "<", 30)]}})
    assert level.warmup == 14
    window = validate_strategy({"entry_rules": {"conditions": [condition("willr", {"period": 10}, "<", -80)]}})
    assert window.warmup == 9 and window.lookback == 10  # an exact window: max and min of 10 bars
    obv = validate_strategy({"entry_rules": {"conditions": [condition("obv", {}, ">", 0)]}})
    assert obv.lookback is None
    signals = cross.signals(bars(np.arange(1.0, 21.0)))
    assert signals.warmup == 20  # capped at the number of bars


def test_one_evaluation_computes_each_distinct_series_once() -> None:
    # Given an SMA crossover whose entry and exit both read sma(10) and sma(50), one spelled
    # with its default source
    fast = {"indicator": "sma", "params": {"period": 10}}
    slow = {"indicator": "sma", "params": {"period": 50, "source": "close"}}
    strategy = validate_strategy(
        {
            "entry_rules": {"conditions": [{**fast, "comparator": "crosses_above", "value": slow}]},
            "exit_rules": {"conditions": [{**slow, "comparator": ">", "value": fast}]},
        }
    )
    candles = bars(100 + np.sin(np.arange(300) / 10))
    cache = IndicatorCache(candles)
    # When its signals are evaluated twice with one cache
    first = strategy.signals(candles, cache)
    second = strategy.signals(candles, cache)
    # Then two indicator computations happened in all
    assert cache.computations == 2
    assert len(strategy.series()) == 2
    np.testing.assert_array_equal(first.entry, second.entry)
    assert first.entry.any() and first.exit.any()


def test_a_cache_of_other_candles_is_refused() -> None:
    strategy = validate_strategy({"entry_rules": {"conditions": [condition()]}})
    with pytest.raises(ValueError, match="other candles"):
        strategy.signals(bars(CLOSE), IndicatorCache(bars(CLOSE)))
