"""Replays of a user's transactions as backtests.

`Replays.request` (the API) checks the request, pairs the chosen transactions (FIFO) to size the
candle range and the initial balance, snapshots the alternative strategies, and queues a backtest
exactly like `POST /backtests` does: a backtest record (pending), then an execution of the
backtest state machine named after it. The backtest's `strategy_id` is the replay's id (no
strategy produced these trades), its `strategy_name` "Transaction replay", its metadata the
replay's parameters. The transactions are marked `is_replayed`.

The state machine computes the backtest as a replay run (`shared.transactions.workflow.ReplayRun`).
This module is the API's: it imports no NumPy or pyarrow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from shared.accounts.model import User
from shared.backtest_settings import BacktestSettings
from shared.backtests.model import Backtest
from shared.backtests.service import Backtests, check_market, start_execution
from shared.errors import FieldError, NotFound, ValidationFailed
from shared.ids import new_id
from shared.statuses import COMPLETED, PENDING
from shared.strategies.model import Strategy
from shared.strategies.service import Strategies
from shared.timeframes import origin_ms, timeframe_ms
from shared.times import datetime_of_ms
from shared.transactions.jobs import DEFAULT_WINDOW, MAX_REPLAY_TRANSACTIONS, ReplayFill, ReplayInput, ReplayRecord
from shared.transactions.model import Transaction
from shared.transactions.pairing import capital_needed, pair_round_trips
from shared.transactions.ports import ReplayRecordRepository, ReplayStore, TransactionRepository
from shared.transactions.rules import Alternative, RuleError, parse_alternative, parse_duration

MAX_REPLAY_BARS = 2_000_000
REPLAY_STRATEGY_NAME = "Transaction replay"


@dataclass(frozen=True)
class ReplayRequest:
    transaction_ids: Sequence[str]
    symbol: str
    timeframe: str
    window_before: str = DEFAULT_WINDOW
    window_after: str = DEFAULT_WINDOW
    alternative_entry: str | None = None
    alternative_exit: str | None = None
    initial_balance: float | None = None  # default: the capital the trades needed (pairing.capital_needed)


@dataclass(frozen=True)
class ReplayView:
    record: ReplayRecord
    backtest: Backtest
    comparison: dict[str, Any] | None  # once the backtest completed


def bar_floor(moment_ms: int, timeframe: str) -> int:
    """Open time of the candle holding `moment_ms`."""
    step, origin = timeframe_ms(timeframe), origin_ms(timeframe)
    return origin + (moment_ms - origin) // step * step


@dataclass
class Replays:
    """Queues replays through the backtests service's own repository, catalog and launcher."""

    transactions: TransactionRepository
    records: ReplayRecordRepository
    backtests: Backtests
    store: ReplayStore

    def request(self, user: User, request: ReplayRequest) -> tuple[ReplayRecord, Backtest]:
        """Queue the replay; NotFound for transactions (or strategies) the caller cannot see,
        ValidationFailed naming every field that does not parse or fit."""
        symbol = request.symbol.strip().upper()
        ids = list(dict.fromkeys(request.transaction_ids))
        windows, alternative = self._parse(request, symbol, len(ids))
        found = self.transactions.get_many(user.id, ids)
        missing = [
            FieldError(f"transaction_ids[{i}]", f"no transaction {tid}")
            for i, tid in enumerate(ids)
            if tid not in found
        ]
        if missing:
            raise NotFound("transactions not found", missing)
        other = [
            FieldError(f"transaction_ids[{i}]", f"is a {found[tid].symbol} transaction, not {symbol}")
            for i, tid in enumerate(ids)
            if found[tid].symbol != symbol
        ]
        if other:
            raise ValidationFailed("invalid replay", other)
        entry_strategy = self._strategy(user, alternative.entry_strategy_id, "metadata.alternative_entry")
        exit_strategy = self._strategy(user, alternative.exit_strategy_id, "metadata.alternative_exit")

        fills = tuple(_replay_fill(found[tid]) for tid in ids)
        trips = pair_round_trips(fills)
        start_ms, end_ms = self._candle_range(fills, trips, request.timeframe, windows, alternative)
        initial_balance = request.initial_balance or capital_needed(trips)
        now = self.backtests.clock()
        replay_id, backtest_id = new_id(), new_id()
        replay_input = ReplayInput(
            replay_id=replay_id,
            owner_id=user.id,
            symbol=symbol,
            timeframe=request.timeframe,
            start_ms=start_ms,
            end_ms=end_ms,
            window_before_ms=windows[0],
            window_after_ms=windows[1],
            initial_balance=initial_balance,
            fills=fills,
            entry_strategy=entry_strategy.definition() if entry_strategy else None,
            exit_strategy=exit_strategy.definition() if exit_strategy else None,
            exit_rules=alternative.exit_rules.to_dict() if alternative.exit_rules else None,
        )
        record = ReplayRecord(
            replay_id=replay_id,
            owner_id=user.id,
            backtest_id=backtest_id,
            created_at=now,
            symbol=symbol,
            timeframe=request.timeframe,
            transaction_count=len(ids),
            round_trips=len(trips),
            window_before=request.window_before,
            window_after=request.window_after,
            alternative_entry=request.alternative_entry or None,
            alternative_exit=request.alternative_exit or None,
        )
        backtest = Backtest(
            id=backtest_id,
            owner_id=user.id,
            strategy_id=replay_id,
            strategy_name=REPLAY_STRATEGY_NAME,
            symbol=symbol,
            timeframe=request.timeframe,
            start_time=datetime_of_ms(start_ms),
            end_time=datetime_of_ms(end_ms),
            initial_balance=initial_balance,
            final_balance=None,
            status=PENDING,
            progress=0,
            created_at=now,
            updated_at=now,
            strategy={
                name: definition
                for name, definition in (
                    ("alternative_entry", replay_input.entry_strategy),
                    ("alternative_exit", replay_input.exit_strategy),
                )
                if definition is not None
            },
            metadata={"replay": _replay_metadata(record)},
            performance_summary=None,
            error=None,
            execution_arn=None,
            started_at=None,
            completed_at=None,
        )
        repository = self.backtests.repository
        self.store.put_input(backtest_id, replay_input.to_json())
        repository.add(backtest)
        self.records.add(record)
        self.transactions.mark_replayed(user.id, ids)
        execution_arn = start_execution(
            repository, self.backtests.launcher, backtest_id, "replay", now, self.backtests.clock
        )
        return record, replace(backtest, execution_arn=execution_arn)

    def get(self, user: User, replay_id: str) -> ReplayView:
        record = self.records.get(user.id, replay_id)
        backtest = None if record is None else self.backtests.repository.get(record.backtest_id)
        if record is None or backtest is None:
            raise NotFound("replay not found", [FieldError("replay_id", f"no replay {replay_id}")])
        comparison = self.store.get_comparison(backtest.id) if backtest.status == COMPLETED else None
        return ReplayView(record, backtest, comparison)

    def _strategy(self, user: User, strategy_id: str | None, field: str) -> Strategy | None:
        """A strategy the user may read (own or public), as for a backtest; NotFound naming `field`."""
        if strategy_id is None:
            return None
        try:
            return Strategies(self.backtests.strategies).get(user, strategy_id)
        except NotFound:
            raise NotFound("strategy not found", [FieldError(field, f"no strategy {strategy_id}")]) from None

    def _parse(self, request: ReplayRequest, symbol: str, count: int) -> tuple[tuple[int, int], Alternative]:
        errors = []
        if not 1 <= count <= MAX_REPLAY_TRANSACTIONS:
            errors.append(FieldError("transaction_ids", f"name 1 to {MAX_REPLAY_TRANSACTIONS} transactions"))
        windows = []
        for name in ("window_before", "window_after"):
            try:
                windows.append(parse_duration(getattr(request, name), name))
            except RuleError as error:
                errors.append(error.error)
        alternative = Alternative()
        try:
            alternative = parse_alternative(request.alternative_entry, request.alternative_exit)
        except RuleError as error:
            errors.append(error.error)
        balance = request.initial_balance
        if balance is not None and not (math.isfinite(balance) and 0 < balance <= BacktestSettings.MAX_INITIAL_BALANCE):
            errors.append(
                FieldError(
                    "metadata.initial_balance",
                    f"must be greater than 0 and at most {BacktestSettings.MAX_INITIAL_BALANCE:g}",
                )
            )
        check_market(self.backtests.catalog, symbol, request.timeframe, errors)
        if errors:
            raise ValidationFailed("invalid replay", errors)
        return (windows[0], windows[1]), alternative

    @staticmethod
    def _candle_range(
        fills: Sequence[ReplayFill],
        trips: Sequence[Any],
        timeframe: str,
        windows: tuple[int, int],
        alternative: Alternative,
    ) -> tuple[int, int]:
        """[start, end) of the candles a replay reads: window_before before the first fill, to
        window_after past the last one (or a time exit's bar, if later)."""
        step = timeframe_ms(timeframe)
        last = max(fill.time_ms for fill in fills) + windows[1]
        if alternative.exit_rules is not None and alternative.exit_rules.time_limit_ms is not None:
            last = max(last, max(trip.entry_time_ms for trip in trips) + alternative.exit_rules.time_limit_ms)
        start_ms = bar_floor(min(fill.time_ms for fill in fills) - windows[0], timeframe)
        end_ms = bar_floor(last, timeframe) + step
        if (end_ms - start_ms) // step > MAX_REPLAY_BARS:
            raise ValidationFailed(
                "invalid replay",
                [
                    FieldError(
                        "timeframe",
                        f"the replay spans more than {MAX_REPLAY_BARS} {timeframe} candles; use a coarser "
                        "timeframe, shorter windows or fewer transactions",
                    )
                ],
            )
        return start_ms, end_ms


def _replay_fill(transaction: Transaction) -> ReplayFill:
    return ReplayFill(
        id=transaction.id,
        symbol=transaction.symbol,
        side=transaction.side,
        price=transaction.price,
        quantity=transaction.quantity,
        fee=transaction.fee,
        fee_asset=transaction.fee_asset,
        time_ms=transaction.time_ms,
    )


def _replay_metadata(record: ReplayRecord) -> dict[str, Any]:
    return {
        "replay_id": record.replay_id,
        "transaction_count": record.transaction_count,
        "round_trips": record.round_trips,
        "window_before": record.window_before,
        "window_after": record.window_after,
        "alternative_entry": record.alternative_entry,
        "alternative_exit": record.alternative_exit,
    }
