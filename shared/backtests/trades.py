"""Reading a backtest's trades: only its owner may, page by page or one by id."""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from shared.accounts.model import User
from shared.backtests.model import Trade
from shared.backtests.ports import TradeStore
from shared.backtests.service import Backtests
from shared.backtests.trade_ids import parse_trade_id
from shared.errors import NotFound
from shared.pagination import Page, PageRequest
from shared.statuses import COMPLETED

EVERY = 2**62  # a page size beyond any backtest's trade count


@dataclass
class Trades:
    backtests: Backtests
    store: TradeStore

    def list(
        self, user: User, backtest_id: str, side: str | None, result: str | None, page: PageRequest
    ) -> Page[Trade]:
        """Trades in entry order; `side` long|short, `result` win (closed, pnl > 0) | loss (closed, pnl < 0)."""
        if self.backtests.get(user, backtest_id).status != COMPLETED:
            return Page([], 0, page)  # trades are stored when a backtest completes, all at once
        items, total = self.store.page(backtest_id, side, result, page.offset, page.limit)
        return Page(items, total, page)

    def every(self, user: User, backtest_id: str, side: str | None, result: str | None) -> builtins.list[Trade]:
        """Every matching trade at once (a download), in entry order."""
        if self.backtests.get(user, backtest_id).status != COMPLETED:
            return []
        return self.store.page(backtest_id, side, result, 0, EVERY)[0]

    def get(self, user: User, trade_id: str) -> Trade:
        parsed = parse_trade_id(trade_id)
        backtest_id = parsed and self.backtests.repository.find_id_by_trade_key(parsed[0])
        if parsed is None or not backtest_id:
            raise NotFound("trade not found")
        try:
            backtest = self.backtests.get(user, backtest_id)
        except NotFound:
            raise NotFound("trade not found") from None
        trade = self.store.get(backtest_id, parsed[1]) if backtest.status == COMPLETED else None
        if trade is None:
            raise NotFound("trade not found")
        return trade
