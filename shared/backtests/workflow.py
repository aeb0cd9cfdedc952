"""The backtest state machine's steps (statemachine/backtest.asl.json), one use-case each.

    Prepare -> Map(Compute per chunk) -> Stitch -> Persist -> Notify      (Catch -> Fail)

Prepare validates the backtest's strategy snapshot and settings, marks it running, pins the
candle series it reads (month objects are immutable, so every step sees the same candles), and
plans the chunks. Each Compute runs `compute_chunk` on its window and stores the result under
partials/<id>/ in the results bucket; only indices and counts travel through Step Functions.
Stitch turns the chunks into the single-pass result; Persist stores trades and completion;
Notify publishes the completion, the final metrics and the (sampled) trade events, then removes
the partials. Fail marks the backtest failed with a readable message and removes everything
it produced, so a failed run never leaves trades.

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

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from shared.backtests.equity import EquitySeries
from shared.backtests.execution import (
    backtest_settings,
    check_fine_cover,
    check_intrabar,
    checked_funding,
    symbol_rules,
)
from shared.backtests.model import Backtest
from shared.backtests.ports import BacktestRepository, EquityStore, TradeStore
from shared.backtests.trade_ids import trade_id
from shared.engine import BacktestResult, BacktestSettings, Trades
from shared.engine.chunks import ChunkResult, ChunkSpan, chunk_count, compute_chunk, plan_chunks, stitch
from shared.engine.positions import MarketData
from shared.errors import Conflict, DomainError, FieldError, NotFound, ValidationFailed
from shared.market_data.funding import FundingRates
from shared.market_data.funding_history import FundingStore
from shared.market_data.instruments import SymbolRulesStore
from shared.market_data.query import choose_source, derivable_timeframes, get_candles, read_series, stored_series
from shared.market_data.store import CandleStore, SeriesManifest
from shared.market_data.symbol_rules import SymbolRules
from shared.realtime.events import EventPublisher, backtest_channel, user_channel
from shared.realtime.protocol import trade_events
from shared.statuses import CANCELLED, COMPLETED, FAILED, RUNNING
from shared.step_failures import failure_message
from shared.strategy import validate_strategy
from shared.times import iso_utc_array, utc_now
from shared.transactions.replays import REPLAY_PLAN, ReplayRunner, is_replay

log = logging.getLogger(__name__)

PLANNED, CHUNKS_FROM, CHUNKS_TO, STITCHED, DONE = 5, 10, 90, 95, 100
STATUS_EVENT, USER_STATUS_EVENT, METRICS_EVENT = "status_update", "backtest:status_update", "metrics_update"


class BacktestNotRunning(DomainError):
    """The backtest left `running` (cancelled, deleted, or already finished): stop quietly."""

    code = "backtest_not_running"


# ---------------------------------------------------------------- the plan
@dataclass(frozen=True)
class RunPlan:
    """What Prepare decides and every later step reads (partials/<id>/plan.json)."""

    backtest_id: str
    owner_id: str
    strategy: dict[str, Any]  # the backtest's strategy snapshot, validated
    settings: BacktestSettings
    symbol: str
    timeframe: str
    start_ms: int
    end_ms: int
    source: SeriesManifest  # the stored series, pinned: every step reads these month objects
    n_bars: int
    chunks: tuple[ChunkSpan, ...]
    read_from_ms: tuple[int, ...]  # open time of each chunk's first bar read (its warm-up start)
    end_before_ms: tuple[int, ...]  # open time of the bar after each chunk (end_ms for the last)
    symbol_rules: SymbolRules = SymbolRules()  # the exchange rules applied (metadata.exchange)
    fine_source: SeriesManifest | None = None  # the finer candles pinned (metadata.intrabar_timeframe)

    def to_json(self) -> bytes:
        document = {
            "symbol_rules": asdict(self.symbol_rules),
            "fine_source": json.loads(self.fine_source.to_json()) if self.fine_source else None,
            "backtest_id": self.backtest_id, "owner_id": self.owner_id, "strategy": self.strategy,
            "settings": asdict(self.settings), "symbol": self.symbol, "timeframe": self.timeframe,
            "start_ms": self.start_ms, "end_ms": self.end_ms, "source": json.loads(self.source.to_json()),
            "n_bars": self.n_bars, "chunks": [asdict(span) for span in self.chunks],
            "read_from_ms": list(self.read_from_ms), "end_before_ms": list(self.end_before_ms),
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> RunPlan:
        document = json.loads(data)
        return cls(
            backtest_id=document["backtest_id"], owner_id=document["owner_id"], strategy=document["strategy"],
            settings=BacktestSettings(**document["settings"]), symbol=document["symbol"],
            timeframe=document["timeframe"], start_ms=document["start_ms"], end_ms=document["end_ms"],
            source=SeriesManifest.from_json(json.dumps(document["source"]).encode(), version=None),
            n_bars=document["n_bars"], chunks=tuple(ChunkSpan(**span) for span in document["chunks"]),
            read_from_ms=tuple(document["read_from_ms"]), end_before_ms=tuple(document["end_before_ms"]),
            symbol_rules=SymbolRules(**document["symbol_rules"]),
            fine_source=None if document["fine_source"] is None else SeriesManifest.from_json(
                json.dumps(document["fine_source"]).encode(), version=None),
        )


# ---------------------------------------------------------------- ports
class RunStore(Protocol):
    """A run's intermediate objects (partials/<backtest_id>/ in the results bucket)."""

    def put_plan(self, backtest_id: str, plan: bytes) -> None: ...

    def plan(self, backtest_id: str) -> bytes:
        """NotFound when the run has no plan (it was cancelled and cleaned up)."""

    def put_chunk(self, backtest_id: str, chunk: ChunkResult, seconds: float) -> None: ...

    def chunk(self, backtest_id: str, index: int) -> tuple[ChunkResult, float]:
        """A chunk's result and the seconds its computation took."""

    def delete_chunk(self, backtest_id: str, index: int) -> None: ...

    def chunks_done(self, backtest_id: str) -> int: ...

    def put_stitched(self, backtest_id: str, trades: Any, document: dict[str, Any]) -> None:
        """The stitched trades (`shared.engine.Trades`) and a JSON document (balance, summary, metrics)."""

    def stitched(self, backtest_id: str) -> tuple[Any, dict[str, Any]]: ...

    def put_equity(self, backtest_id: str, series: EquitySeries) -> None: ...

    def equity(self, backtest_id: str) -> EquitySeries: ...

    def delete(self, backtest_id: str) -> None:
        """Remove every intermediate object of the run."""


class ProgressRepository(BacktestRepository, Protocol):
    def advance_progress(self, backtest_id: str, progress: int, now: datetime) -> bool:
        """Raise a running backtest's progress to `progress`; False (and no write) when it is not
        running or already at or past it: parallel chunks report out of order."""


# ---------------------------------------------------------------- the steps
@dataclass
class BacktestWorkflow:
    backtests: ProgressRepository
    trades: TradeStore
    equity: EquityStore
    runs: RunStore
    candles: CandleStore
    publisher: EventPublisher
    bars_per_chunk: int
    clock: Callable[[], datetime] = utc_now
    replays: ReplayRunner | None = None  # computes replay backtests (shared.transactions.replays)
    funding: FundingStore | None = None  # funding rates (metadata.funding)
    symbol_rules: SymbolRulesStore | None = None  # exchange rules (metadata.exchange)

    def prepare(self, backtest_id: str) -> dict[str, Any]:
        """Validate, mark running, pin the data, plan the chunks. Returns the chunk indices for the
        Map, or `status` alone when there is nothing to run (already finished)."""
        backtest = self._running_or_pending(backtest_id)
        if is_replay(backtest):
            return self._prepare_replay(backtest)
        strategy = validate_strategy(backtest.strategy)
        settings = backtest_settings(backtest.initial_balance, backtest.timeframe, backtest.metadata)
        rules = symbol_rules(backtest.symbol, backtest.metadata, self._stored_rules)
        if backtest.status != RUNNING:
            self._transition(lambda: self.backtests.mark_running(backtest_id, self.clock()))
        start_ms, end_ms = _epoch_ms(backtest.start_time), _epoch_ms(backtest.end_time)
        series = stored_series(self.candles, backtest.symbol)
        source = choose_source(series, backtest.symbol, backtest.timeframe, start_ms, end_ms)
        ts = read_series(self.candles, source, backtest.timeframe, start_ms, end_ms).ts
        if len(ts) == 0:
            raise ValidationFailed("no candles in the requested range", [FieldError(
                "start_time", f"no {backtest.symbol} {backtest.timeframe} candles between the start and end times")])
        fine_source = None
        if settings.intrabar_timeframe is not None:
            check_intrabar(backtest.symbol, settings, derivable_timeframes(set(series)))
            fine_source = choose_source(series, backtest.symbol, settings.intrabar_timeframe, start_ms, end_ms)
            fine_ts = read_series(self.candles, fine_source, settings.intrabar_timeframe, start_ms, end_ms).ts
            check_fine_cover(backtest.symbol, settings, int(ts[0]), int(ts[-1]), fine_ts)
        if settings.funding:
            self._funding_rates(backtest.symbol, start_ms, end_ms)
        spans = plan_chunks(strategy, len(ts), chunk_count(len(ts), self.bars_per_chunk, backtest.metadata.get("chunks")))
        plan = RunPlan(
            backtest_id=backtest_id, owner_id=backtest.owner_id, strategy=backtest.strategy, settings=settings,
            symbol=backtest.symbol, timeframe=backtest.timeframe, start_ms=start_ms, end_ms=end_ms, source=source,
            n_bars=len(ts), chunks=tuple(spans),
            read_from_ms=tuple(int(ts[span.read_bar]) for span in spans),
            end_before_ms=tuple(int(ts[span.end_bar]) if span.end_bar < len(ts) else end_ms for span in spans),
            symbol_rules=rules, fine_source=fine_source,
        )
        self.runs.put_plan(backtest_id, plan.to_json())
        self._progress(backtest, PLANNED, f"planned {len(spans)} chunk(s) over {len(ts)} bars")
        return {"status": RUNNING, "chunks": list(range(len(spans)))}

    def compute(self, backtest_id: str, index: int) -> dict[str, Any]:
        """One chunk: read its window, compute, store the result, report progress.

        A chunk of a backtest that is no longer running does nothing (and removes what it just
        wrote): it ends normally, so a stopped execution stays stopped rather than failing on
        its in-flight chunks, and Stitch ends the run if nothing stopped it.
        """
        if not self._is_running(backtest_id):
            return {"chunk": index, "skipped": "the backtest is no longer running"}
        try:
            plan_document = self.runs.plan(backtest_id)
        except NotFound:
            if not self._is_running(backtest_id):  # the cancel removed the plan meanwhile
                return {"chunk": index, "skipped": "the backtest is no longer running"}
            raise
        if plan_document == REPLAY_PLAN:
            return self._compute_replay(backtest_id)
        plan = RunPlan.from_json(plan_document)
        started = time.perf_counter()
        window = read_series(self.candles, plan.source, plan.timeframe, plan.read_from_ms[index],
                             plan.end_before_ms[index])
        market = self._market(plan, plan.read_from_ms[index], plan.end_before_ms[index], with_funding=False)
        read = time.perf_counter()
        result = compute_chunk(validate_strategy(plan.strategy), window, plan.chunks[index], plan.settings, market)
        seconds = time.perf_counter() - read
        self.runs.put_chunk(backtest_id, result, seconds)
        backtest = self.backtests.get(backtest_id)
        if backtest is None or backtest.status != RUNNING:
            self.runs.delete_chunk(backtest_id, index)  # the cancel may have cleaned up before this write
            return {"chunk": index, "skipped": "the backtest is no longer running"}
        done = self.runs.chunks_done(backtest_id)
        progress = CHUNKS_FROM + (CHUNKS_TO - CHUNKS_FROM) * done // len(plan.chunks)
        self._progress(backtest, progress, f"computed {done} of {len(plan.chunks)} chunk(s)")
        return {"chunk": index, "candidates": len(result.candidates), "read_seconds": round(read - started, 6),
                "compute_seconds": round(seconds, 6)}

    def stitch(self, backtest_id: str) -> dict[str, Any]:
        """The single-pass result from the chunks; stored for Persist and Notify."""
        backtest = self._running(backtest_id)
        if is_replay(backtest):
            return self._stitch_replay(backtest)
        plan = self._plan(backtest_id)
        loaded = [self.runs.chunk(backtest_id, span.index) for span in plan.chunks]
        candles = read_series(self.candles, plan.source, plan.timeframe, plan.start_ms, plan.end_ms)
        if len(candles) != plan.n_bars:
            raise ValueError(f"the pinned candles changed: {len(candles)} bars, planned {plan.n_bars}")
        strategy = validate_strategy(plan.strategy)
        started = time.perf_counter()
        market = self._market(plan, plan.start_ms, plan.end_ms, with_funding=plan.settings.funding)
        result = stitch(candles, [chunk for chunk, _ in loaded], strategy.config, plan.settings, market)
        stitch_seconds = time.perf_counter() - started
        self.runs.put_stitched(backtest_id, result.trades, _stitched_document(result))
        self.runs.put_equity(backtest_id, EquitySeries.of(result.equity_curve, candles, plan.settings.initial_balance))
        self._progress(backtest, STITCHED, f"stitched {len(result.trades)} trade(s)")
        return {"trades": len(result.trades), "final_balance": result.final_balance,
                "chunk_seconds": [round(seconds, 6) for _, seconds in loaded], "stitch_seconds": round(stitch_seconds, 6)}

    def persist(self, backtest_id: str) -> dict[str, Any]:
        """Trades, summary, final balance, completion. A cancelled backtest keeps no trades."""
        from shared.backtests.service import record_results

        self._running_or_pending(backtest_id, also=COMPLETED)  # completed: a re-run writes the same again
        trades, document = self.runs.stitched(backtest_id)
        self.equity.save(backtest_id, self.runs.equity(backtest_id))  # removed with the trades if completion fails
        self._transition(lambda: record_results(
            self.backtests, self.trades, backtest_id, final_balance=document["final_balance"],
            performance_summary=document["performance_summary"], trade_columns=trades, now=self.clock()))
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
        """Mark the backtest failed with a readable message; remove its trades and partials."""
        message = failure_message(error, cause)
        try:
            failed = self.backtests.fail(backtest_id, message, self.clock())
        except (Conflict, NotFound):  # cancelled, deleted or finished meanwhile: nothing to mark
            return {"status": "unchanged", "message": message}
        self.trades.delete(backtest_id)
        self._publish_status(failed, FAILED, failed.progress, message)
        return {"status": FAILED, "message": message}

    # ------------------------------------------------------------ replays: one chunk, trades given
    def _prepare_replay(self, backtest: Backtest) -> dict[str, Any]:
        if backtest.status != RUNNING:
            self._transition(lambda: self.backtests.mark_running(backtest.id, self.clock()))
        self.runs.put_plan(backtest.id, REPLAY_PLAN)
        self._progress(backtest, PLANNED, "planned the replay")
        return {"status": RUNNING, "chunks": [0]}

    def _compute_replay(self, backtest_id: str) -> dict[str, Any]:
        """The replay's trades, equity and summary (and its comparison), stored as Stitch would."""
        if self.replays is None:
            raise RuntimeError("this workflow has no replay runner")
        started = time.perf_counter()
        result = self.replays.compute(backtest_id).actual
        seconds = time.perf_counter() - started
        self.runs.put_stitched(backtest_id, result.trades, _stitched_document(result))
        self.runs.put_equity(backtest_id, self._replay_equity(backtest_id, result))
        backtest = self.backtests.get(backtest_id)
        if backtest is None or backtest.status != RUNNING:
            if backtest is None or backtest.status in (CANCELLED, FAILED):
                self.trades.delete(backtest_id)  # the cancel may have cleaned up before these writes
            return {"chunk": 0, "skipped": "the backtest is no longer running"}
        self._progress(backtest, CHUNKS_TO, f"replayed {len(result.trades)} trade(s)")
        return {"chunk": 0, "candidates": len(result.trades), "compute_seconds": round(seconds, 6)}

    def _replay_equity(self, backtest_id: str, result: BacktestResult) -> EquitySeries:
        """The replay's curve beside buy-and-hold over the same candles (read again: the replay
        runner reads them with indicator history before the first replayed bar)."""
        backtest = self.backtests.get(backtest_id)
        if backtest is None:
            raise BacktestNotRunning(f"backtest {backtest_id} is deleted")
        ts = result.timestamps
        candles = get_candles(self.candles, backtest.symbol, backtest.timeframe, int(ts[0]), int(ts[-1]) + 1)
        return EquitySeries.of(result.equity_curve, candles, result.initial_balance)

    def _stitch_replay(self, backtest: Backtest) -> dict[str, Any]:
        trades, document = self.runs.stitched(backtest.id)
        self._progress(backtest, STITCHED, f"stitched {len(trades)} trade(s)")
        return {"trades": len(trades), "final_balance": document["final_balance"], "chunk_seconds": [],
                "stitch_seconds": 0.0}

    # ------------------------------------------------------------ market data beyond candles
    def _stored_rules(self, symbol: str, exchange: str, market: str) -> SymbolRules | None:
        if self.symbol_rules is None:
            raise RuntimeError("this workflow has no symbol-rules store")
        return self.symbol_rules.get_rules(symbol, exchange, market)

    def _funding_rates(self, symbol: str, start_ms: int, end_ms: int) -> FundingRates:
        if self.funding is None:
            raise RuntimeError("this workflow has no funding store")
        return checked_funding(symbol, self.funding.get_funding(symbol, start_ms, end_ms), start_ms, end_ms)

    def _market(self, plan: RunPlan, start_ms: int, end_ms: int, with_funding: bool) -> MarketData:
        """Exchange rules, funding (the stitch sizes positions) and finer candles of a range."""
        fine = None
        if plan.fine_source is not None and plan.settings.intrabar_timeframe is not None:
            fine = read_series(self.candles, plan.fine_source, plan.settings.intrabar_timeframe, start_ms, end_ms)
        funding = self._funding_rates(plan.symbol, plan.start_ms, plan.end_ms) if with_funding else None
        return MarketData(rules=plan.symbol_rules, funding=funding, fine=fine)

    # ------------------------------------------------------------ helpers
    def _running_or_pending(self, backtest_id: str, also: str | None = None) -> Backtest:
        backtest = self.backtests.get(backtest_id)
        if backtest is None or backtest.status in {CANCELLED, COMPLETED, FAILED} - {also}:
            raise BacktestNotRunning(f"backtest {backtest_id} is {backtest.status if backtest else 'deleted'}")
        return backtest

    def _plan(self, backtest_id: str) -> RunPlan:
        try:
            return RunPlan.from_json(self.runs.plan(backtest_id))
        except NotFound:
            self._running(backtest_id)  # gone because the run was cancelled: stop quietly
            raise

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
    what trade events carry (`shared.realtime.protocol.trade_events`)."""
    records = trades.to_records()
    entry_times = iso_utc_array(trades.entry_time, always_ms=True)
    exit_times = iso_utc_array(trades.exit_time, always_ms=True)
    return [
        record | {"id": trade_id(backtest_id, seq), "entry_time": entry_times[seq],
                  "exit_time": exit_times[seq] if record["exit_time"] is not None else None}
        for seq, record in enumerate(records)
    ]


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _stitched_document(result: BacktestResult) -> dict[str, Any]:
    """Balance, summary and the final `metrics_update` payload of a stitched result: the balance
    realised by closed trades, the equity with any open position marked at the last close, and
    the drawdown from the equity's peak at the end."""
    equity = result.equity_curve
    peak, final = float(np.max(equity)), float(equity[-1])
    closed = ~result.trades.is_open
    return {
        "final_balance": result.final_balance,
        "performance_summary": result.performance_summary,
        "metrics": {
            "current_balance": result.initial_balance + float(result.trades.pnl[closed].sum()),
            "equity": final,
            "drawdown": peak - final,
            "drawdown_percentage": 100.0 * (peak - final) / peak if peak > 0 else 0.0,
            "open_positions": int(np.count_nonzero(~closed)),
        },
    }
