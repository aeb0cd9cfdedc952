"""Windowed sums for the rolling indicators TA-Lib lacks (VWAP), exact on a block grid.

Contract: 1-D float64 arrays of finite values in, float64 arrays out, no Python loop per bar.
Unlike a running sum (TA-Lib's SMA), a window's sum here depends only on the block grid the
read starts on, which is what lets a chunked executor read a finite warm-up (see
`shared.engine.chunks`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

# Prefix sums restart every `_PREFIX_BLOCK` bars so that a window sum is the difference of two
# numbers no larger than one block's total (a global cumsum loses ~1e-8 relative on volume).
_PREFIX_BLOCK = 2048


def nan_array(n: int) -> NDArray[Any]:
    return np.full(n, np.nan)


class WindowSums:
    """Sums of x over trailing windows of any length, sharing one pass of prefix sums.

    The prefix sums restart at every block of `_PREFIX_BLOCK` bars (larger blocks for longer
    windows); a window then spans at most two blocks and its sum is exact up to the rounding of
    one block's total. One instance serves every window length up to the block length, which is
    how an SMA(10)/SMA(50) pair or a parameter sweep over periods pays for one prefix pass.
    """

    def __init__(self, x: NDArray[Any]) -> None:
        self._x = x
        self._prefixes: dict[int, NDArray[Any]] = {}

    def _block_prefix(self, block: int) -> NDArray[Any]:
        """Inclusive prefix sums restarting every `block` bars, shape (n_blocks, block)."""
        prefix = self._prefixes.get(block)
        if prefix is None:
            n_blocks = -(-len(self._x) // block)
            prefix = np.zeros((n_blocks, block))
            prefix.reshape(-1)[: len(self._x)] = self._x
            np.cumsum(prefix, axis=1, out=prefix)
            self._prefixes[block] = prefix
        return prefix

    def sum(self, period: int) -> NDArray[Any]:
        """sum(x[t-period+1 .. t]) at each t; NaN for the first period-1 bars. A fresh array."""
        n = len(self._x)
        if period > n:
            return nan_array(n)
        if period == 1:
            return self._x.copy()
        block = max(_PREFIX_BLOCK, 1 << (period - 1).bit_length())
        prefix = self._block_prefix(block)
        flat = prefix.reshape(-1)
        sums = np.empty_like(flat)
        # Window inside its block: difference of two prefixes of the same block (one contiguous
        # pass; the first `period` bars of each block are then redone below).
        np.subtract(flat[period:], flat[:-period], out=sums[period:])
        # Window starting in the previous block: this block's prefix + the previous block's tail.
        by_block = sums.reshape(prefix.shape)
        np.subtract(prefix[:-1, -1:], prefix[:-1, -period:], out=by_block[1:, :period])
        by_block[1:, :period] += prefix[1:, :period]
        by_block[0, :period] = prefix[0, :period]
        out = sums[:n]
        out[: period - 1] = np.nan
        return out
