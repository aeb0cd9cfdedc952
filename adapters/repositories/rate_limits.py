"""Rate-limit counters: one conditional atomic increment per request."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.exceptions import UpdateError

from adapters.models.rate_limits import RateLimitItem
from adapters.repositories.binding import condition_failed


class DynamoRateLimitCounter:
    def __init__(self, model: type[RateLimitItem] = RateLimitItem) -> None:
        self._model = model

    def hit(self, key: str, limit: int, expires_at: int) -> int | None:
        """ADD 1 to the window's counter only while it is below `limit` (one UpdateItem, so exact
        under any concurrency); None once the limit is reached."""
        model = self._model
        item = model(key)
        try:
            item.update(
                actions=[model.hits.add(1), model.expires_at.set(datetime.fromtimestamp(expires_at, UTC))],
                condition=model.hits.does_not_exist() | (model.hits < limit),
            )
        except UpdateError as error:
            if condition_failed(error):
                return None
            raise
        return int(item.hits)
