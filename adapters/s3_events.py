"""S3 event notifications processed at most once per object version.

S3 delivers an event at least once; every function the imports bucket triggers wraps its
per-record work in `OncePerRecord`, which keys Powertools idempotency on the bucket, the key and
the event's sequencer (a new upload of the same key is new work, a redelivery is not).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

S3_RECORD_KEY = "[s3.bucket.name, s3.object.key, s3.object.sequencer]"


class OncePerRecord:
    """Runs `process(record=..., **dependencies)` for each record of an S3 event, each once; the
    idempotency records live in `table_name`, reached through the given DynamoDB client."""

    def __init__(self, process: Callable[..., Any], table_name: str, dynamodb_client: Any) -> None:
        self._config = IdempotencyConfig(event_key_jmespath=S3_RECORD_KEY, raise_on_no_idempotency_key=True)
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)
        self._process = idempotent_function(
            data_keyword_argument="record", persistence_store=persistence, config=self._config
        )(process)

    def __call__(self, event: dict[str, Any], context: LambdaContext, **dependencies: Any) -> list[Any]:
        self._config.register_lambda_context(context)
        return [self._process(record=record, **dependencies) for record in event.get("Records", [])]
