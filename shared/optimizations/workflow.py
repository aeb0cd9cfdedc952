"""The optimization state machine's steps (statemachine/optimization.asl.json), one use-case each:

    Prepare -> distributed Map over the batch list in S3 (Evaluate per batch) -> Finish   (Catch -> Fail)

Prepare pins the candle series, orders and splits the grid into batches (batches/<i>.json) and
writes the Map's item list (items.json) for its ItemReader; each Evaluate reads the candles once
and runs its combinations with one shared indicator cache (`shared.optimizations.sweep.evaluate_batch`);
Finish ranks every result into ranking.json, records the best and completes. Intermediate objects
live under partials/optimizations/<id>/ (expired by the bucket's lifecycle if a run dies), the
ranking under optimizations/<id>/. Steps can run again with the same outcome, and events
(`optimization:status_update` on the owner's channel, progress 0-100) are best effort.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from shared.backtests.model import COMPLETED, FAILED, PENDING, RUNNING, utc_now
from shared.engine import BacktestSettings
from shared.errors import Conflict, DomainError, FieldError, NotFound, ValidationFailed
from shared.market_data.query import choose_source, read_series, stored_series
from shared.market_data.store import CandleStore, SeriesManifest
from shared.optimizations.service import Optimization, OptimizationRepository, OptimizationStore, settings_of
from shared.optimizations.sweep import Combination, batch_count, batches, evaluate_batch, parameter_grid, rank
from shared.realtime.events import EventPublisher, user_channel
from shared.step_failures import OptimizationIncomplete, failure_message

log = logging.getLogger(__name__)

STATUS_EVENT = "optimization:status_update"
PREPARED, BATCHES_FROM, BATCHES_TO, DONE = 5, 10, 95, 100


class OptimizationNotRunning(DomainError):
    """The optimization left `running` (or is gone): the state machine stops quietly."""

    code = "optimization_not_running"


@dataclass
class OptimizationWorkflow:
    repository: OptimizationRepository
    store: OptimizationStore
    candles: CandleStore
    publisher: EventPublisher
    max_concurrency: int
    clock: Callable[[], datetime] = utc_now

    def prepare(self, optimization_id: str) -> dict[str, Any]:
        optimization = self._active(optimization_id)
        if optimization.status == PENDING:
            self._transition(lambda: self.repository.mark_running(optimization_id, self.clock()))
        combos = parameter_grid(optimization.strategy, optimization.parameters, optimization.max_combinations)
        start_ms, end_ms = _epoch_ms(optimization.start_time), _epoch_ms(optimization.end_time)
        source = choose_source(stored_series(self.candles, optimization.symbol), optimization.symbol,
                               optimization.timeframe, start_ms, end_ms)
        count = batch_count(len(combos), self.max_concurrency)
        self.store.put_plan(optimization_id, {
            "strategy": optimization.strategy, "timeframe": optimization.timeframe, "start_ms": start_ms,
            "end_ms": end_ms, "source": json.loads(source.to_json()),
            "settings": asdict(settings_of(optimization.initial_balance, optimization.metadata["commission"],
                                         optimization.metadata["leverage"], optimization.timeframe)),
            "batches": count,
        })
        for index, batch in enumerate(batches(combos, count)):
            self.store.put_batch(optimization_id, index, [asdict(combo) for combo in batch])
        items_key = self.store.put_items(optimization_id, [{"optimization_id": optimization_id, "batch": i}
                                                           for i in range(count)])
        self._progress(optimization, PREPARED, f"{len(combos)} combination(s) in {count} batch(es)")
        return {"bucket": self.store.bucket, "items_key": items_key, "batches": count}

    def evaluate(self, optimization_id: str, index: int) -> dict[str, Any]:
        optimization = self.repository.get(optimization_id)
        if optimization is None or optimization.status != RUNNING:
            return {"batch": index, "skipped": "the optimization is no longer running"}
        plan = self.store.plan(optimization_id)
        combos = [Combination(**combo) for combo in self.store.batch(optimization_id, index)]
        source = SeriesManifest.from_json(json.dumps(plan["source"]).encode(), version=None)
        started = time.perf_counter()
        candles = read_series(self.candles, source, plan["timeframe"], plan["start_ms"], plan["end_ms"])
        if not len(candles):
            raise ValidationFailed("no candles in the requested range", [FieldError(
                "start_time", f"no {optimization.symbol} {plan['timeframe']} candles between the start and end times")])
        read = time.perf_counter()
        evaluated = evaluate_batch(plan["strategy"], combos, candles, BacktestSettings(**plan["settings"]))
        timing = {"read_seconds": round(read - started, 6), "compute_seconds": round(time.perf_counter() - read, 6)}
        self.store.put_results(optimization_id, index, {"batch": index, "results": evaluated.results,
                                                        "indicator_computations": evaluated.indicator_computations}
                               | timing)
        done = self.store.results_done(optimization_id)
        progress = BATCHES_FROM + (BATCHES_TO - BATCHES_FROM) * done // plan["batches"]
        self._progress(optimization, progress, f"evaluated {done} of {plan['batches']} batch(es)")
        return {"batch": index, "combinations": len(combos),
                "indicator_computations": evaluated.indicator_computations} | timing

    def finish(self, optimization_id: str) -> dict[str, Any]:
        optimization = self._active(optimization_id, also=COMPLETED)
        documents = self.store.results(optimization_id)
        missing = sorted(set(range(self.store.plan(optimization_id)["batches"])) - {d["batch"] for d in documents})
        if missing:  # a batch failed (a distributed Map tolerates no failure on AWS; moto lets it pass)
            raise OptimizationIncomplete(f"batch(es) {', '.join(map(str, missing))} of the optimization failed: "
                                         "their combinations have no results")
        ranking = rank([result for document in documents for result in document["results"]], optimization.objective)
        self.store.put_ranking(optimization_id, ranking)
        completed = self._transition(lambda: self.repository.complete(optimization_id, ranking[0], self.clock()))
        self.store.delete_intermediates(optimization_id)
        self._publish(completed, COMPLETED, DONE, f"best {optimization.objective}: {ranking[0]['objective_value']}")
        return {"combinations": len(ranking), "batches": len(documents)} | {
            total: round(sum(document[total] for document in documents), 6)
            for total in ("indicator_computations", "read_seconds", "compute_seconds")}

    def fail(self, optimization_id: str, error: str, cause: str) -> dict[str, Any]:
        message = failure_message(error, cause, subject="optimization")
        try:
            failed = self.repository.fail(optimization_id, message, self.clock())
        except (Conflict, NotFound):
            return {"status": "unchanged", "message": message}
        self.store.delete(optimization_id)
        self._publish(failed, FAILED, failed.progress, message)
        return {"status": FAILED, "message": message}

    def _active(self, optimization_id: str, also: str | None = None) -> Optimization:
        optimization = self.repository.get(optimization_id)
        if optimization is None or optimization.status not in {PENDING, RUNNING} | ({also} if also else set()):
            raise OptimizationNotRunning(f"optimization {optimization_id} is "
                                         f"{optimization.status if optimization else 'deleted'}")
        return optimization

    @staticmethod
    def _transition(write: Callable[[], Any]) -> Any:
        try:
            return write()
        except (Conflict, NotFound) as error:
            raise OptimizationNotRunning(error.message) from error

    def _progress(self, optimization: Optimization, progress: int, message: str) -> None:
        if self.repository.advance_progress(optimization.id, progress, self.clock()):
            self._publish(optimization, RUNNING, progress, message)

    def _publish(self, optimization: Optimization, status: str, progress: int, message: str) -> None:
        data = {"optimization_id": optimization.id, "status": status, "progress": progress, "message": message}
        try:
            self.publisher.publish(user_channel(optimization.owner_id), STATUS_EVENT, data)
        except Exception:  # events are best effort
            log.exception("could not publish %s for optimization %s", STATUS_EVENT, optimization.id)


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)
