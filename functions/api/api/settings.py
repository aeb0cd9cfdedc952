"""The API function's environment, read and checked once at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from shared.accounts.rate_limits import SEED_LIMITS, limits_from


@dataclass(frozen=True)
class ApiSettings:
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
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ApiSettings:
        """Each field from the upper-cased variable of its name; a missing one is a clear error."""
        required = [f.name for f in fields(cls) if f.name != "rate_limits"]
        missing = [name.upper() for name in required if not environ.get(name.upper())]
        if missing:
            raise RuntimeError(f"the API function needs environment variables {', '.join(missing)}")
        values = {name: environ[name.upper()] for name in required}
        integers = {name: int(values[name]) for name in ("map_max_concurrency", "optimization_batch_memory_mb",
                                                         "max_combinations", "trades_csv_inline_max_bytes")}
        return cls(**{**values, "session_ttl_hours": float(values["session_ttl_hours"])} | integers,
                   rate_limits=limits_from(environ))
