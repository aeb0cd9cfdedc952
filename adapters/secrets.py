"""Exchange credentials in AWS Secrets Manager: the only place they are ever stored.

Each exchange import gets its own secret, named `<prefix>/<owner_id>/<import_id>` (the prefix,
EXCHANGE_SECRETS_PREFIX, scopes the functions' IAM permissions) and referenced by its ARN. The
API creates it, the import function reads it and deletes it once the import has finished, without
a recovery window. Credentials are never returned, logged, or written to DynamoDB or S3: the job
record and the imports-bucket request hold only the ARN. botocore dumps request and response
bodies at DEBUG level; those of Secrets Manager calls carry the secret, so they are filtered out
of botocore's loggers whatever level logging runs at.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from shared.transactions.jobs import ExchangeCredentials

# The botocore loggers whose DEBUG records include whole request / response bodies.
_BODY_LOGGERS = ("botocore.endpoint", "botocore.parsers")


class _WithoutSecretBodies(logging.Filter):
    """Drops log records that would print a Secrets Manager body (every one names SecretString)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SecretString" not in record.getMessage()


_FILTER = _WithoutSecretBodies()
for _name in _BODY_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


class SecretsManagerVault:
    """The CredentialVault port on Secrets Manager; `client` is a boto3 secretsmanager client."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix.rstrip("/")

    def store(self, owner_id: str, import_id: str, credentials: ExchangeCredentials) -> str:
        response = self._client.create_secret(
            Name=f"{self._prefix}/{owner_id}/{import_id}",
            Description="Exchange API credentials of one transaction import; deleted when it finishes.",
            SecretString=json.dumps({"api_key": credentials.api_key, "api_secret": credentials.api_secret}),
            Tags=[{"Key": "owner_id", "Value": owner_id}, {"Key": "import_id", "Value": import_id}],
        )
        return response["ARN"]

    def load(self, credentials_id: str) -> ExchangeCredentials:
        document = json.loads(self._client.get_secret_value(SecretId=credentials_id)["SecretString"])
        return ExchangeCredentials(api_key=document["api_key"], api_secret=document["api_secret"])

    def delete(self, credentials_id: str) -> None:
        try:
            self._client.delete_secret(SecretId=credentials_id, ForceDeleteWithoutRecovery=True)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
