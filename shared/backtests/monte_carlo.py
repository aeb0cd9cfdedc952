"""Monte Carlo analysis of a completed backtest: how much of its outcome was the order of luck.

Trade methods resample the closed trades' *returns*, r_i = pnl_i / balance at entry_i (the initial
balance plus every pnl closed at or before the entry), never their absolute pnl: a path is
initial * prod(1 + r), so no resample can lose more than everything. For all-in sizing r_i is
exactly how the balance moved, so a permutation keeps every simulation's final balance equal to
the backtest's (the product does not depend on the order; the built-in invariant the tests check).

- trade_permutation: the same returns in a random order (drawdown and ruin vary, the end does not);
- trade_bootstrap: as many returns, drawn with replacement;
- block_bootstrap: the per-bar returns of the equity curve, in blocks of `block` consecutive bars
  drawn with replacement (keeps volatility clustering within a block), up to the curve's length.

Per simulation: final balance, max drawdown % (peak to trough of the path, starting at the initial
balance), CAGR over the backtest's span (-100 once the balance is gone), and ruin = the path ever
below `ruin_threshold` * initial. Answers the 5/25/50/75/95th percentiles (NumPy's linear
interpolation) and mean of each, the probability of ruin, and percentile bands of the path at up
to BAND_POINTS evenly spaced steps. A `numpy.random.Generator(PCG64(seed))` draws everything, in
chunks of simulations, so a seed gives the same answer and memory stays bounded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.backtests.model import MAX_SIMULATIONS, MONTE_CARLO_METHODS, MonteCarloRequest
from shared.errors import FieldError, ValidationFailed
from shared.timeframes import YEAR_MS

PERCENTILES = (5, 25, 50, 75, 95)
BAND_POINTS = 101
MAX_STEPS_SIMULATED = 400_000_000  # simulations x path length: bounds one request's CPU (~seconds)
CHUNK_VALUES = 4_000_000  # simulations x path length held in memory at once


def trade_returns(
    entry_ms: NDArray[Any], exit_ms: NDArray[Any], pnl: NDArray[Any], initial_balance: float
) -> NDArray[Any]:
    """Each closed trade's return on the balance at its entry, in exit order."""
    order = np.argsort(exit_ms, kind="stable")
    entry_ms, exit_ms, pnl = entry_ms[order], exit_ms[order], np.asarray(pnl, dtype=np.float64)[order]
    closed_before = np.concatenate([[0.0], np.cumsum(pnl)])
    balance = initial_balance + closed_before[np.searchsorted(exit_ms, entry_ms, side="right")]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(balance > 0.0, pnl / balance, -1.0)


def bar_returns(equity: NDArray[Any]) -> NDArray[Any]:
    """r_t = equity_t / equity_{t-1} - 1 (0 once the equity is 0), as the metrics define them."""
    equity = np.asarray(equity, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(equity[:-1] > 0.0, equity[1:] / equity[:-1] - 1.0, 0.0)


def simulate(returns: NDArray[Any], initial_balance: float, years: float, request: MonteCarloRequest) -> dict[str, Any]:
    """The distribution of outcomes over `request.simulations` resampled paths of `returns`."""
    _check(request, len(returns))
    n, rng = len(returns), np.random.default_rng(request.seed)
    band_steps = np.unique(np.linspace(0, n, min(BAND_POINTS, n + 1)).round().astype(np.int64))
    finals, drawdowns, ruined, bands = [], [], [], []
    chunk = max(1, CHUNK_VALUES // max(n, 1))
    for start in range(0, request.simulations, chunk):
        paths = _resample(returns, min(chunk, request.simulations - start), request, rng)
        equity = initial_balance * np.cumprod(1.0 + paths, axis=1)
        equity = np.concatenate([np.full((len(paths), 1), float(initial_balance)), equity], axis=1)
        peak = np.maximum.accumulate(equity, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = np.where(peak > 0.0, 100.0 * (peak - equity) / peak, 0.0)
        finals.append(equity[:, -1])
        drawdowns.append(depth.max(axis=1))
        ruined.append((equity < request.ruin_threshold * initial_balance).any(axis=1))
        bands.append(equity[:, band_steps])
    final = np.concatenate(finals)
    band_values = np.concatenate(bands)
    return {
        "final_balance": _distribution(final),
        "max_drawdown_percentage": _distribution(np.concatenate(drawdowns)),
        "cagr": _distribution(_cagr(final, initial_balance, years)),
        "probability_of_ruin": float(np.concatenate(ruined).mean()),
        "equity_bands": {
            "unit": "bar" if request.method == "block_bootstrap" else "trade",
            "steps": band_steps.tolist(),
        }
        | {f"p{q}": np.percentile(band_values, q, axis=0).tolist() for q in PERCENTILES},
    }


def _resample(returns: NDArray[Any], count: int, request: MonteCarloRequest, rng: np.random.Generator) -> NDArray[Any]:
    n = len(returns)
    if request.method == "trade_permutation":
        return rng.permuted(np.broadcast_to(returns, (count, n)), axis=1)
    if request.method == "trade_bootstrap":
        return returns[rng.integers(0, n, size=(count, n))]
    block = min(request.block, n)
    blocks = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(count, blocks))
    indices = (starts[:, :, None] + np.arange(block)).reshape(count, blocks * block)[:, :n]
    return returns[indices]


def _distribution(values: NDArray[Any]) -> dict[str, float]:
    return {f"p{q}": float(v) for q, v in zip(PERCENTILES, np.percentile(values, PERCENTILES))} | {
        "mean": float(values.mean())
    }


def _cagr(final: NDArray[Any], initial: float, years: float) -> NDArray[Any]:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        grown = 100.0 * (np.power(np.maximum(final, 0.0) / initial, 1.0 / years) - 1.0)
    return np.where(final <= 0.0, -100.0, grown)


def _check(request: MonteCarloRequest, steps: int) -> None:
    errors = []
    if request.method not in MONTE_CARLO_METHODS:
        errors.append(FieldError("method", f"must be one of {', '.join(MONTE_CARLO_METHODS)}"))
    if not 1 <= request.simulations <= MAX_SIMULATIONS:
        errors.append(FieldError("simulations", f"must be between 1 and {MAX_SIMULATIONS}"))
    elif steps * request.simulations > MAX_STEPS_SIMULATED:
        errors.append(
            FieldError(
                "simulations",
                f"{request.simulations} simulations of {steps} steps exceed the "
                f"{MAX_STEPS_SIMULATED} one request may simulate; at most "
                f"{MAX_STEPS_SIMULATED // steps}",
            )
        )
    if request.block < 1:
        errors.append(FieldError("block", "must be at least 1"))
    if not 0.0 < request.ruin_threshold < 1.0:
        errors.append(FieldError("ruin_threshold", "must be between 0 and 1 (a fraction of the initial balance)"))
    if steps == 0 and not errors:
        errors.append(
            FieldError(
                "method",
                "the backtest has no closed trades to resample"
                if request.method != "block_bootstrap"
                else "the backtest's equity curve has a single bar",
            )
        )
    if errors:
        raise ValidationFailed("invalid Monte Carlo request", errors)


def years_between(start_ms: int, end_ms: int) -> float:
    return max(end_ms - start_ms, 1) / YEAR_MS
