"""Monte Carlo (shared.backtests.monte_carlo) against hand-computed distributions and its invariants."""

from __future__ import annotations

import numpy as np
import pytest

from shared.backtests.model import MonteCarloRequest
from shared.backtests.monte_carlo import bar_returns, simulate, trade_returns
from shared.errors import ValidationFailed


def test_trade_returns_are_on_the_balance_at_entry():
    # 1000 -> +100 (1100) -> -110 -> 990; the third trade opened before the second closed
    returns = trade_returns(np.array([0, 2, 3]), np.array([1, 5, 4]), np.array([100.0, -110.0, 55.0]), 1000.0)
    assert returns.tolist() == pytest.approx([0.1, 55.0 / 1100.0, -0.1])  # in exit order: 1, 4, 5


def test_a_permutation_keeps_every_final_balance_and_a_hand_computed_drawdown():
    outcome = simulate(np.array([0.1, -0.5]), 1000.0, 1.0, MonteCarloRequest("trade_permutation", 500, seed=1))
    assert outcome["final_balance"]["p5"] == pytest.approx(550.0, rel=1e-12)
    assert outcome["final_balance"]["p95"] == pytest.approx(550.0, rel=1e-12)
    # 1000, 1100, 550 and 1000, 500, 550 both fall 50 % from their peak
    assert outcome["max_drawdown_percentage"]["p5"] == outcome["max_drawdown_percentage"]["p95"] == pytest.approx(50.0)
    assert outcome["cagr"]["p50"] == pytest.approx(-45.0)


def test_a_bootstrap_matches_the_binomial_outcomes():
    # +10 % or -10 % with equal chance, two trades: 1210 (1/4), 990 (1/2), 810 (1/4); mean 1000
    outcome = simulate(
        np.array([0.1, -0.1]), 1000.0, 1.0, MonteCarloRequest("trade_bootstrap", 10_000, seed=7, ruin_threshold=0.85)
    )
    final = outcome["final_balance"]
    assert (final["p5"], final["p50"], final["p95"]) == pytest.approx((810.0, 990.0, 1210.0))
    assert final["mean"] == pytest.approx(1000.0, rel=0.01)
    assert outcome["probability_of_ruin"] == pytest.approx(0.25, abs=0.015)  # 900 then 810 is the only way below 850


def test_bootstrap_percentiles_are_stable_across_seeds_and_fixed_by_one():
    returns = np.random.default_rng(3).normal(0.003, 0.04, 300)
    runs = [
        simulate(returns, 10_000.0, 2.0, MonteCarloRequest("trade_bootstrap", 10_000, seed=seed)) for seed in (1, 2)
    ]
    for metric in ("final_balance", "max_drawdown_percentage", "cagr"):
        for q in ("p25", "p50", "p75"):
            assert runs[0][metric][q] == pytest.approx(runs[1][metric][q], rel=0.05, abs=0.5)
    assert simulate(returns, 10_000.0, 2.0, MonteCarloRequest("trade_bootstrap", 300, seed=1)) == simulate(
        returns, 10_000.0, 2.0, MonteCarloRequest("trade_bootstrap", 300, seed=1)
    )


def test_a_block_as_long_as_the_curve_replays_it_and_bands_bracket_the_median():
    equity = 1000.0 * np.cumprod(np.concatenate([[1.0], 1.0 + np.random.default_rng(5).normal(0, 0.01, 999)]))
    returns = bar_returns(equity)
    whole = simulate(returns, 1000.0, 1.0, MonteCarloRequest("block_bootstrap", 50, seed=2, block=len(returns)))
    assert whole["final_balance"]["p5"] == pytest.approx(equity[-1], rel=1e-9)
    blocks = simulate(returns, 1000.0, 1.0, MonteCarloRequest("block_bootstrap", 2_000, seed=2, block=24))
    bands = blocks["equity_bands"]
    assert bands["unit"] == "bar" and bands["steps"][0] == 0 and bands["steps"][-1] == len(returns)
    assert len(bands["steps"]) == 101 and bands["p50"][0] == 1000.0
    assert all(a <= b <= c <= d <= e for a, b, c, d, e in zip(*(bands[f"p{q}"] for q in (5, 25, 50, 75, 95))))


@pytest.mark.parametrize(
    "request_, field",
    [
        (MonteCarloRequest("trade_shuffle", 10), "method"),
        (MonteCarloRequest("trade_bootstrap", 10_001), "simulations"),
        (MonteCarloRequest("block_bootstrap", 10, block=0), "block"),
        (MonteCarloRequest("trade_bootstrap", 10, ruin_threshold=1.0), "ruin_threshold"),
    ],
)
def test_bad_requests_name_their_field(request_, field):
    with pytest.raises(ValidationFailed) as error:
        simulate(np.array([0.1, -0.1]), 1000.0, 1.0, request_)
    assert [e.field for e in error.value.errors] == [field]


def test_no_trades_to_resample_is_refused():
    with pytest.raises(ValidationFailed, match="invalid Monte Carlo request"):
        simulate(np.array([]), 1000.0, 1.0, MonteCarloRequest("trade_permutation", 10))
