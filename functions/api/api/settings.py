"""The API function's environment, read and checked once at cold start (`adapters.settings`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import ClassVar

from adapters.settings import EnvSettings
from shared.accounts.rate_limits import SEED_LIMITS, limits_from


@dataclass(frozen=True)
class ApiSettings(EnvSettings):
    FUNCTION: ClassVar[str] = "the API function"
    users_table: str
    sessions_table: str
    strategies_table: str
    backtests_table: str
    rate_limits_table: str
    results_bucket: str
    candles_bucket: str
    imports_bucket: str
    imports_table: str
    state_machine_arn: str
    optimizations_table: str
    optimization_state_machine_arn: str
    transactions_table: str
    transaction_jobs_table: str
    exchange_secrets_prefix: str
    session_ttl_hours: float
    map_max_concurrency: int
    optimization_batch_memory_mb: int
    max_combinations: int
    trades_csv_inline_max_bytes: int  # a larger trades CSV is answered by a redirect to the results bucket
    cors_allowed_origin: str  # Access-Control-Allow-Origin of every answer (the template's CorsAllowedOrigin)
    # Requests per minute by category; each RATE_LIMIT_<CATEGORY> variable is optional (seed limits).
    rate_limits: Mapping[str, int] = field(default_factory=lambda: dict(SEED_LIMITS))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        """Each field from the upper-cased variable of its name; a missing one is a clear error."""
        environ = os.environ if environ is None else environ
        return replace(super().from_env(environ), rate_limits=limits_from(environ))
