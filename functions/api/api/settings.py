"""The API function's environment, read and checked once at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields


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
    cors_allowed_origin: str  # Access-Control-Allow-Origin of every answer (the template's CorsAllowedOrigin)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ApiSettings:
        """Each field from the upper-cased variable of its name; a missing one is a clear error."""
        missing = [f.name.upper() for f in fields(cls) if not environ.get(f.name.upper())]
        if missing:
            raise RuntimeError(f"the API function needs environment variables {', '.join(missing)}")
        values = {f.name: environ[f.name.upper()] for f in fields(cls)}
        integers = {name: int(values[name]) for name in ("map_max_concurrency", "optimization_batch_memory_mb",
                                                         "max_combinations")}
        return cls(**{**values, "session_ttl_hours": float(values["session_ttl_hours"])} | integers)
