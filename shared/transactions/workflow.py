"""A replay's part in the backtest state machine (`shared.backtests.workflow`): the replay is a kind
of run (`shared.backtests.ports.RunKind`) of one chunk. Its Compute reads the input
`shared.transactions.replays.Replays.request` stored and the candles, computes the actual trades
and the alternative (`shared.transactions.replay`), stores the comparison, and stores the actual
trades, equity and summary as Stitch would; Persist and Notify handle them like any backtest's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from shared.backtests.equity import EquitySeries
from shared.backtests.model import Backtest
from shared.backtests.ports import Computed, Planned, RunStore, Stitched, TradeStore
from shared.backtests.runs import store_stitched
from shared.market_data.ports import CandleStore
from shared.market_data.query import get_candles
from shared.statuses import CANCELLED, FAILED
from shared.strategy import validate_strategy
from shared.timeframes import timeframe_ms
from shared.transactions.jobs import ReplayInput
from shared.transactions.pairing import pair_round_trips
from shared.transactions.ports import ReplayStore
from shared.transactions.replay import AlternativeSetup, ReplayResult, ReplaySettings, compute_replay
from shared.transactions.rules import ExitRules


@dataclass
class ReplayRun:
    """A replay backtest as a kind of run of the backtest state machine (`shared.backtests.ports.RunKind`):
    one chunk, whose Compute replays the stored input and stores the actual trades, equity and
    summary as Stitch would (and the comparison with the alternative beside them)."""

    store: ReplayStore
    candles: CandleStore
    runs: RunStore
    trades: TradeStore

    def claims(self, backtest: Backtest) -> bool:
        """A backtest `Replays.request` queued: its trades are the user's own, not a strategy's."""
        return "replay" in backtest.metadata

    def plan(self, backtest: Backtest) -> Planned:
        return Planned(1, "planned the replay")

    def compute(self, backtest: Backtest, index: int) -> Computed:
        started = time.perf_counter()
        result = self.replay(backtest.id).actual
        seconds = time.perf_counter() - started
        # The replay's curve beside buy-and-hold over the same candles, read again: the replay
        # read them with indicator history before the first replayed bar.
        ts = result.timestamps
        candles = get_candles(self.candles, backtest.symbol, backtest.timeframe, int(ts[0]), int(ts[-1]) + 1)
        store_stitched(
            self.runs, backtest.id, result, EquitySeries.of(result.equity_curve, candles, result.initial_balance)
        )
        return Computed(
            1,
            1,
            f"replayed {len(result.trades)} trade(s)",
            {"candidates": len(result.trades), "compute_seconds": round(seconds, 6)},
        )

    def discard(self, backtest_id: str, index: int, now: Backtest | None) -> None:
        if now is None or now.status in (CANCELLED, FAILED):
            self.trades.delete(backtest_id)  # the cancel may have cleaned up before these writes

    def stitch(self, backtest: Backtest) -> Stitched:
        trades, document = self.runs.stitched(backtest.id)
        return Stitched(len(trades), document["final_balance"])

    def replay(self, backtest_id: str) -> ReplayResult:
        """The actual trades as a backtest and the alternative beside them (its comparison stored
        with the backtest's results); ValidationFailed when the stored candles do not cover the
        transactions."""
        replay = ReplayInput.from_json(self.store.get_input(backtest_id))
        entry = validate_strategy(replay.entry_strategy) if replay.entry_strategy else None
        exit_ = validate_strategy(replay.exit_strategy) if replay.exit_strategy else None
        # Indicator history before the first replayed bar, so signals there equal a long run's.
        history = max((s.lookback if s.lookback is not None else s.warmup for s in (entry, exit_) if s), default=0)
        step = timeframe_ms(replay.timeframe)
        candles = get_candles(
            self.candles, replay.symbol, replay.timeframe, replay.start_ms - (history + 1) * step, replay.end_ms
        )
        settings = ReplaySettings(
            replay.timeframe,
            replay.start_ms,
            replay.end_ms,
            replay.window_before_ms,
            replay.window_after_ms,
            replay.initial_balance,
        )
        alternative = AlternativeSetup(entry, exit_, ExitRules(**replay.exit_rules) if replay.exit_rules else None)
        result = compute_replay(candles, pair_round_trips(replay.fills), settings, alternative)
        self.store.put_comparison(backtest_id, result.comparison)
        return result
