"""The optimization state machine's steps (statemachine/optimization.asl.json), one use-case each:

    Prepare -> distributed Map over the batch list in S3 (Evaluate per batch) -> Finish   (Catch -> Fail)

Prepare pins the candle series, orders and splits the grid into batches (batches/<i>.json) and
writes the Map's item list (items.json) for its ItemReader; each Evaluate reads the candles once
and runs its combinations with one shared indicator cache (`shared.optimizations.sweep.evaluate_batch`);
each batch stores its results ranked (best first) under optimizations/<id>/results/; Finish merges
those rankings into ranking.json (the best RANKED_RESULTS), runs the best FULL_RESULTS again in full
(their trades and equity curves: `shared.optimizations.full_results`), records the best and completes.
Intermediate objects live under partials/optimizations/<id>/ (expired by the bucket's lifecycle if a
run dies), the results and the ranking under optimizations/<id>/. Steps can run again with the same outcome, and events
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

from shared.candles import Candles
from shared.engine import BacktestSettings
from shared.errors import Conflict, DomainError, FieldError, NotFound, ValidationFailed
from shared.events import EventPublisher, user_channel
from shared.market_data.ports import CandleStore
from shared.market_data.query import choose_source, read_series, stored_series
from shared.market_data.store import SeriesManifest
from shared.optimizations.full_results import FULL_RESULTS, full_results
from shared.optimizations.model import Optimization
from shared.optimizations.ports import OptimizationRepository, OptimizationStore
from shared.optimizations.service import settings_of
from shared.optimizations.sweep import (
    RANKED_RESULTS,
    Combination,
    batch_count,
    batches,
    evaluate_batch,
    merge_ranked,
    rank_key,
    search_space,
    sweep_combinations,
)
from shared.optimizations.walk_forward import Window, lay_out, walk_forward
from shared.statuses import COMPLETED, FAILED, PENDING, RUNNING
from shared.step_failures import OptimizationIncomplete, failure_message
from shared.timeframes import timeframe_ms
from shared.times import utc_now

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
    ranked_results: int = RANKED_RESULTS  # how many results the ranking keeps
    full_results: int = FULL_RESULTS  # how many of the best keep their trades and equity curve

    def prepare(self, optimization_id: str) -> dict[str, Any]:
        optimization = self._active(optimization_id)
        if optimization.status == PENDING:
            self._transition(lambda: self.repository.mark_running(optimization_id, self.clock()))
        start_ms, end_ms = _epoch_ms(optimization.start_time), _epoch_ms(optimization.end_time)
        source = choose_source(
            stored_series(self.candles, optimization.symbol),
            optimization.symbol,
            optimization.timeframe,
            start_ms,
            end_ms,
        )
        windows = _windows(optimization)
        plan = {
            "strategy": optimization.strategy,
            "timeframe": optimization.timeframe,
            "start_ms": start_ms,
            "end_ms": end_ms,
            "source": json.loads(source.to_json()),
            "settings": asdict(
                settings_of(
                    optimization.initial_balance,
                    optimization.metadata["commission"],
                    optimization.metadata["leverage"],
                    optimization.timeframe,
                )
            ),
            "windows": [[w.train_start_ms, w.train_end_ms] for w in windows],
            "batches": 0,
            "rounds": [],
            "trials": [0] * len(windows),
        }
        if optimization.method == "bayesian":
            return self._next_round(optimization, plan, [[] for _ in windows])
        combos = (
            sweep_combinations(
                optimization.strategy,
                optimization.method,
                optimization.parameters,
                optimization.constraints,
                optimization.max_combinations,
                optimization.n_trials,
                optimization.seed,
                check=False,  # every combination was validated when POST /optimizations accepted the request
            )
            or []
        )
        return self._start_round(optimization, plan, [combos for _ in windows])

    def evaluate(self, optimization_id: str, index: int) -> dict[str, Any]:
        optimization = self.repository.get(optimization_id)
        if optimization is None or optimization.status != RUNNING:
            return {"batch": index, "skipped": "the optimization is no longer running"}
        if self.store.has_results(optimization_id, index):  # a retried or redriven execution
            return {"batch": index, "skipped": "already evaluated"}
        plan = self.store.plan(optimization_id)
        batch = self.store.batch(optimization_id, index)
        combos = [Combination(**combo) for combo in batch["combos"]]
        start_ms, end_ms = plan["windows"][batch["window"]]
        started = time.perf_counter()
        candles = self._candles(plan, start_ms, end_ms)
        if not len(candles):
            raise ValidationFailed(
                "no candles in the requested range",
                [
                    FieldError(
                        "start_time",
                        f"no {optimization.symbol} {plan['timeframe']} candles between the start and end times",
                    )
                ],
            )
        read = time.perf_counter()
        evaluated = evaluate_batch(plan["strategy"], combos, candles, BacktestSettings(**plan["settings"]))
        timing = {"read_seconds": round(read - started, 6), "compute_seconds": round(time.perf_counter() - read, 6)}
        ranked = sorted(
            evaluated.results, key=rank_key(optimization.objective, optimization.direction, optimization.min_trades)
        )
        self.store.put_results(
            optimization_id,
            index,
            {
                "batch": index,
                "window": batch["window"],
                "combinations": len(ranked),
                "indicator_computations": evaluated.indicator_computations,
            }
            | timing,
            ranked,
        )
        now = self.repository.get(optimization_id)
        if now is None or now.status == FAILED:  # failed or deleted meanwhile: its cleanup may precede this write
            self.store.delete(optimization_id)
            return {"batch": index, "skipped": "the optimization is no longer running"}
        done = self.store.results_done(optimization_id)
        trials_done = done * sum(plan["trials"]) // max(1, plan["batches"])
        progress = BATCHES_FROM + (BATCHES_TO - BATCHES_FROM) * min(trials_done, optimization.combination_count) // max(
            1, optimization.combination_count
        )
        self._progress(optimization, progress, f"evaluated {done} of {plan['batches']} batch(es)")
        return {
            "batch": index,
            "combinations": len(combos),
            "indicator_computations": evaluated.indicator_computations,
        } | timing

    def tell(self, optimization_id: str, round_number: int) -> dict[str, Any]:
        """After a round's Map: a Bayesian search tells each window's study the round's results and
        asks the next round (`more`), until n_trials were evaluated or the space is exhausted; a grid
        or random sweep has a single round. Runs again with the same outcome (the plan records each
        round)."""
        optimization = self._active(optimization_id)
        plan = self.store.plan(optimization_id)
        if len(plan["rounds"]) > round_number + 1:  # told already: a retried step answers the same
            return self._round_answer(optimization_id, plan, len(plan["rounds"]) - 1, more=True)
        if optimization.method != "bayesian":
            return self._round_answer(optimization_id, plan, round_number, more=False)
        from shared.optimizations.bayesian import tell_round

        logs = [self.store.study(optimization_id, window) for window in range(len(plan["windows"]))]
        for window, first, count in plan["rounds"][round_number]:
            documents = self._round_results(optimization_id, range(first, first + count))
            logs[window] = tell_round(
                logs[window],
                optimization.direction,
                optimization.seed or 0,
                round_number,
                self.store.round(optimization_id, round_number, window),
                [result for document in documents for result in document["results"]],
                optimization.objective,
                optimization.min_trades,
            )
        return self._next_round(optimization, plan, logs)

    def finish(self, optimization_id: str) -> dict[str, Any]:
        """Rank each window's results (`merge_ranked` of the batches' own rankings: Finish reads
        and holds the best `ranked_results` and one batch header each, not every summary), store the
        ranking and the best `full_results` run in full (a walk-forward: run each window's best out
        of sample) and complete. A retried Finish writes the same objects again; one that finds the
        optimization failed or deleted meanwhile removes what it wrote."""
        optimization = self._active(optimization_id, also=COMPLETED)
        plan = self.store.plan(optimization_id)
        self._check_finished(optimization_id, range(plan["batches"]))
        opened = [self.store.ranked_results(optimization_id, index) for index in range(plan["batches"])]
        keep = self.ranked_results if optimization.walk_forward is None else 1
        rankings = [
            merge_ranked(
                [results for header, results in opened if header["window"] == window],
                optimization.objective,
                optimization.direction,
                optimization.min_trades,
                keep,
            )
            for window in range(len(plan["windows"]))
        ]
        if optimization.walk_forward is None:
            self.store.put_ranking(optimization_id, rankings[0])
            self._store_full_results(optimization_id, plan, rankings[0])
            best = rankings[0][0]
            message = f"best {optimization.objective}: {best['objective_value']}"
        else:
            result = walk_forward(
                plan["strategy"],
                _windows(optimization),
                [ranking[0] for ranking in rankings],
                lambda start, end: self._candles(plan, start, end),
                BacktestSettings(**plan["settings"]),
            )
            self.store.put_walk_forward(optimization_id, result)
            best = {key: result[key] for key in ("walk_forward_efficiency", "in_sample_annualised_return")} | {
                "out_of_sample_final_balance": result["out_of_sample"]["final_balance"]
            }
            message = f"walk-forward efficiency: {best['walk_forward_efficiency']}"
        try:
            completed = self._transition(lambda: self.repository.complete(optimization_id, best, self.clock()))
        except OptimizationNotRunning:
            now = self.repository.get(optimization_id)
            if now is None or now.status == FAILED:  # its cleanup may have preceded these writes
                self.store.delete(optimization_id)
            raise
        self.store.delete_intermediates(optimization_id)
        self._publish(completed, COMPLETED, DONE, message)
        headers = [header for header, _ in opened]
        return {"combinations": sum(header["combinations"] for header in headers), "batches": len(headers)} | {
            total: round(sum(header[total] for header in headers), 6)
            for total in ("indicator_computations", "read_seconds", "compute_seconds")
        }

    def _store_full_results(self, optimization_id: str, plan: dict[str, Any], ranking: list[dict[str, Any]]) -> None:
        """The best `full_results` of the ranking run again, one at a time, on the sweep's candles."""
        if not self.full_results:
            return
        candles = self._candles(plan, *plan["windows"][0])
        settings = BacktestSettings(**plan["settings"])
        for full in full_results(plan["strategy"], ranking, candles, settings, self.full_results):
            self.store.put_full_result(optimization_id, full)

    def _candles(self, plan: dict[str, Any], start_ms: int, end_ms: int) -> Candles:
        source = SeriesManifest.from_json(json.dumps(plan["source"]).encode(), version=None)
        return read_series(self.candles, source, plan["timeframe"], start_ms, end_ms)

    def _next_round(
        self, optimization: Optimization, plan: dict[str, Any], logs: list[list[dict[str, Any]]]
    ) -> dict[str, Any]:
        """Ask each window's next round of a Bayesian search and start it (none left: no `more`)."""
        from shared.optimizations.bayesian import ask_round

        space = search_space(optimization.strategy, optimization.parameters, optimization.constraints)
        round_number = len(plan["rounds"])
        asked_combos: list[list[Combination]] = []
        for window, window_logs in enumerate(logs):
            wanted = min(optimization.batch_size or 1, (optimization.n_trials or 0) - plan["trials"][window])
            if wanted <= 0:
                asked_combos.append([])
                continue
            asked = ask_round(
                space,
                optimization.strategy,
                window_logs,
                optimization.direction,
                optimization.seed or 0,
                round_number,
                wanted,
            )
            self.store.put_round(optimization.id, round_number, asked.trials, window)
            self.store.put_study(optimization.id, asked.logs, window)
            asked_combos.append(asked.combos)
        if not any(asked_combos) and round_number == 0:
            raise ValidationFailed(
                "no combination meets the constraints",
                [FieldError("constraints", "no combination asked meets every constraint and makes a valid strategy")],
            )
        if not any(asked_combos):  # every combination the constraints allow was evaluated
            return self._round_answer(optimization.id, plan, round_number - 1, more=False)
        return self._start_round(optimization, plan, asked_combos)

    def _start_round(
        self, optimization: Optimization, plan: dict[str, Any], combos_by_window: list[list[Combination]]
    ) -> dict[str, Any]:
        """Write a round's batches (each window's combinations split as `batch_count` says), then the
        plan that records them (the commit point)."""
        first, round_number, entries, trials = plan["batches"], len(plan["rounds"]), [], list(plan["trials"])
        for window, combos in enumerate(combos_by_window):
            if not combos:
                continue
            start_ms, end_ms = plan["windows"][window]
            count = batch_count(len(combos), self.max_concurrency, _bars(start_ms, end_ms, plan["timeframe"]))
            for offset, batch in enumerate(batches(combos, count)):
                self.store.put_batch(
                    optimization.id, first + offset, {"window": window, "combos": [asdict(combo) for combo in batch]}
                )
            entries.append([window, first, count])
            first, trials[window] = first + count, trials[window] + len(combos)
        plan = plan | {"batches": first, "rounds": [*plan["rounds"], entries], "trials": trials}
        self.store.put_plan(optimization.id, plan)
        if round_number == 0:
            self._progress(optimization, PREPARED, f"{sum(trials)} combination(s) in {first} batch(es)")
        return self._round_answer(optimization.id, plan, round_number, more=True)

    def _round_answer(
        self, optimization_id: str, plan: dict[str, Any], round_number: int, more: bool
    ) -> dict[str, Any]:
        indices = [first + i for _, first, count in plan["rounds"][round_number] for i in range(count)]
        items_key = self.store.put_items(
            optimization_id, [{"optimization_id": optimization_id, "batch": index} for index in indices], round_number
        )
        return {
            "bucket": self.store.bucket,
            "items_key": items_key,
            "round": round_number,
            "batches": len(indices),
            "more": more,
        }

    def _round_results(self, optimization_id: str, indices: range) -> list[dict[str, Any]]:
        """The results of batches `indices` (a Bayesian round's), whole."""
        self._check_finished(optimization_id, indices)
        return self.store.results(optimization_id, indices)

    def _check_finished(self, optimization_id: str, indices: range) -> None:
        """OptimizationIncomplete naming the batches of `indices` without results."""
        finished = self.store.finished_batches(optimization_id)
        missing = [index for index in indices if index not in finished]
        if missing:  # a batch failed (a distributed Map tolerates no failure on AWS; moto lets it pass)
            raise OptimizationIncomplete(
                f"batch(es) {', '.join(map(str, missing))} of the optimization failed: "
                "their combinations have no results"
            )

    def fail(self, optimization_id: str, error: str, cause: str) -> dict[str, Any]:
        """Mark the optimization failed with a readable message; remove its objects. The status
        changes first: a batch still in flight sees it after its write and removes it (`evaluate`)."""
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
            raise OptimizationNotRunning(
                f"optimization {optimization_id} is {optimization.status if optimization else 'deleted'}"
            )
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


def _windows(optimization: Optimization) -> list[Window]:
    """The train windows a sweep runs on: a walk-forward's, or the whole range once."""
    start_ms, end_ms = _epoch_ms(optimization.start_time), _epoch_ms(optimization.end_time)
    if optimization.walk_forward is None:
        return [Window(start_ms, end_ms, end_ms, end_ms)]
    return lay_out(start_ms, end_ms, **optimization.walk_forward)


def _bars(start_ms: int, end_ms: int, timeframe: str) -> int:
    return max(1, (end_ms - start_ms) // timeframe_ms(timeframe))


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)
