"""Backtests: their lifecycle, their trades and the result series they serve."""
