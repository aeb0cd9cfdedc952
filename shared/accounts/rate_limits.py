"""Request rate limits: fixed one-minute windows counted in a shared store.

Each request counts against exactly one category, the most specific that applies:
`auth` (sign-up, sign-in, sign-out: 20/min per client IP), `backtest_creation` (POST of a
backtest: 10/min per user), `market_data` (300/min per user) and `general` (120/min per user;
per client IP for requests without a valid token). A window is the UTC minute; its counter is
one atomic conditional increment, so no more than the limit pass in a window however many
Lambda instances serve the requests. A client may thus burst up to twice the limit across a
minute boundary, the usual price of fixed windows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from shared.accounts.ports import RateLimitCounter
from shared.errors import DomainError

AUTH, GENERAL, MARKET_DATA, BACKTEST_CREATION = "auth", "general", "market_data", "backtest_creation"
WINDOW_SECONDS = 60
SEED_LIMITS: Mapping[str, int] = MappingProxyType({AUTH: 20, GENERAL: 120, MARKET_DATA: 300, BACKTEST_CREATION: 10})
# Each category's limit can be set per deployment (template parameters -> these variables).
LIMIT_VARIABLES: Mapping[str, str] = MappingProxyType(
    {category: f"RATE_LIMIT_{category.upper()}" for category in SEED_LIMITS}
)
# Counters outlive their window a little so a late request never recreates a reset counter.
_EXPIRY_SLACK_SECONDS = 60


def limits_from(variables: Mapping[str, str]) -> dict[str, int]:
    """The per-minute limit of each category: its `RATE_LIMIT_<CATEGORY>` variable, else the seed's."""
    limits = {}
    for category, seed in SEED_LIMITS.items():
        text = variables.get(LIMIT_VARIABLES[category]) or str(seed)
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"{LIMIT_VARIABLES[category]} must be a whole number of requests per minute, got {text!r}")
        limits[category] = int(text)
    return limits


class RateLimited(DomainError):
    """Too many requests in the current window (HTTP 429)."""

    code = "rate_limited"


@dataclass(frozen=True)
class RateLimitStatus:
    limit: int
    remaining: int
    reset_at: int  # epoch seconds when the window ends
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


@dataclass
class RateLimiter:
    counter: RateLimitCounter
    limits: Mapping[str, int] = field(default_factory=lambda: dict(SEED_LIMITS))
    clock: Callable[[], float] = time.time

    def hit(self, category: str, subject: str) -> RateLimitStatus:
        """Count one request of `subject` (a user id or an IP) in `category`."""
        limit = self.limits[category]
        window_start = int(self.clock()) // WINDOW_SECONDS * WINDOW_SECONDS
        reset_at = window_start + WINDOW_SECONDS
        count = self.counter.hit(f"{category}#{subject}#{window_start}", limit, reset_at + _EXPIRY_SLACK_SECONDS)
        if count is None:
            return RateLimitStatus(limit, 0, reset_at, allowed=False)
        return RateLimitStatus(limit, limit - count, reset_at, allowed=True)
