"""NumPy kernels the indicators are built from: windowed sums, extrema, exponential smoothing.

Contract: 1-D float64 arrays of finite values in, float64 arrays out, no Python loop per bar
(a Lambda cannot afford one on a million bars, nor a JIT compile on every cold start).
Each kernel is exact or accurate to a few ulps relative to the magnitudes it combines, so
the indicators built on it agree with TA-Lib to far better than 1e-9 relative. Large
temporaries are few: on Firecracker VMs (Lambda) every fresh megabyte costs page faults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Block length of the matrix-product scan. 32 keeps the product (~32 flops per bar) within the
# cost of one cumsum while the recursion over block states stays short (n / 32, n / 1024, ...).
_SCAN_BLOCK = 32
# Rows per matrix product: small enough (rows * 32 * 32 <= 2**18) that OpenBLAS computes it on
# the calling thread. Its threads cost more than they save on products this thin, and under CPU
# contention (a busy Lambda host, a shared CI box) they turn 2 ms into 30-100 ms.
_PRODUCT_ROWS = 256
# Prefix sums restart every `_PREFIX_BLOCK` bars so that a window sum is the difference of two
# numbers no larger than one block's total (a global cumsum loses ~1e-8 relative on volume).
_PREFIX_BLOCK = 2048


def nan_array(n: int) -> NDArray[Any]:
    return np.full(n, np.nan)


def _block_powers(c: float) -> NDArray[Any]:
    """powers[k, j] = c**(j-k) for j >= k, else 0: one block's zero-state response matrix."""
    lag = np.arange(_SCAN_BLOCK)[None, :] - np.arange(_SCAN_BLOCK)[:, None]
    return np.where(lag >= 0, c ** np.abs(lag), 0.0)


def _blocked(n: int) -> NDArray[Any]:
    """A zeroed (blocks, _SCAN_BLOCK) buffer whose flat view holds n values."""
    return np.zeros((max(1, -(-n // _SCAN_BLOCK)), _SCAN_BLOCK))


def _scan_blocks(blocks: NDArray[Any], c: float, y0: float, out: NDArray[Any]) -> None:
    """y[t] = c * y[t-1] + b[t] over the flattened `blocks` (overwritten), y[-1] = y0, into
    `out` (same shape).

    Within blocks of 32 bars the zero-state response is one matrix product with the Toeplitz
    matrix of powers of c; the state entering each block obeys the same recurrence with c**32
    over the block ends, solved recursively; folding each entering state into its block's first
    input makes the final product exact up to rounding.
    """
    powers = _block_powers(c)
    entering = np.empty(len(blocks))
    entering[0] = y0
    if len(blocks) > 1:
        block_ends = np.empty(len(blocks) - 1)
        _product(blocks[:-1], powers[:, -1], block_ends)
        entering[1:] = linear_recurrence(block_ends, c**_SCAN_BLOCK, y0)
    blocks[:, 0] += c * entering
    _product(blocks, powers, out)


def _product(rows: NDArray[Any], matrix: NDArray[Any], out: NDArray[Any]) -> None:
    """out = rows @ matrix, in single-threaded slices of `_PRODUCT_ROWS` rows."""
    for start in range(0, len(rows), _PRODUCT_ROWS):
        stop = start + _PRODUCT_ROWS
        np.matmul(rows[start:stop], matrix, out=out[start:stop])


def linear_recurrence(b: NDArray[Any], c: float, y0: float) -> NDArray[Any]:
    """y[t] = c * y[t-1] + b[t] for t = 0..n-1, with y[-1] = y0 and a constant 0 <= c <= 1."""
    n = len(b)
    blocks = _blocked(n)
    blocks.reshape(-1)[:n] = b
    out = np.empty_like(blocks)
    _scan_blocks(blocks, c, y0, out)
    return out.reshape(-1)[:n]


def exponential_smoothing(x: NDArray[Any], alpha: float, seed: float) -> NDArray[Any]:
    """y[0] = seed, y[t] = y[t-1] + alpha * (x[t] - y[t-1]): an EMA (alpha = 2/(n+1)) or
    Wilder's smoothing (alpha = 1/n) of x, given the value at its first bar.

    Solved for the residual e = y - x, which obeys e[t] = c*e[t-1] + c*(x[t-1] - x[t]) with
    c = 1 - alpha: the residual is small next to the prices, so rounding is relative to it, and
    a flat stretch of x keeps y exactly on x instead of wobbling by an ulp around it.
    """
    n = len(x)
    c = 1.0 - alpha
    blocks = _blocked(n - 1)
    increments = blocks.reshape(-1)[: max(0, n - 1)]
    np.subtract(x[:-1], x[1:], out=increments)
    increments *= c
    # out[1:] is laid out as blocks so that the scan writes the residual straight into it.
    out = np.empty(1 + blocks.size)
    _scan_blocks(blocks, c, seed - x[0] if n else 0.0, out[1:].reshape(blocks.shape))
    out[1:n] += x[1:]
    out[:1] = seed
    return out[:n]


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


def _rolling_extreme(x: NDArray[Any], period: int, extreme: np.ufunc) -> NDArray[Any]:
    """Doubling: after k passes buffer[t] is the extreme of the 2**k bars ending at t; a window
    of `period` is then covered by two overlapping power-of-two windows. Exact, log2 passes."""
    n = len(x)
    out = nan_array(n)
    if period > n:
        return out
    current, spare = x.copy(), np.empty(n)
    span = 1
    while 2 * span <= period:
        extreme(current[span:], current[:-span], out=spare[span:])
        spare[:span] = current[:span]
        current, spare = spare, current
        span *= 2
    extreme(current[period - 1 :], current[span - 1 : n - period + span], out=out[period - 1 :])
    return out


def rolling_max(x: NDArray[Any], period: int) -> NDArray[Any]:
    return _rolling_extreme(x, period, np.maximum)


def rolling_min(x: NDArray[Any], period: int) -> NDArray[Any]:
    return _rolling_extreme(x, period, np.minimum)


def lagged_sum(x: NDArray[Any], period: int, term: Callable[[NDArray[Any], int, NDArray[Any]], NDArray[Any]]) -> NDArray[Any]:
    """For every full trailing window ending at t: the sum over lag = 0..period-1 of
    term(x[t - lag], lag).

    For window statistics with no O(1) update (deviation about each window's own mean, fixed
    weights): one vector pass per lag, each window summed directly, so no cancellation. `term`
    receives the lagged values (aligned with the window ends), the lag, and a scratch array to
    write its result into (and return).
    """
    n = len(x)
    out = nan_array(n)
    if period > n:
        return out
    total = out[period - 1 :]
    total[:] = 0.0
    scratch = np.empty(n - period + 1)
    for lag in range(period):
        total += term(x[period - 1 - lag : n - lag], lag, scratch)
    return out
