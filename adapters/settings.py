"""Each Lambda function's environment, read once into a checked settings object.

A settings class is a frozen dataclass whose fields are the upper-cased names of the template's
environment variables (`candles_bucket` <- CANDLES_BUCKET), typed `str`, `int` or `float`; a field
with a default is optional. `from_env()` reads them all at once (the function's cold start, or the
first invocation that needs them) and fails naming every missing or malformed variable and the
function, instead of a KeyError deep in a composition root. The composition roots
(`adapters.workflow`, `adapters.backtest_batches`, `adapters.candle_store`, `adapters.publisher`,
`functions/*/app.py`) take these objects and the boto3 clients they make; no adapter reads the
environment or makes a client of its own. (The API's are `functions/api/api/settings.py`.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Self


class SettingsError(RuntimeError):
    """The environment lacks a variable a function needs, or holds one it cannot use."""


class EnvSettings:
    """The base of every function's settings (see the module docstring)."""

    FUNCTION: ClassVar[str] = "this function"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        missing, malformed = [], []
        for spec in fields(cls):  # type: ignore[arg-type]
            variable = spec.name.upper()
            raw = environ.get(variable)
            if not raw:
                if spec.default is MISSING and spec.default_factory is MISSING:
                    missing.append(variable)
                continue
            kind = {"int": int, "float": float}.get(str(spec.type).removesuffix(" | None"), str)
            try:
                values[spec.name] = kind(raw)
            except ValueError:
                malformed.append(f"{variable}={raw!r} is not {'an integer' if kind is int else 'a number'}")
        if missing or malformed:
            problems = ([f"missing environment variables {', '.join(missing)}"] if missing else []) + malformed
            raise SettingsError(f"{cls.FUNCTION} cannot start: {'; '.join(problems)}")
        return cls(**values)


@dataclass(frozen=True)
class ExchangeSettings(EnvSettings):
    """Where the exchange clients connect: each exchange's public host when unset, a mirror or a
    local fake when set (the template's BinanceBaseUrl, BinanceFuturesBaseUrl, BybitBaseUrl)."""

    FUNCTION: ClassVar[str] = "the exchange clients"
    binance_base_url: str | None = None
    binance_futures_base_url: str | None = None
    bybit_base_url: str | None = None
    binance_account_base_url: str | None = None


@dataclass(frozen=True)
class PublisherSettings(EnvSettings):
    """THE WebSocket publisher: the connections table and the management API."""

    FUNCTION: ClassVar[str] = "the publisher"
    connections_table: str
    websocket_api_endpoint: str


@dataclass(frozen=True)
class BacktestWorkflowSettings(EnvSettings):
    """The backtest state machine's steps (WorkflowFunction, ComputeFunction)."""

    FUNCTION: ClassVar[str] = "the backtest workflow"
    backtests_table: str
    results_bucket: str
    candles_bucket: str
    bars_per_chunk: int


@dataclass(frozen=True)
class OptimizationWorkflowSettings(EnvSettings):
    """The optimization state machine's steps (WorkflowFunction, OptimizationBatchFunction)."""

    FUNCTION: ClassVar[str] = "the optimization workflow"
    optimizations_table: str
    results_bucket: str
    candles_bucket: str
    map_max_concurrency: int


@dataclass(frozen=True)
class RunWatchdogSettings(EnvSettings):
    FUNCTION: ClassVar[str] = "the run watchdog"
    stuck_run_timeout_minutes: int


@dataclass(frozen=True)
class IdempotencySettings(EnvSettings):
    """The Powertools idempotency table of the functions the imports bucket triggers."""

    FUNCTION: ClassVar[str] = "an S3-triggered function"
    idempotency_table: str


@dataclass(frozen=True)
class CandleImportSettings(EnvSettings):
    FUNCTION: ClassVar[str] = "the candle import function"
    candles_bucket: str
    imports_bucket: str
    imports_table: str = "candle-imports"


@dataclass(frozen=True)
class BatchImportSettings(EnvSettings):
    FUNCTION: ClassVar[str] = "the batch import function"
    backtests_table: str
    strategies_table: str
    users_table: str
    candles_bucket: str
    results_bucket: str
    imports_bucket: str
    state_machine_arn: str


@dataclass(frozen=True)
class TransactionImportSettings(EnvSettings):
    FUNCTION: ClassVar[str] = "the transaction import function"
    transactions_table: str
    transaction_jobs_table: str
    imports_bucket: str
    exchange_secrets_prefix: str


@dataclass(frozen=True)
class WebSocketSettings(EnvSettings):
    FUNCTION: ClassVar[str] = "the WebSocket function"
    connections_table: str
    users_table: str
    sessions_table: str
    backtests_table: str
    candles_bucket: str
    session_ttl_hours: float
