"""S3 ObjectCreated under imports/batches/ in the imports bucket -> one backtest per valid entry
of the batch file, started; the batch's status object lists what was started and what was
invalid (shared.backtests.batches).

Each S3 record is processed once: Powertools idempotency (table IDEMPOTENCY_TABLE) keys it by
bucket, key and sequencer, so a redelivered event does nothing; if a run dies half-way, the retry
finds the backtests already created (their ids derive from the same key) and creates only the rest.
"""

from __future__ import annotations

import functools
import urllib.parse
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from adapters.backtest_batches import backtest_batches_from_env
from adapters.s3_events import OncePerRecord
from adapters.settings import IdempotencySettings
from shared.backtests.batches import BacktestBatches

logger = Logger()


@functools.cache
def _batches() -> BacktestBatches:
    return backtest_batches_from_env()


@functools.cache
def _once_per_record() -> OncePerRecord:
    return OncePerRecord(_run_record, IdempotencySettings.from_env().idempotency_table, boto3.client("dynamodb"))


def _run_record(record: dict[str, Any], batches: BacktestBatches) -> dict[str, Any]:
    s3_object = record["s3"]["object"]
    status = batches.run(urllib.parse.unquote_plus(s3_object["key"]), s3_object.get("sequencer", ""))
    logger.info("batch processed", extra={key: status.get(key) for key in ("batch", "status", "started", "invalid")})
    return {key: status.get(key) for key in ("batch", "status", "started", "invalid")}


def handle_event(event: dict[str, Any], context: LambdaContext, batches: BacktestBatches) -> list[dict[str, Any]]:
    """Run every S3 record of `event` through `batches`, each at most once."""
    return _once_per_record()(event, context, batches=batches)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> list[dict[str, Any]]:
    return handle_event(event, context, _batches())
