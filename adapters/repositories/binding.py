"""PynamoDB models bound to a table name and endpoint chosen at run time.

A PynamoDB model reads its table name when its module is imported and caches one connection per
class. Binding makes a subclass with its own Meta and connection instead, so one process can talk
to the tables its environment names *now* (a Lambda's composition root) or to a test's own
DynamoDB, whatever imported the model first.
"""

from __future__ import annotations

from typing import TypeVar

from pynamodb.exceptions import PynamoDBConnectionError
from pynamodb.models import Model

M = TypeVar("M", bound=Model)


def bind(model: type[M], table_name: str, host: str | None = None) -> type[M]:
    """A subclass of `model` on `table_name` at `host` (None: the SDK's default endpoint resolution,
    which honours AWS_ENDPOINT_URL). Query its indexes with `index_name=`, not through the
    index attributes, which stay tied to the unbound class."""
    meta = type("Meta", (model.Meta,), {"table_name": table_name, "host": host})
    return type(model.__name__, (model,), {"Meta": meta, "_connection": None, "__module__": __name__})


def condition_failed(error: PynamoDBConnectionError) -> bool:
    """Whether a put/update/delete was refused by its condition (as opposed to failing)."""
    return error.cause_response_code == "ConditionalCheckFailedException"
