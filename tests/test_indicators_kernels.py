"""The vectorised kernels equal the plain loops they replace, on long series and block edges."""

from __future__ import annotations

import numpy as np
import pytest

from shared.indicators._kernels import (
    WindowSums,
    exponential_smoothing,
    lagged_sum,
    linear_recurrence,
    rolling_max,
    rolling_min,
)


def walk(n: int, seed: int = 1) -> np.ndarray:
    return 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, n)))


def recurrence_loop(b: np.ndarray, c: float, y0: float) -> np.ndarray:
    out, y = np.empty(len(b)), y0
    for t, value in enumerate(b):
        y = c * y + value
        out[t] = y
    return out


@pytest.mark.parametrize("n", [0, 1, 31, 32, 33, 1024, 1025, 40_000])
@pytest.mark.parametrize("c", [0.0, 0.5, 0.96, 0.9999])
def test_linear_recurrence_equals_the_loop(n: int, c: float) -> None:
    b = np.random.default_rng(n).normal(size=n)
    np.testing.assert_allclose(linear_recurrence(b, c, 3.0), recurrence_loop(b, c, 3.0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("alpha", [1.0, 2 / 11, 1 / 14, 2 / 201])
def test_exponential_smoothing_equals_the_loop(alpha: float) -> None:
    x = walk(5000)
    expected, y = np.empty(len(x)), 95.0
    expected[0] = y
    for t in range(1, len(x)):
        y = y + alpha * (x[t] - y)
        expected[t] = y
    np.testing.assert_allclose(exponential_smoothing(x, alpha, 95.0), expected, rtol=1e-13)


def test_exponential_smoothing_of_a_single_bar_is_its_seed() -> None:
    np.testing.assert_array_equal(exponential_smoothing(np.array([5.0]), 0.5, 7.0), [7.0])


@pytest.mark.parametrize("period", [1, 2, 3, 50, 2047, 2048, 2049, 5000])
def test_window_sums_equal_direct_sums_across_block_edges(period: int) -> None:
    # Given 3 prefix blocks and then some: windows inside blocks and straddling their edges
    x = walk(2048 * 3 + 77)
    expected = np.full(len(x), np.nan)
    expected[period - 1 :] = np.convolve(x, np.ones(period), "valid")
    np.testing.assert_allclose(WindowSums(x).sum(period), expected, rtol=1e-12)


def test_window_sums_keep_small_windows_exact_after_huge_values() -> None:
    # Given a huge volume followed by tiny ones: a global cumsum would leave ~1e-8 relative error
    x = np.concatenate(([1e12], np.full(5000, 1e-3)))
    np.testing.assert_allclose(WindowSums(x).sum(10)[3000:], 1e-2, rtol=1e-9)


def test_window_sums_of_a_window_longer_than_the_series_are_undefined() -> None:
    assert np.isnan(WindowSums(np.ones(5)).sum(6)).all()


@pytest.mark.parametrize("period", [1, 2, 3, 7, 8, 9, 64, 100])
def test_rolling_extremes_equal_window_max_and_min(period: int) -> None:
    x = walk(1000, seed=period)
    windows = np.lib.stride_tricks.sliding_window_view(x, period)
    for ours, reduce in ((rolling_max, np.max), (rolling_min, np.min)):
        expected = np.full(len(x), np.nan)
        expected[period - 1 :] = reduce(windows, axis=1)
        np.testing.assert_array_equal(ours(x, period), expected)


def test_lagged_sum_passes_each_lag() -> None:
    # sum over lags of (lag + 1) * x[t - lag] for a window of 3 on 1..5
    x = np.arange(1.0, 6.0)
    result = lagged_sum(x, 3, lambda values, lag, out: np.multiply(values, lag + 1.0, out=out))
    # t=2: 3*1 + 2*2 + 1*3 = 10; t=3: 4 + 6 + 6 = 16; t=4: 5 + 8 + 9 = 22
    np.testing.assert_array_equal(result, [np.nan, np.nan, 10.0, 16.0, 22.0])
