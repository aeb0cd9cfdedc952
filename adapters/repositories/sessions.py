"""Sessions in the sessions table, read consistently so a revoked token is refused at once."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from adapters.models.sessions import SessionItem
from shared.accounts.model import Session, User


class DynamoSessionRepository:
    def __init__(self, model: type[SessionItem] = SessionItem) -> None:
        self._model = model

    def add(self, session: Session) -> None:
        user = session.user
        self._model(
            session.token_digest,
            user_id=user.id,
            email=user.email,
            name=user.name,
            user_created_at=user.created_at,
            created_at=session.created_at,
            expires_at=session.expires_at,
        ).save()

    def find(self, token_digest: str) -> Session | None:
        try:
            item = self._model.get(token_digest, consistent_read=True)
        except DoesNotExist:
            return None
        user = User(item.user_id, item.email, item.name, item.user_created_at)
        return Session(item.token_digest, user, item.created_at, item.expires_at)

    def delete(self, token_digest: str) -> None:
        self._model(token_digest).delete()
