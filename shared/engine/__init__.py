"""The execution engine: strategy signals + candles -> trades, equity curve, performance summary.

Conventions (fills, stops, sizing, liquidation) are documented in the README section
"Execution conventions" and in the module docstrings of `exits`, `chain` and `sizing`.
"""

from shared.backtest_settings import BacktestSettings
from shared.engine.exits import EXIT_REASONS
from shared.engine.result import BacktestResult, Trades
from shared.engine.simulate import run_backtest, simulate

__all__ = ["EXIT_REASONS", "BacktestResult", "BacktestSettings", "Trades", "run_backtest", "simulate"]
