"""S3 side of backtest batches (imports/batches/ in the imports bucket) and the composition of
the batch function: the backtest service wired as the REST API wires it."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError

from shared.backtests.batches import BacktestBatches
from shared.errors import FieldError, ValidationFailed

MAX_BATCH_BYTES = 5 * 2**20


class S3BatchInbox:
    """The BatchInbox port: batch files in, status objects out."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self.bucket = bucket

    def read(self, key: str) -> bytes:
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise ValidationFailed("the batch file is gone", [FieldError("file", f"s3://{self.bucket}/{key} does not exist")]) from None
            raise
        if response["ContentLength"] > MAX_BATCH_BYTES:
            response["Body"].close()
            raise ValidationFailed("the batch file is too large", [FieldError(
                "file", f"{response['ContentLength']} bytes; at most {MAX_BATCH_BYTES}")])
        return response["Body"].read()

    def put_status(self, key: str, status: dict[str, Any]) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(status, indent=1).encode(),
                            ContentType="application/json")


def backtest_batches_from_env() -> BacktestBatches:
    """The batch service of the deployed function: tables, buckets and the backtest state machine
    named by the environment."""
    from adapters.backtest_launcher import StepFunctionsLauncher
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

    s3 = boto3.client("s3")
    backtests = Backtests(
        repository=DynamoBacktestRepository(bind(BacktestItem, os.environ["BACKTESTS_TABLE"])),
        strategies=DynamoStrategyRepository(bind(StrategyItem, os.environ["STRATEGIES_TABLE"])),
        catalog=CandleStoreCatalog(s3, os.environ["CANDLES_BUCKET"]),
        launcher=StepFunctionsLauncher(boto3.client("stepfunctions"), os.environ["STATE_MACHINE_ARN"]),
        trades=S3TradeStore(s3, os.environ["RESULTS_BUCKET"]),
    )
    imports = os.environ["IMPORTS_BUCKET"]
    return BacktestBatches(backtests=backtests, users=DynamoUserRepository(bind(UserItem, os.environ["USERS_TABLE"])),
                           inbox=S3BatchInbox(s3, imports), bucket=imports)
