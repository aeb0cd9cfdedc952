"""Run statuses: the one vocabulary of every job the service runs (backtests, optimizations,
replays, candle and transaction imports).

A job is created pending, runs, and ends completed or failed; a backtest may also be cancelled by
its owner while it is pending or running.
"""

PENDING, RUNNING, COMPLETED, FAILED, CANCELLED = "pending", "running", "completed", "failed", "cancelled"
JOB_STATUSES = (PENDING, RUNNING, COMPLETED, FAILED)
BACKTEST_STATUSES = (*JOB_STATUSES, CANCELLED)
ACTIVE_STATUSES = frozenset({PENDING, RUNNING})
