"""PynamoDB models bound to a table name and endpoint chosen at run time.

A PynamoDB model reads its table name when its module is imported and caches one connection per
class. Binding makes a subclass with its own Meta and connection instead, so one process can talk
to the tables its environment names *now* (a Lambda's composition root) or to a test's own
DynamoDB, whatever imported the model first.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, TypeVar

from pynamodb.exceptions import PynamoDBConnectionError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from shared.errors import Conflict, NotFound

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


def update_in_status(
    model: type[M],
    key: str,
    from_statuses: Collection[str] | None,
    actions: list[Action],
    current: Callable[[], Any],
    noun: str,
) -> M:
    """Apply `actions` to item `key` if it exists (and its `status` is one of `from_statuses`,
    when given): one conditional write, so concurrent transitions cannot both win.
    NotFound when the item is gone, Conflict naming the status it is in otherwise."""
    condition = model.id.exists()
    if from_statuses is not None:
        condition &= model.status.is_in(*sorted(from_statuses))
    item = model(key)
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as error:
        if not condition_failed(error):
            raise
        found = current()
        if found is None:
            raise NotFound(f"{noun} not found") from None
        raise Conflict(f"{noun} {key} is {found.status}") from None
    return item
