"""S3 ObjectCreated under imports/transactions/ -> the transaction import it asks for.

`imports/transactions/<owner>/<import_id>/file.csv|file.json` is an uploaded trade-history file,
`.../exchange.json` an exchange import (its credentials in Secrets Manager, named by id); see
shared.transactions.jobs. Each S3 record runs once (Powertools idempotency on bucket, key and
sequencer, table IDEMPOTENCY_TABLE); a completed job never runs again either. Progress goes to the
owner as `transaction:import_update` through THE publisher.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from adapters.binance_account import BinanceAccountClient
from adapters.candle_store import S3ImportInbox
from adapters.models.transactions import TransactionItem, TransactionJobItem
from adapters.publisher import publisher_from_env
from adapters.repositories.binding import bind
from adapters.repositories.transactions import DynamoImportJobRepository, DynamoTransactionRepository
from adapters.s3_events import OncePerRecord
from adapters.secrets import SecretsManagerVault
from adapters.settings import ExchangeSettings, IdempotencySettings, TransactionImportSettings
from shared.transactions.imports import ImportRunner

logger = Logger()


def runner_from_env(environ: Mapping[str, str] | None = None) -> ImportRunner:
    """The import runner of the deployed function (`TransactionImportSettings`; every client at
    AWS_ENDPOINT_URL when set)."""
    settings = TransactionImportSettings.from_env(environ)
    return ImportRunner(
        jobs=DynamoImportJobRepository(bind(TransactionJobItem, settings.transaction_jobs_table)),
        transactions=DynamoTransactionRepository(bind(TransactionItem, settings.transactions_table)),
        inbox=S3ImportInbox(boto3.client("s3"), settings.imports_bucket),
        vault=SecretsManagerVault(boto3.client("secretsmanager"), settings.exchange_secrets_prefix),
        exchanges={
            "binance": BinanceAccountClient(base_url=ExchangeSettings.from_env(environ).binance_account_base_url)
        },
        publisher=publisher_from_env(),
    )


@functools.cache
def _runner() -> ImportRunner:
    return runner_from_env()


@functools.cache
def _once_per_record() -> OncePerRecord:
    return OncePerRecord(_import_record, IdempotencySettings.from_env().idempotency_table, boto3.client("dynamodb"))


def _import_record(record: dict[str, Any], runner: ImportRunner) -> dict[str, Any] | None:
    job = runner.run(record["s3"]["object"]["key"])
    if job is None:
        logger.warning("not a transaction import", extra={"key": record["s3"]["object"]["key"]})
        return None
    logger.info(
        "transaction import finished",
        extra={
            "import_id": job.import_id,
            "status": job.status,
            "imported": job.imported,
            "duplicates": job.duplicates,
            "error_count": job.error_count,
        },
    )
    return {"import_id": job.import_id, "status": job.status}


def handle_event(event: dict[str, Any], context: LambdaContext, runner: ImportRunner) -> list[dict[str, Any] | None]:
    """Run the import of every S3 record of `event` through `runner`, each at most once."""
    return _once_per_record()(event, context, runner=runner)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> list[dict[str, Any] | None]:
    return handle_event(event, context, _runner())
