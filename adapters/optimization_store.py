"""An optimization's objects in the results bucket (JSON, each written whole, so a retried step
rewrites the same object):

    partials/optimizations/<id>/plan.json           pinned series, settings, batch count
    partials/optimizations/<id>/batches/<i>.json    batch i: its window and combinations
    partials/optimizations/<id>/items/<r>.json      round r's distributed Map items (its ItemReader)
    partials/optimizations/<id>/results/<i>.json    batch i's results
    partials/optimizations/<id>/studies/<w>.json    window w's Bayesian study (Optuna journal logs)
    partials/optimizations/<id>/rounds/<r>-<w>.json round r's trials of window w (grid index -> trial)
    optimizations/<id>/ranking.json                 every result, ranked (what the API pages through)
    optimizations/<id>/walk_forward.json            a walk-forward's windows, stitched OOS, figures

The intermediate objects sit under partials/, which the bucket's lifecycle rule expires.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from adapters.s3_objects import S3Objects
from shared.errors import NotFound


def _intermediates(optimization_id: str) -> str:
    return f"partials/optimizations/{optimization_id}/"


def _ranking_key(optimization_id: str) -> str:
    return f"optimizations/{optimization_id}/ranking.json"


def _walk_forward_key(optimization_id: str) -> str:
    return f"optimizations/{optimization_id}/walk_forward.json"


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
        self._put(f"{_intermediates(optimization_id)}rounds/{round_number:04d}-{window:04d}.json",
                  [[i, n] for i, n in trials.items()])

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
        return bool(self._keys(f"{_intermediates(optimization_id)}results/{index:06d}.json"))

    def finished_batches(self, optimization_id: str) -> set[int]:
        prefix = f"{_intermediates(optimization_id)}results/"
        return {int(key[len(prefix):].removesuffix(".json")) for key in self._keys(prefix)}

    def put_results(self, optimization_id: str, index: int, results: dict[str, Any]) -> None:
        self._put(f"{_intermediates(optimization_id)}results/{index:06d}.json", results)

    def results(self, optimization_id: str, indices: Iterable[int] | None = None) -> list[dict[str, Any]]:
        if indices is not None:
            return [self._get(f"{_intermediates(optimization_id)}results/{index:06d}.json") for index in indices]
        return [self._get(key) for key in self._keys(f"{_intermediates(optimization_id)}results/")]

    def results_done(self, optimization_id: str) -> int:
        return len(self._keys(f"{_intermediates(optimization_id)}results/"))

    def put_ranking(self, optimization_id: str, ranking: list[dict[str, Any]]) -> None:
        self._put(_ranking_key(optimization_id), ranking)

    def ranking(self, optimization_id: str) -> list[dict[str, Any]] | None:
        try:
            return self._get(_ranking_key(optimization_id))
        except NotFound:
            return None

    def delete_intermediates(self, optimization_id: str) -> None:
        self._delete(self._keys(_intermediates(optimization_id)))

    def delete(self, optimization_id: str) -> None:
        self._delete(self._keys(_intermediates(optimization_id)) + self._keys(f"optimizations/{optimization_id}/"))

    def _put(self, key: str, document: Any) -> None:
        self._objects.put_json(key, document, allow_nan=False)

    def _get(self, key: str) -> Any:
        body = self._objects.get_bytes(key)
        if body is None:
            raise NotFound(f"{self._objects.url(key)} does not exist")
        return json.loads(body)

    def _keys(self, prefix: str) -> list[str]:
        return self._objects.keys(prefix)

    def _delete(self, keys: list[str]) -> None:
        self._objects.delete_keys(keys)
