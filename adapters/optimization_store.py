"""An optimization's objects in the results bucket (JSON, each written whole, so a retried step
rewrites the same object):

    partials/optimizations/<id>/plan.json           pinned series, settings, batch count
    partials/optimizations/<id>/batches/<i>.json    batch i: its window and combinations
    partials/optimizations/<id>/items/<r>.json      round r's distributed Map items (its ItemReader)
    partials/optimizations/<id>/studies/<w>.json    window w's Bayesian study (Optuna journal logs)
    partials/optimizations/<id>/rounds/<r>-<w>.json round r's trials of window w (grid index -> trial)
    optimizations/<id>/results/<i>.jsonl            batch i's results: a header line, then one line
                                                    per combination, best first (the heatmap reads them all)
    optimizations/<id>/ranking.json                 the best RANKED_RESULTS, ranked (what the API pages through)
    optimizations/<id>/walk_forward.json            a walk-forward's windows, stitched OOS, figures
    optimizations/<id>/full/<rank>.json             the best FULL_RESULTS run in full: rank, params,
                                                    objective value, summary, trade count
    optimizations/<id>/full/<rank>.trades.jsonl     ... its trades, one line each in entry order (a page
                                                    reads no further than its last trade)
    optimizations/<id>/full/<rank>.equity.parquet   ... and its equity curve (as a backtest's equity.parquet)

The intermediate objects sit under partials/, which the bucket's lifecycle rule expires. A batch's
results object is read lazily, in ranged GETs of growing size (`ranked_results`): Finish's merge of
the batches' rankings reads from each only the lines that make the cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from botocore.exceptions import ClientError

from adapters.repositories.equity import parquet_series, series_parquet
from adapters.s3_objects import S3Objects, is_missing
from shared.errors import NotFound
from shared.optimizations.full_results import FullResult


def _intermediates(optimization_id: str) -> str:
    return f"partials/optimizations/{optimization_id}/"


def _ranking_key(optimization_id: str) -> str:
    return f"optimizations/{optimization_id}/ranking.json"


def _walk_forward_key(optimization_id: str) -> str:
    return f"optimizations/{optimization_id}/walk_forward.json"


def _full_result_key(optimization_id: str, rank: int) -> str:
    return f"optimizations/{optimization_id}/full/{rank:06d}"


def _results_prefix(optimization_id: str) -> str:
    return f"optimizations/{optimization_id}/results/"


def _results_key(optimization_id: str, index: int) -> str:
    return f"{_results_prefix(optimization_id)}{index:06d}.jsonl"


# A lazy read's first ranged GET, doubled on each further GET up to the last (what one reader holds
# at most: Finish holds one per batch). A batch's results start at 64 KB (a header and ~50 results:
# Finish reads a 16-batch ranking of 10,000 in 4 GETs a batch, not 7); a page of a full result's
# trades at 8 KB (~20 trades).
FIRST_READ_BYTES = 64 * 1024
FIRST_TRADES_READ_BYTES = 8 * 1024
LARGEST_READ_BYTES = 1024 * 1024


class S3OptimizationStore:
    """The OptimizationStore port of `shared.optimizations.service` on S3."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._objects = S3Objects(s3_client, bucket)
        self.bucket = bucket

    def put_plan(self, optimization_id: str, plan: dict[str, Any]) -> None:
        self._put(f"{_intermediates(optimization_id)}plan.json", plan)

    def plan(self, optimization_id: str) -> dict[str, Any]:
        return self._get(f"{_intermediates(optimization_id)}plan.json")

    def put_batch(self, optimization_id: str, index: int, batch: dict[str, Any]) -> None:
        self._put(f"{_intermediates(optimization_id)}batches/{index:06d}.json", batch)

    def batch(self, optimization_id: str, index: int) -> dict[str, Any]:
        return self._get(f"{_intermediates(optimization_id)}batches/{index:06d}.json")

    def put_items(self, optimization_id: str, items: list[dict[str, Any]], round_number: int = 0) -> str:
        key = f"{_intermediates(optimization_id)}items/{round_number:04d}.json"
        self._put(key, items)
        return key

    def put_study(self, optimization_id: str, logs: list[dict[str, Any]], window: int = 0) -> None:
        self._put(f"{_intermediates(optimization_id)}studies/{window:04d}.json", logs)

    def study(self, optimization_id: str, window: int = 0) -> list[dict[str, Any]]:
        try:
            return self._get(f"{_intermediates(optimization_id)}studies/{window:04d}.json")
        except NotFound:
            return []

    def put_round(self, optimization_id: str, round_number: int, trials: dict[int, int], window: int = 0) -> None:
        self._put(
            f"{_intermediates(optimization_id)}rounds/{round_number:04d}-{window:04d}.json",
            [[i, n] for i, n in trials.items()],
        )

    def round(self, optimization_id: str, round_number: int, window: int = 0) -> dict[int, int]:
        pairs = self._get(f"{_intermediates(optimization_id)}rounds/{round_number:04d}-{window:04d}.json")
        return dict(pairs)

    def put_walk_forward(self, optimization_id: str, result: dict[str, Any]) -> None:
        self._put(_walk_forward_key(optimization_id), result)

    def walk_forward(self, optimization_id: str) -> dict[str, Any] | None:
        try:
            return self._get(_walk_forward_key(optimization_id))
        except NotFound:
            return None

    def has_results(self, optimization_id: str, index: int) -> bool:
        return bool(self._keys(_results_key(optimization_id, index)))

    def finished_batches(self, optimization_id: str) -> set[int]:
        prefix = _results_prefix(optimization_id)
        return {int(key[len(prefix) :].removesuffix(".jsonl")) for key in self._keys(prefix)}

    def put_results(
        self, optimization_id: str, index: int, header: dict[str, Any], results: list[dict[str, Any]]
    ) -> None:
        self._put_lines(_results_key(optimization_id, index), [header, *results])

    def results(self, optimization_id: str, indices: Iterable[int]) -> list[dict[str, Any]]:
        documents = []
        for index in indices:
            header, results = self.ranked_results(optimization_id, index)
            documents.append(header | {"results": list(results)})
        return documents

    def ranked_results(self, optimization_id: str, index: int) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
        lines = self._lines(_results_key(optimization_id, index))
        return next(lines), lines

    def every_result(self, optimization_id: str) -> Iterator[dict[str, Any]]:
        for index in sorted(self.finished_batches(optimization_id)):
            yield from self.ranked_results(optimization_id, index)[1]

    def results_done(self, optimization_id: str) -> int:
        return len(self._keys(_results_prefix(optimization_id)))

    def put_ranking(self, optimization_id: str, ranking: list[dict[str, Any]]) -> None:
        self._put(_ranking_key(optimization_id), ranking)

    def ranking(self, optimization_id: str) -> list[dict[str, Any]] | None:
        try:
            return self._get(_ranking_key(optimization_id))
        except NotFound:
            return None

    def put_full_result(self, optimization_id: str, result: FullResult) -> None:
        key = _full_result_key(optimization_id, result.rank)
        self._objects.put_bytes(f"{key}.equity.parquet", series_parquet(result.equity))
        if result.trades:
            self._put_lines(f"{key}.trades.jsonl", result.trades)
        # last: a document always has its curve and trades
        self._put(f"{key}.json", result.document | {"trade_count": len(result.trades)})

    def full_result(self, optimization_id: str, rank: int, trades: slice | None = None) -> FullResult | None:
        key = _full_result_key(optimization_id, rank)
        try:
            document = self._get(f"{key}.json")
        except NotFound:
            return None
        equity = self._objects.get_bytes(f"{key}.equity.parquet")
        if equity is None:
            return None
        wanted = range(document["trade_count"])[trades or slice(None)]
        lines = self._lines(f"{key}.trades.jsonl", FIRST_TRADES_READ_BYTES) if wanted else iter(())
        return FullResult(document, list(islice(lines, wanted.start, wanted.stop)), parquet_series(equity))

    def delete_intermediates(self, optimization_id: str) -> None:
        self._delete(self._keys(_intermediates(optimization_id)))

    def delete(self, optimization_id: str) -> None:
        self._delete(self._keys(_intermediates(optimization_id)) + self._keys(f"optimizations/{optimization_id}/"))

    def _put_lines(self, key: str, documents: list[Any]) -> None:
        """JSON Lines (what `_lines` reads), one compact document a line."""
        lines = [json.dumps(document, separators=(",", ":"), allow_nan=False) for document in documents]
        self._objects.put_bytes(key, "\n".join(lines).encode(), "application/x-ndjson")

    def _put(self, key: str, document: Any) -> None:
        self._objects.put_json(key, document, allow_nan=False)

    def _get(self, key: str) -> Any:
        body = self._objects.get_bytes(key)
        if body is None:
            raise NotFound(f"{self._objects.url(key)} does not exist")
        return json.loads(body)

    def _lines(self, key: str, first_read: int = FIRST_READ_BYTES) -> Iterator[Any]:
        """The JSON lines of object `key`, read on demand: ranged GETs from `first_read` bytes, each
        twice the last up to LARGEST_READ_BYTES (an S3 that ignores the range answers it whole)."""
        position, size, length, rest = 0, None, first_read, b""
        while size is None or position < size:
            try:
                answer = self._objects.client.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes={position}-{position + length - 1}"
                )
            except ClientError as error:
                if is_missing(error):
                    raise NotFound(f"{self._objects.url(key)} does not exist") from None
                raise
            body = answer["Body"].read()
            position += len(body)
            content_range = answer.get("ContentRange")
            size = int(content_range.rsplit("/", 1)[1]) if content_range else position
            *complete, rest = (rest + body).split(b"\n")
            for line in complete:
                yield json.loads(line)
            length = min(2 * length, LARGEST_READ_BYTES)
        if rest:
            yield json.loads(rest)

    def _keys(self, prefix: str) -> list[str]:
        return self._objects.keys(prefix)

    def _delete(self, keys: list[str]) -> None:
        self._objects.delete_keys(keys)
