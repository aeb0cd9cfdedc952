"""The registry's description of each indicator matches what it computes; the cache computes
each distinct series once."""

from __future__ import annotations

import numpy as np
import pytest
import talib
from talib import abstract

from shared.candles import Candles
from shared.indicators import INDICATOR_ALIASES, REGISTRY, IndicatorCache, find_indicator, series_ref
from shared.indicators.custom import DATA_DEPENDENT_WARMUP
from tests.test_indicators import required_params


def candles(n: int = 600, seed: int = 5, spacing_ms: int = 60_000) -> Candles:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.004, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.004, n))
    return Candles.from_arrays(np.arange(n) * spacing_ms, open_, high, low, close, rng.uniform(1, 2, n))


# Hand-written warm-ups (leading NaN bars), the README's table; aliases where they exist.
WARMUPS = [
    ("price", {}, 0),
    ("sma", {"period": 10}, 9),
    ("ema", {"timeperiod": 10}, 9),
    ("wma", {"period": 10}, 9),
    ("rsi", {"period": 14}, 14),
    ("macd", {"fast_period": 12, "slow_period": 26, "signal_period": 9}, 33),
    ("bbands", {"period": 20}, 19),
    ("atr", {"period": 14}, 14),
    ("atr", {"period": 1}, 1),
    ("stoch", {"k_period": 5, "k_smoothing": 3, "d_period": 3}, 8),
    ("adx", {"period": 14}, 27),
    ("cci", {"period": 14}, 13),
    ("obv", {}, 0),
    ("vwap", {"period": 20}, 19),
    ("roc", {"period": 10}, 10),
    ("momentum", {"period": 10}, 10),
    ("williams_r", {"period": 14}, 13),
    ("donchian", {"period": 20}, 19),
    ("trix", {"timeperiod": 5}, 13),  # three EMAs (3 * 4 bars) and a one-bar rate of change
    ("keltner", {"period": 20, "atr_period": 10}, 19),
    ("ichimoku", {}, 51 + 26),
    ("linreg_channel", {"timeperiod": 20}, 19),
    ("eom", {"timeperiod": 14}, 14),
]


@pytest.mark.parametrize(("name", "params", "warmup"), WARMUPS)
def test_warmup_is_the_number_of_leading_nans_of_every_output(name: str, params: dict, warmup: int) -> None:
    cache = IndicatorCache(candles())
    spec = find_indicator(name)
    for output in spec.outputs:
        ref = series_ref(name, params, output)
        series = cache.series(ref)
        assert ref.warmup == warmup
        assert np.isnan(series[:warmup]).all()
        assert not np.isnan(series[warmup:]).any()


OUTSIDE_THEIR_DOMAIN = {"acos", "asin"}  # of prices above 1: NaN everywhere


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_indicator_is_undefined_exactly_during_its_warmup(name: str) -> None:
    # Given 600 hourly bars (pivots need a previous day)
    data = candles(600, spacing_ms=3_600_000)
    cache = IndicatorCache(data)
    spec = REGISTRY[name]
    for output in spec.outputs:
        ref = series_ref(name, required_params(name), output)
        series = cache.series(ref)
        assert series.dtype == np.float64 and len(series) == len(data)
        assert np.isnan(series[: ref.warmup]).all(), output
        defined = np.flatnonzero(~np.isnan(series))
        if name in OUTSIDE_THEIR_DOMAIN:
            continue
        if name in DATA_DEPENDENT_WARMUP:
            assert defined[0] >= ref.warmup  # a lower bound; then defined to the end
            assert not np.isnan(series[defined[0] :]).any()
        else:
            assert defined[0] == ref.warmup and len(defined) == len(data) - ref.warmup, output


def test_defaults_are_talibs_and_the_project_names_are_aliases() -> None:
    for name, spec in REGISTRY.items():
        if spec.reference != "TA-Lib":
            continue
        info = abstract.Function(name.upper()).info
        assert {p.name: p.default for p in spec.params} == dict(info["parameters"]), name
        outputs = [o.lower() for o in info["output_names"]]
        assert list(spec.outputs) == (outputs if len(outputs) > 1 else ["value"]), name
    assert REGISTRY["bbands"].defaults() == {
        "timeperiod": 20,
        "nbdevup": 2.0,
        "nbdevdn": 2.0,
        "matype": 0,
        "source": "close",
    }
    assert series_ref("bbands", {"period": 10, "std_dev": 1.5}, "upper") == series_ref(
        "bbands", {"timeperiod": 10, "nbdevup": 1.5, "nbdevdn": 1.5}, "upperband"
    )
    assert series_ref("stoch", {"k_period": 9, "k_smoothing": 2, "d_period": 4}, "d") == series_ref(
        "stoch", {"fastk_period": 9, "slowk_period": 2, "slowd_period": 4}, "slowd"
    )
    assert series_ref("macd", {"fast_period": 5}, "histogram") == series_ref("macd", {"fastperiod": 5}, "macdhist")
    assert series_ref("williams_r", {"period": 7}) == series_ref("willr", {"timeperiod": 7})
    assert series_ref("elder_ray", {}, "bull") == series_ref("eri", {}, "bullpower")
    assert series_ref("rsi", {}, "real") == series_ref("rsi", {})


@pytest.mark.parametrize(
    ("name", "params", "call"),
    [
        ("bbands", {"period": 10, "std_dev": 1.5, "output": "upper"}, lambda c: talib.BBANDS(c.close, 10, 1.5, 1.5)[0]),
        ("macd", {"fast_period": 5, "slow_period": 9, "output": "signal"}, lambda c: talib.MACD(c.close, 5, 9, 9)[1]),
        ("stoch", {"output": "d"}, lambda c: talib.STOCH(c.high, c.low, c.close)[1]),
        ("aroon", {"timeperiod": 7, "output": "aroonup"}, lambda c: talib.AROON(c.high, c.low, 7)[1]),
        ("sar", {"acceleration": 0.03}, lambda c: talib.SAR(c.high, c.low, 0.03)),
        ("mfi", {}, lambda c: talib.MFI(c.high, c.low, c.close, c.volume)),
        ("kama", {"source": "hl2"}, lambda c: talib.KAMA((c.high + c.low) / 2)),
        ("beta", {"source": "close", "source1": "open"}, lambda c: talib.BETA(c.close, c.open)),
        ("cdlengulfing", {}, lambda c: talib.CDLENGULFING(c.open, c.high, c.low, c.close).astype(float)),
    ],
)
def test_talib_indicators_are_talibs_values(name: str, params: dict, call) -> None:
    data = candles()
    output = params.pop("output", None)
    series = IndicatorCache(data).series(series_ref(name, params, output))
    expected = call(data)
    warmup = series_ref(name, params, output).warmup
    assert np.isnan(series[:warmup]).all()
    np.testing.assert_array_equal(series[warmup:], expected[warmup:])


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("open", lambda c: c.open),
        ("volume", lambda c: c.volume),
        ("hl2", lambda c: (c.high + c.low) / 2),
        ("hlc3", lambda c: (c.high + c.low + c.close) / 3),
        ("ohlc4", lambda c: (c.open + c.high + c.low + c.close) / 4),
    ],
)
def test_source_picks_the_input_series(source: str, expected) -> None:
    data = candles()
    cache = IndicatorCache(data)
    np.testing.assert_array_equal(cache.series(series_ref("price", {"source": source})), expected(data))
    ema = cache.series(series_ref("ema", {"period": 7, "source": source}))
    np.testing.assert_array_equal(ema, talib.EMA(expected(data), 7))


def test_offset_reads_the_value_from_bars_ago() -> None:
    data = candles()
    cache = IndicatorCache(data)
    shifted = cache.series(series_ref("donchian", {"period": 20}, "upper", offset=1))
    upper = talib.DONCHIAN(data.high, data.low, 20)[0]
    assert np.isnan(shifted[:20]).all()
    np.testing.assert_array_equal(shifted[20:], upper[19:-1])
    assert series_ref("donchian", {"period": 20}, "upper", offset=1).warmup == 20


def test_equal_references_share_one_computation() -> None:
    cache = IndicatorCache(candles())
    # Given the same SMA written with its default spelled out or not, and in another order
    first = cache.series(series_ref("sma", {"period": 30}))
    again = cache.series(series_ref("sma", {"source": "close"}))
    # And three outputs of one MACD, and an offset MACD line
    for output in ("line", "signal", "histogram"):
        cache.series(series_ref("macd", {}, output))
    cache.series(series_ref("macd", {}, "line", offset=3))
    # Then one SMA and one MACD computation happened
    assert first is again
    assert cache.computations == 2


def test_different_sources_or_params_are_different_series() -> None:
    cache = IndicatorCache(candles())
    cache.series(series_ref("sma", {"period": 10}))
    cache.series(series_ref("sma", {"period": 10, "source": "open"}))
    cache.series(series_ref("sma", {"period": 11}))
    assert cache.computations == 3


def test_cached_series_are_read_only_and_leave_the_candles_writable() -> None:
    data = candles()
    close = IndicatorCache(data).series(series_ref("price", {}))
    with pytest.raises(ValueError, match="read-only"):
        close[0] = 1.0
    data.close[0] = data.close[0]  # the candles' own column is untouched


def test_a_bounded_cache_evicts_the_least_recently_used_series() -> None:
    # Given room for two series of 600 float64 values
    data = candles()
    cache = IndicatorCache(data, max_bytes=2 * 600 * 8)
    sma = {period: series_ref("sma", {"period": period}) for period in (5, 6, 7)}
    cache.series(sma[5])
    cache.series(sma[6])
    cache.series(sma[5])  # used again: now sma(6) is the oldest
    cache.series(sma[7])  # evicts sma(6)
    assert cache.computations == 3 and cache.cached_bytes == 2 * 600 * 8
    cache.series(sma[5])
    assert cache.computations == 3
    cache.series(sma[6])
    assert cache.computations == 4
    # A price series shares the candles' memory and costs nothing
    cache.series(series_ref("price", {}))
    assert cache.cached_bytes == 2 * 600 * 8


# vwap's window sums are exact on their block grid only: tests/test_chunking.py covers it.
@pytest.mark.parametrize(
    "name", sorted(n for n, spec in REGISTRY.items() if spec.memory(spec.defaults()) is not None and n != "vwap")
)
def test_a_finite_memory_reproduces_each_value_from_that_many_bars(name: str) -> None:
    # Given an indicator computed on all bars and on only the last `memory` bars before some bars
    data = candles(400)
    for output in REGISTRY[name].outputs:
        ref = series_ref(name, {}, output)
        full = IndicatorCache(data).series(ref)
        for t in (150, 399):
            window = data.slice(t + 1 - ref.memory, t + 1)
            # Then the value at t is the same, bit for bit
            assert IndicatorCache(window).series(ref)[-1] == full[t] or np.isnan(full[t]), (output, t)


def test_running_sums_and_filters_depend_on_all_history() -> None:
    for name in ("sma", "ema", "obv", "rsi", "cdlengulfing"):
        assert series_ref(name, {}).memory is None
    assert series_ref("willr", {"period": 10}).memory == 10
    assert series_ref("vwap", {"period": 10}).memory == 10


def test_every_alias_computes_what_its_canonical_name_does() -> None:
    # Given every alias the registry knows: of indicators, of outputs, of parameters
    data = candles(300, spacing_ms=3_600_000)
    cache = IndicatorCache(data)
    for alias, name in INDICATOR_ALIASES.items():
        assert find_indicator(alias) is REGISTRY[name], alias
    for name, spec in REGISTRY.items():
        required = required_params(name)
        for alias, output in spec.output_aliases.items():
            assert spec.output(alias) == output
            np.testing.assert_array_equal(
                cache.series(series_ref(name, required, alias)),
                cache.series(series_ref(name, required, output)),
                err_msg=f"{name}.{alias}",
            )
        for alias, targets in spec.param_aliases().items():
            # Then a value given by the alias sets every parameter it names, as the canonical names do
            param = next(p for p in spec.params if p.name == targets[0])
            value = param.choices[-1] if param.choices else param.default + (1 if param.integer else 0.5)
            by_alias = series_ref(name, required | {alias: value})
            assert by_alias == series_ref(name, required | dict.fromkeys(targets, value)), (name, alias)
            assert by_alias != series_ref(name, required), (name, alias)  # the alias did set something
    # and TA-Lib's own output names of the single-output functions are aliases of `value`
    single = [spec for spec in REGISTRY.values() if spec.reference == "TA-Lib" and spec.outputs == ("value",)]
    assert len(single) > 100
    for spec in single:
        talib_output = abstract.Function(spec.name.upper()).info["output_names"][0]
        assert spec.output(talib_output) == "value", spec.name


@pytest.mark.parametrize("name", sorted(n for n, spec in REGISTRY.items() if spec.reference == "TA-Lib"))
def test_every_talib_function_gives_talibs_own_values_at_its_defaults(name: str) -> None:
    # Given TA-Lib's abstract interface called with its defaults on the same candles (mavp's
    # periods: the series the registry-wide tests give it)
    data = candles(400)
    cache = IndicatorCache(data)
    required = required_params(name)
    columns = {column: getattr(data, column) for column in ("open", "high", "low", "close", "volume")}
    columns |= {param: cache.series(ref) for param, ref in required.items()}
    expected = abstract.Function(name.upper())(columns)
    expected = expected if isinstance(expected, list) else [expected]
    spec = REGISTRY[name]
    for output, values in zip(spec.outputs, expected, strict=True):
        ref = series_ref(name, required, output)
        # Then every output is TA-Lib's, bit for bit, after the warm-up
        np.testing.assert_array_equal(
            cache.series(ref)[ref.warmup :], np.asarray(values, dtype=float)[ref.warmup :], err_msg=f"{name}.{output}"
        )
