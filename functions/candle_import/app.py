"""S3 ObjectCreated on the imports bucket -> the candle import pipeline.

Keys under imports/candles/ are candle files, keys under imports/candle-fetches/ Binance fetch
requests (see shared.market_data.imports). Each S3 record is processed once: Powertools
idempotency (table IDEMPOTENCY_TABLE) keys it by bucket, key and sequencer, so a redelivered
event does nothing; the status record (IMPORTS_TABLE) also refuses to re-run a completed job.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from adapters.candle_store import market_data_service_from_env
from adapters.publisher import publisher_from_env
from adapters.s3_events import OncePerRecord
from shared.events import EventPublisher
from shared.market_data.service import MarketDataService

logger = Logger()


def make_publisher() -> EventPublisher:
    """The one place this function's publisher comes from: THE WebSocket publisher."""
    return publisher_from_env()


@functools.cache
def _service() -> MarketDataService:
    return market_data_service_from_env(make_publisher())


@functools.cache
def _once_per_record() -> OncePerRecord:
    return OncePerRecord.from_env(_import_record, boto3.client("dynamodb"))


def _import_record(record: dict[str, Any], market_data: MarketDataService) -> dict[str, Any] | None:
    s3_object = record["s3"]["object"]
    status = market_data.run_inbox_object(s3_object["key"], s3_object.get("sequencer", ""))
    if status is None:
        logger.warning("not a candle import key", extra={"key": s3_object["key"]})
        return None
    logger.info(
        "import finished",
        extra={
            "import_id": status.import_id,
            "status": status.status,
            "rows_imported": status.rows_imported,
            "error_count": status.error_count,
        },
    )
    return {"import_id": status.import_id, "status": status.status}


def handle_event(
    event: dict[str, Any], context: LambdaContext, market_data: MarketDataService
) -> list[dict[str, Any] | None]:
    """Import every S3 record of `event` through `market_data`, each at most once."""
    return _once_per_record()(event, context, market_data=market_data)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> list[dict[str, Any] | None]:
    return handle_event(event, context, _service())
