"""A completed backtest's result series for its owner: the equity curve (downsampled, beside
buy-and-hold) and its drawdown periods. Before completion there is nothing yet: Conflict (409).

NumPy is imported on first use (`shared.backtests.equity`), keeping it off the API's cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.accounts.model import User
from shared.backtests.ports import EquityStore
from shared.backtests.service import Backtests
from shared.errors import Conflict, NotFound
from shared.pagination import Page, PageRequest, paginate
from shared.statuses import COMPLETED

if TYPE_CHECKING:
    from shared.backtests.equity import EquitySeries, SeriesPoints

DEFAULT_POINTS, MIN_POINTS, MAX_POINTS = 1000, 2, 10_000  # points of a served equity curve


@dataclass
class BacktestResults:
    backtests: Backtests
    equity: EquityStore

    def equity_points(self, user: User, backtest_id: str, points: int) -> SeriesPoints:
        from shared.backtests.equity import downsample

        return downsample(self._series(user, backtest_id), points)

    def drawdown_periods(self, user: User, backtest_id: str, page: PageRequest) -> Page[dict[str, Any]]:
        from shared.backtests.equity import drawdown_periods

        return paginate(drawdown_periods(self._series(user, backtest_id)), page)

    def _series(self, user: User, backtest_id: str) -> EquitySeries:
        backtest = self.backtests.get(user, backtest_id)
        if backtest.status != COMPLETED:
            raise Conflict(f"the backtest is {backtest.status}: its equity curve comes once it completed")
        series = self.equity.load(backtest_id)
        if series is None:
            raise NotFound("this backtest completed before equity curves were stored; run it again")
        return series
