"""Accounts in the users table."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, PutError

from adapters.models.users import UserItem
from adapters.repositories.binding import condition_failed
from shared.accounts.model import Account, User
from shared.errors import Conflict


class DynamoUserRepository:
    def __init__(self, model: type[UserItem] = UserItem) -> None:
        self._model = model

    def add(self, account: Account) -> None:
        user = account.user
        item = self._model(
            user.email, id=user.id, name=user.name, password_hash=account.password_hash, created_at=user.created_at
        )
        try:
            item.save(condition=self._model.email.does_not_exist())
        except PutError as error:
            if condition_failed(error):
                raise Conflict("email already registered") from None
            raise

    def find_by_email(self, email: str) -> Account | None:
        try:
            item = self._model.get(email, consistent_read=True)
        except DoesNotExist:
            return None
        return Account(User(item.id, item.email, item.name, item.created_at), item.password_hash)
