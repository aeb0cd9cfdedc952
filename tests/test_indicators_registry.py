"""The registry's description of each indicator matches what it computes; the cache computes
each distinct series once."""

from __future__ import annotations

import numpy as np
import pytest

from shared.candles import Candles
from shared.indicators import REGISTRY, IndicatorCache, series_ref
from shared.indicators import functions as fn


def candles(n: int = 600, seed: int = 5) -> Candles:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    return Candles.from_arrays(np.arange(n) * 60_000, open_, high, low, close, rng.uniform(1, 2, n))


# Hand-written warm-ups (leading NaN bars), the README's table.
WARMUPS = [
    ("price", {}, 0),
    ("sma", {"period": 10}, 9),
    ("ema", {"period": 10}, 9),
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
]


@pytest.mark.parametrize(("name", "params", "warmup"), WARMUPS)
def test_warmup_is_the_number_of_leading_nans_of_every_output(name: str, params: dict, warmup: int) -> None:
    cache = IndicatorCache(candles())
    for output in REGISTRY[name].outputs:
        ref = series_ref(name, params, output)
        series = cache.series(ref)
        assert ref.warmup == warmup
        assert np.isnan(series[:warmup]).all()
        assert not np.isnan(series[warmup:]).any()


def test_every_indicator_has_a_warmup_case() -> None:
    assert {name for name, _, _ in WARMUPS} == set(REGISTRY)


def test_defaults_match_talibs() -> None:
    defaults = {name: spec.defaults() for name, spec in REGISTRY.items()}
    assert defaults["sma"] == defaults["ema"] == defaults["wma"] == {"period": 30, "source": "close"}
    assert defaults["rsi"] == {"period": 14, "source": "close"}
    assert defaults["macd"] == {"fast_period": 12, "slow_period": 26, "signal_period": 9, "source": "close"}
    assert defaults["bbands"] == {"period": 20, "std_dev": 2.0, "source": "close"}
    assert defaults["stoch"] == {"k_period": 5, "k_smoothing": 3, "d_period": 3}
    assert defaults["atr"] == defaults["adx"] == defaults["cci"] == defaults["williams_r"] == {"period": 14}
    assert defaults["roc"] == defaults["momentum"] == {"period": 10, "source": "close"}


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
    np.testing.assert_array_equal(ema, fn.ema(expected(data), 7))


def test_offset_reads_the_value_from_bars_ago() -> None:
    data = candles()
    cache = IndicatorCache(data)
    shifted = cache.series(series_ref("donchian", {"period": 20}, "upper", offset=1))
    upper = fn.donchian(data.high, data.low, 20).upper
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


def test_memory_covers_the_history_a_value_depends_on() -> None:
    # Given an EMA computed on all bars and on only the last `memory` bars before some bar
    data = candles(3000)
    ref = series_ref("ema", {"period": 10})
    bars = ref.memory
    full = fn.ema(data.close, 10)
    partial = fn.ema(data.close[-bars:], 10)
    # Then the last value agrees to the documented 1e-12 of the series' scale
    assert abs(full[-1] - partial[-1]) <= 1e-12 * np.max(data.close)
    # A finite window needs exactly its window; OBV depends on all history
    assert series_ref("sma", {"period": 10}).memory == 10
    assert series_ref("obv", {}).memory is None
