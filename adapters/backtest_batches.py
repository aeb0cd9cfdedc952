"""S3 side of backtest batches (imports/batches/ in the imports bucket) and the composition of
the batch function: the backtest service wired as the REST API wires it."""

from __future__ import annotations

from typing import Any

import boto3

from adapters.s3_objects import ObjectTooLarge, S3Objects
from adapters.settings import BatchImportSettings
from shared.backtests.batches import BacktestBatches
from shared.errors import FieldError, ValidationFailed

MAX_BATCH_BYTES = 5 * 2**20


class S3BatchInbox:
    """The BatchInbox port: batch files in, status objects out."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._objects = S3Objects(s3_client, bucket)
        self.bucket = bucket

    def read(self, key: str) -> bytes:
        try:
            content = self._objects.get_bytes(key, max_bytes=MAX_BATCH_BYTES)
        except ObjectTooLarge as error:
            raise ValidationFailed(
                "the batch file is too large", [FieldError("file", f"{error.size} bytes; at most {MAX_BATCH_BYTES}")]
            ) from None
        if content is None:
            raise ValidationFailed(
                "the batch file is gone", [FieldError("file", f"{self._objects.url(key)} does not exist")]
            )
        return content

    def put_status(self, key: str, status: dict[str, Any]) -> None:
        self._objects.put_json(key, status, indent=1)


def backtest_batches_from_env() -> BacktestBatches:
    """The batch service of the deployed function: tables, buckets and the backtest state machine
    named by the environment (`BatchImportSettings`)."""
    from adapters.backtest_launcher import StepFunctionsLauncher
    from adapters.contracts import backtest_request
    from adapters.market_catalog import CandleStoreCatalog
    from adapters.models.backtests import BacktestItem
    from adapters.models.strategies import StrategyItem
    from adapters.models.users import UserItem
    from adapters.repositories.backtests import DynamoBacktestRepository
    from adapters.repositories.binding import bind
    from adapters.repositories.strategies import DynamoStrategyRepository
    from adapters.repositories.trades import S3TradeStore
    from adapters.repositories.users import DynamoUserRepository
    from shared.backtests.service import Backtests

    settings = BatchImportSettings.from_env()
    s3 = boto3.client("s3")
    backtests = Backtests(
        repository=DynamoBacktestRepository(bind(BacktestItem, settings.backtests_table)),
        strategies=DynamoStrategyRepository(bind(StrategyItem, settings.strategies_table)),
        catalog=CandleStoreCatalog(s3, settings.candles_bucket),
        launcher=StepFunctionsLauncher(boto3.client("stepfunctions"), settings.state_machine_arn),
        trades=S3TradeStore(s3, settings.results_bucket),
    )
    return BacktestBatches(
        backtests=backtests,
        users=DynamoUserRepository(bind(UserItem, settings.users_table)),
        inbox=S3BatchInbox(s3, settings.imports_bucket),
        bucket=settings.imports_bucket,
        parse_entry=backtest_request,
    )
