"""Composition root of the state machines' functions (compute, workflow), and how their errors
reach Step Functions.

A Lambda task's error name is the exception's type name. The state machines retry `TransientError`
(with backoff), end quietly on `BacktestNotRunning` / `OptimizationNotRunning`, and hand anything
else to the failing step, which shows the message of a domain error (`ValidationFailed`,
`NotFound`, see `shared.step_failures`) to the user. So `step_errors` turns throttling,
5xx and network failures of AWS calls into `TransientError`, and gives domain errors a message
that carries their field details.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from pynamodb.exceptions import PynamoDBException

from adapters.settings import BacktestWorkflowSettings, OptimizationWorkflowSettings, RunWatchdogSettings
from shared.backtests.workflow import BacktestNotRunning, BacktestWorkflow
from shared.errors import DomainError
from shared.optimizations.workflow import OptimizationWorkflow
from shared.run_watchdog import RunWatchdog
from shared.step_failures import describe

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "SlowDown",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "InternalServerError",
        "TransactionInProgressException",
    }
)
_NETWORK_ERRORS = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError)


class TransientError(Exception):
    """An AWS call failed in a way a retry may fix; the state machines retry steps on this name."""


@contextmanager
def step_errors() -> Iterator[None]:
    """Raise what the state machine should see (see the module docstring)."""
    try:
        yield
    except BacktestNotRunning:
        raise
    except DomainError as error:
        raise type(error)(describe(error), error.errors) from error
    except ClientError as error:
        if _transient_client_error(error):
            raise TransientError(f"temporary AWS error: {error}") from error
        raise
    except PynamoDBException as error:
        if getattr(error, "cause_response_code", None) in TRANSIENT_CODES:
            raise TransientError(f"temporary DynamoDB error: {error}") from error
        raise
    except _NETWORK_ERRORS as error:
        raise TransientError(f"temporary network error: {error}") from error


def _transient_client_error(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in TRANSIENT_CODES or status >= 500


def backtest_workflow_from_env() -> BacktestWorkflow:
    """The backtest workflow of a deployed function (or of the local stack): tables and buckets
    named by the environment (`BacktestWorkflowSettings`), THE publisher (`adapters.publisher.publisher_from_env`). Handlers
    make it once per execution environment (each function module caches its own)."""
    from adapters.candle_store import S3CandleStore
    from adapters.funding_store import S3FundingStore
    from adapters.models.backtests import BacktestItem
    from adapters.publisher import publisher_from_env
    from adapters.repositories.backtests import DynamoBacktestRepository
    from adapters.repositories.binding import bind
    from adapters.repositories.equity import S3EquityStore
    from adapters.repositories.trades import S3TradeStore
    from adapters.repositories.transactions import S3ReplayStore
    from adapters.run_store import S3RunStore
    from adapters.symbol_rules_store import S3SymbolRulesStore
    from shared.transactions.workflow import ReplayRun

    settings = BacktestWorkflowSettings.from_env()
    s3, results = boto3.client("s3"), settings.results_bucket
    candles, runs, trades = (
        S3CandleStore(s3, settings.candles_bucket),
        S3RunStore(s3, results),
        S3TradeStore(s3, results),
    )
    return BacktestWorkflow(
        backtests=DynamoBacktestRepository(bind(BacktestItem, settings.backtests_table)),
        trades=trades,
        equity=S3EquityStore(s3, results),
        runs=runs,
        candles=candles,
        publisher=publisher_from_env(),
        bars_per_chunk=settings.bars_per_chunk,
        kinds=(ReplayRun(S3ReplayStore(s3, results), candles, runs, trades),),
        funding=S3FundingStore(s3, settings.candles_bucket),
        symbol_rules=S3SymbolRulesStore(s3, settings.candles_bucket),
    )


# An optimization's batches read the same range (a walk-forward's: one per window): a warm
# environment keeps its last two reads (a year of 1m candles is ~25 MB) instead of reading again.
OPTIMIZATION_CANDLE_READS_KEPT = 2


def optimization_workflow_from_env() -> OptimizationWorkflow:
    """The optimization workflow of a deployed function (or of the local stack)."""
    from adapters.candle_store import S3CandleStore
    from adapters.models.optimizations import OptimizationItem
    from adapters.optimization_store import S3OptimizationStore
    from adapters.publisher import publisher_from_env
    from adapters.repositories.binding import bind
    from adapters.repositories.optimizations import DynamoOptimizationRepository

    settings = OptimizationWorkflowSettings.from_env()
    s3 = boto3.client("s3")
    return OptimizationWorkflow(
        repository=DynamoOptimizationRepository(bind(OptimizationItem, settings.optimizations_table)),
        store=S3OptimizationStore(s3, settings.results_bucket),
        candles=S3CandleStore(s3, settings.candles_bucket, kept_reads=OPTIMIZATION_CANDLE_READS_KEPT),
        publisher=publisher_from_env(),
        max_concurrency=settings.map_max_concurrency,
    )


def run_watchdog_from_env() -> RunWatchdog:
    """The run watchdog of its function: both workflows (their `fail`), their repositories (the
    sweep's stale runs), and the template's STUCK_RUN_TIMEOUT_MINUTES."""
    from datetime import timedelta

    settings = RunWatchdogSettings.from_env()
    backtests, optimizations = backtest_workflow_from_env(), optimization_workflow_from_env()
    return RunWatchdog(
        failing={"backtest_id": backtests, "optimization_id": optimizations},
        stale_runs={"backtest_id": backtests.backtests, "optimization_id": optimizations.repository},
        timeout=timedelta(minutes=settings.stuck_run_timeout_minutes),
    )
