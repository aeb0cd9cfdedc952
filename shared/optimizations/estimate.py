"""What a sweep will cost on AWS before it runs (`dry_run: true`), from per-batch times measured by
`bench/sweep_scale.py` on the local stack (see README, "Sweeps at scale").

Model: a batch of c combinations over b bars takes
    FIXED_BATCH_SECONDS + b * READ_SECONDS_PER_BAR + c * b * SECONDS_PER_COMBINATION_BAR
on the batch function; batches of one round run MapMaxConcurrency at a time (waves), rounds one
after another (a Bayesian search's rounds are sequential by nature). Cost: Lambda GB-seconds and
requests, plus Step Functions standard state transitions (a distributed Map's child executions
count their own). Prices: AWS list prices, us-east-1, x86.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Measured by bench/sweep_scale.py (2 shared cores): an SMA cross on 17,520 1h bars costs 3.8 ms per
# combination in a batch (variant 0.7, signals 0.5, simulation with its summary 2.6), and a
# batch's candle read ~0.2 s for them; bench/optimization.py: ~0.6 s per 1M 1m bars.
SECONDS_PER_COMBINATION_BAR = 2.2e-7
READ_SECONDS_PER_BAR = 6e-7
FIXED_BATCH_SECONDS = 0.25  # invoke, plan and batch objects, results write
LAMBDA_GB_SECOND_USD = 0.0000166667
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
STATE_TRANSITION_USD = 0.025 / 1_000
TRANSITIONS_PER_BATCH = 4  # a child execution: start, task entered/exited, succeed
TRANSITIONS_PER_ROUND = 8  # Prepare/Tell, the Map, the Choice


def batch_seconds(combinations: int, bars: int) -> float:
    return FIXED_BATCH_SECONDS + bars * READ_SECONDS_PER_BAR + combinations * bars * SECONDS_PER_COMBINATION_BAR


def estimate_sweep(
    batches_per_round: Sequence[int], trials_per_round: Sequence[int], bars: int, concurrency: int, memory_mb: int
) -> dict[str, float | int]:
    """Counts, GB-seconds, cost (USD) and ETA (seconds) of rounds of batches over `bars` bars."""
    gb_seconds = eta = 0.0
    for batches, trials in zip(batches_per_round, trials_per_round):
        per_batch = batch_seconds(math.ceil(trials / batches), bars)
        gb_seconds += batches * per_batch * memory_mb / 1024
        eta += math.ceil(batches / concurrency) * per_batch
    batch_total = sum(batches_per_round)
    cost = (
        gb_seconds * LAMBDA_GB_SECOND_USD
        + batch_total * LAMBDA_REQUEST_USD
        + (batch_total * TRANSITIONS_PER_BATCH + len(batches_per_round) * TRANSITIONS_PER_ROUND) * STATE_TRANSITION_USD
    )
    return {
        "batch_count": batch_total,
        "rounds": len(batches_per_round),
        "bars": bars,
        "concurrency": concurrency,
        "lambda_gb_seconds": round(gb_seconds, 3),
        "estimated_cost_usd": round(cost, 6),
        "eta_seconds": round(eta, 1),
    }
