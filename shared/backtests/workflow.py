"""The backtest state machine's steps (statemachine/backtest.asl.json), one use-case each.

    Prepare -> Map(Compute per chunk) -> Stitch -> Persist -> Notify      (Catch -> Fail)

Prepare, Compute and Stitch ask the backtest's kind of run (`run_kind`, chosen from the
backtest: `shared.backtests.runs`): a chunked run validates the strategy snapshot and settings,
pins the candle series it reads (month objects are immutable, so every step sees the same
candles) and plans the chunks; each Compute runs `compute_chunk` on its window and stores the
result under partials/<id>/ in the results bucket (only indices and counts travel through Step
Functions); Stitch turns the chunks into the single-pass result. A replay
(`shared.transactions.replays.ReplayRun`) is one chunk that replays the user's trades. The
workflow marks the backtest running once planned and reports progress; Persist stores trades and
completion; Notify publishes the completion, the final metrics and the (sampled) trade events,
then removes the partials. Fail marks the backtest failed with a readable message and removes
everything it produced, so a failed run never leaves trades.

Every step can run again with the same outcome (retries, a redelivered task): the same plan,
the same chunk objects, the same stitched result; completion is completed -> completed. A
backtest that is no longer running (cancelled or deleted by its owner, or finished) makes a step
raise `BacktestNotRunning`, which the state machine ends on quietly; a chunk that finishes after
a cancel removes the partial it just wrote (the cancel removed the others before it).

Progress (0-100, `backtest:status_update` events): 5 once planned, 10-90 as chunks complete,
95 once stitched, 100 at completion. Events are best effort: a failing publish is logged and
never fails a step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.backtests.model import Backtest
from shared.backtests.ports import BacktestRepository, EquityStore, RunKind, RunStore, TradeStore
from shared.backtests.runs import ChunkedRun
from shared.backtests.trade_ids import trade_id
from shared.engine import Trades
from shared.errors import Conflict, DomainError, NotFound
from shared.events import EventPublisher, backtest_channel, trade_events, user_channel
from shared.market_data.ports import CandleStore, FundingStore, SymbolRulesStore
from shared.statuses import CANCELLED, COMPLETED, FAILED, RUNNING
from shared.step_failures import failure_message
from shared.times import iso_utc_array, utc_now

log = logging.getLogger(__name__)

PLANNED, CHUNKS_FROM, CHUNKS_TO, STITCHED, DONE = 5, 10, 90, 95, 100
STATUS_EVENT, USER_STATUS_EVENT, METRICS_EVENT = "status_update", "backtest:status_update", "metrics_update"
NOT_RUNNING = "the backtest is no longer running"


class BacktestNotRunning(DomainError):
    """The backtest left `running` (cancelled, deleted, or already finished): stop quietly."""

    code = "backtest_not_running"


# ---------------------------------------------------------------- the steps
@dataclass
class BacktestWorkflow:
    backtests: BacktestRepository
    trades: TradeStore
    equity: EquityStore
    runs: RunStore
    candles: CandleStore
    publisher: EventPublisher
    bars_per_chunk: int
    clock: Callable[[], datetime] = utc_now
    funding: FundingStore | None = None  # funding rates (metadata.funding)
    symbol_rules: SymbolRulesStore | None = None  # exchange rules (metadata.exchange)
    kinds: Sequence[RunKind] = field(default_factory=tuple)  # beside the chunked run: e.g. ReplayRun

    def prepare(self, backtest_id: str) -> dict[str, Any]:
        """Validate, pin the data, plan the chunks, mark running. Returns the chunk indices for the
        Map, or `status` alone when there is nothing to run (already finished)."""
        backtest = self._running_or_pending(backtest_id)
        planned = self.run_kind(backtest).plan(backtest)
        if backtest.status != RUNNING:
            self._transition(lambda: self.backtests.mark_running(backtest_id, self.clock()))
        if planned.plan is not None:
            self.runs.put_plan(backtest_id, planned.plan)
        self._progress(backtest, PLANNED, planned.message)
        return {"status": RUNNING, "chunks": list(range(planned.chunks))}

    def compute(self, backtest_id: str, index: int) -> dict[str, Any]:
        """One chunk: compute it, store the result, report progress.

        A chunk of a backtest that is no longer running does nothing (and removes what it just
        wrote): it ends normally, so a stopped execution stays stopped rather than failing on
        its in-flight chunks, and Stitch ends the run if nothing stopped it.
        """
        backtest = self.backtests.get(backtest_id)
        if backtest is None or backtest.status != RUNNING:
            return {"chunk": index, "skipped": NOT_RUNNING}
        kind = self.run_kind(backtest)
        try:
            computed = kind.compute(backtest, index)
        except NotFound:
            if not self._is_running(backtest_id):  # the cancel removed the plan meanwhile
                return {"chunk": index, "skipped": NOT_RUNNING}
            raise
        now = self.backtests.get(backtest_id)
        if now is None or now.status != RUNNING:
            kind.discard(backtest_id, index, now)  # the cancel may have cleaned up before these writes
            return {"chunk": index, "skipped": NOT_RUNNING}
        self._progress(now, CHUNKS_FROM + (CHUNKS_TO - CHUNKS_FROM) * computed.done // computed.of, computed.message)
        return {"chunk": index} | computed.figures

    def stitch(self, backtest_id: str) -> dict[str, Any]:
        """The run's result (the single-pass result from the chunks); stored for Persist and Notify."""
        backtest = self._running(backtest_id)
        try:
            stitched = self.run_kind(backtest).stitch(backtest)
        except NotFound:
            self._running(backtest_id)  # gone because the run was cancelled: stop quietly
            raise
        self._progress(backtest, STITCHED, f"stitched {stitched.trades} trade(s)")
        return stitched.figures()

    def persist(self, backtest_id: str) -> dict[str, Any]:
        """Trades, summary, final balance, completion. A cancelled backtest keeps no trades."""
        from shared.backtests.service import record_results

        self._running_or_pending(backtest_id, also=COMPLETED)  # completed: a re-run writes the same again
        trades, document = self.runs.stitched(backtest_id)
        self.equity.save(backtest_id, self.runs.equity(backtest_id))  # removed with the trades if completion fails
        self._transition(
            lambda: record_results(
                self.backtests,
                self.trades,
                backtest_id,
                final_balance=document["final_balance"],
                performance_summary=document["performance_summary"],
                trade_columns=trades,
                now=self.clock(),
            )
        )
        return {"status": COMPLETED, "trades": len(trades)}

    def notify(self, backtest_id: str) -> dict[str, Any]:
        """Completion, final metrics and trade events; then the partials are removed."""
        backtest = self.backtests.get(backtest_id)
        if backtest is None or backtest.status != COMPLETED:
            raise BacktestNotRunning(f"backtest {backtest_id} is {backtest.status if backtest else 'deleted'}")
        trades, document = self.runs.stitched(backtest_id)
        channel = backtest_channel(backtest_id)
        self._publish_status(backtest, COMPLETED, DONE, f"completed with {len(trades)} trade(s)")
        self._publish(channel, METRICS_EVENT, document["metrics"])
        events = trade_events(_trade_records(backtest_id, trades))
        for event, data in events:
            self._publish(channel, event, data)
        self.runs.delete(backtest_id)
        return {"events": len(events) + 3}

    def fail(self, backtest_id: str, error: str, cause: str) -> dict[str, Any]:
        """Mark the backtest failed with a readable message; remove its trades and partials. The
        status changes first: a chunk still in flight sees it after its write and removes what it
        wrote (`compute`)."""
        message = failure_message(error, cause)
        try:
            failed = self.backtests.fail(backtest_id, message, self.clock())
        except (Conflict, NotFound):  # cancelled, deleted or finished meanwhile: nothing to mark
            return {"status": "unchanged", "message": message}
        self.trades.delete(backtest_id)
        self._publish_status(failed, FAILED, failed.progress, message)
        return {"status": FAILED, "message": message}

    def run_kind(self, backtest: Backtest) -> RunKind:
        """The kind of run the backtest is: the first of `kinds` that claims it, else a chunked run."""
        for kind in self.kinds:
            if kind.claims(backtest):
                return kind
        return ChunkedRun(self.runs, self.candles, self.bars_per_chunk, self.funding, self.symbol_rules)

    # ------------------------------------------------------------ helpers
    def _running_or_pending(self, backtest_id: str, also: str | None = None) -> Backtest:
        backtest = self.backtests.get(backtest_id)
        if backtest is None or backtest.status in {CANCELLED, COMPLETED, FAILED} - {also}:
            raise BacktestNotRunning(f"backtest {backtest_id} is {backtest.status if backtest else 'deleted'}")
        return backtest

    def _is_running(self, backtest_id: str) -> bool:
        backtest = self.backtests.get(backtest_id)
        return backtest is not None and backtest.status == RUNNING

    def _running(self, backtest_id: str) -> Backtest:
        backtest = self.backtests.get(backtest_id)
        if backtest is None or backtest.status != RUNNING:
            raise BacktestNotRunning(f"backtest {backtest_id} is {backtest.status if backtest else 'deleted'}")
        return backtest

    @staticmethod
    def _transition(write: Callable[[], Any]) -> Any:
        try:
            return write()
        except (Conflict, NotFound) as error:
            raise BacktestNotRunning(error.message) from error

    def _progress(self, backtest: Backtest, progress: int, message: str) -> None:
        if self.backtests.advance_progress(backtest.id, progress, self.clock()):
            self._publish_status(backtest, RUNNING, progress, message)

    def _publish_status(self, backtest: Backtest, status: str, progress: int, message: str) -> None:
        data = {"status": status, "progress": progress, "message": message}
        self._publish(backtest_channel(backtest.id), STATUS_EVENT, data)
        self._publish(user_channel(backtest.owner_id), USER_STATUS_EVENT, {"backtest_id": backtest.id} | data)

    def _publish(self, channel: str, event: str, data: dict[str, Any]) -> None:
        try:
            self.publisher.publish(channel, event, data)
        except Exception:  # events are best effort; the backtest goes on
            log.exception("could not publish %s on %s", event, channel)


def _trade_records(backtest_id: str, trades: Trades) -> list[dict[str, Any]]:
    """The trades as the REST API shows them (ids, times to the millisecond with `Z`), which is
    what trade events carry (`shared.events.trade_events`)."""
    records = trades.to_records()
    entry_times = iso_utc_array(trades.entry_time, always_ms=True)
    exit_times = iso_utc_array(trades.exit_time, always_ms=True)
    return [
        record
        | {
            "id": trade_id(backtest_id, seq),
            "entry_time": entry_times[seq],
            "exit_time": exit_times[seq] if record["exit_time"] is not None else None,
        }
        for seq, record in enumerate(records)
    ]
