"""Window sums equal direct sums, on long series and block edges."""

from __future__ import annotations

import numpy as np
import pytest

from shared.indicators._kernels import WindowSums


def walk(n: int, seed: int = 1) -> np.ndarray:
    return 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, n)))


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
