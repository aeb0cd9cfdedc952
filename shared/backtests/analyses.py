"""Analyses of a completed backtest (its owner's only): Monte Carlo resampling of its trades' returns
or of its equity curve's bar returns (`shared.backtests.monte_carlo`, NumPy: loaded per request)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from shared.accounts.model import User
from shared.backtests.model import Backtest, MonteCarloRequest
from shared.backtests.ports import EquityStore
from shared.backtests.service import Backtests
from shared.errors import Conflict, FieldError, ValidationFailed
from shared.statuses import COMPLETED
from shared.times import epoch_ms

ALL_TRADES = 10**9


@dataclass
class Analyses:
    backtests: Backtests
    equity: EquityStore | None = None  # the per-bar equity curves block_bootstrap resamples

    def monte_carlo(self, user: User, backtest_id: str, request: MonteCarloRequest) -> dict[str, Any]:
        import numpy as np

        from shared.backtests import monte_carlo

        backtest = self.backtests.get(user, backtest_id)
        if backtest.status != COMPLETED:
            raise Conflict(f"the backtest is {backtest.status}: Monte Carlo needs a completed backtest")
        years = monte_carlo.years_between(epoch_ms(backtest.start_time), epoch_ms(backtest.end_time))
        if request.method == "block_bootstrap":
            series = self.equity.load(backtest_id) if self.equity else None
            if series is None:
                raise ValidationFailed(
                    "no equity curve",
                    [
                        FieldError(
                            "method",
                            "block_bootstrap needs the backtest's stored equity curve, which this backtest has not",
                        )
                    ],
                )
            outcome = monte_carlo.simulate(
                monte_carlo.bar_returns(series.equity), backtest.initial_balance, years, request
            )
            return self._answer(backtest, request, outcome, trades=None)
        closed = [
            (t, t.exit_time)
            for t in self.backtests.trades.page(backtest_id, None, None, 0, ALL_TRADES)[0]
            if t.exit_time is not None
        ]
        trades = [t for t, _ in closed]
        returns = monte_carlo.trade_returns(
            np.array([epoch_ms(t.entry_time) for t in trades], dtype=np.int64),
            np.array([epoch_ms(exit_time) for _, exit_time in closed], dtype=np.int64),
            np.array([t.pnl for t in trades], dtype=np.float64),
            backtest.initial_balance,
        )
        outcome = monte_carlo.simulate(returns, backtest.initial_balance, years, request)
        return self._answer(backtest, request, outcome, trades=len(trades))

    @staticmethod
    def _answer(
        backtest: Backtest, request: MonteCarloRequest, outcome: dict[str, Any], trades: int | None
    ) -> dict[str, Any]:
        return (
            {
                "backtest_id": backtest.id,
                "initial_balance": backtest.initial_balance,
                "backtest_final_balance": backtest.final_balance,
                "trades": trades,
            }
            | asdict(request)
            | outcome
        )
