"""What the account use-cases need from storage (DynamoDB implementations in `adapters.repositories`)."""

from __future__ import annotations

from typing import Protocol

from shared.accounts.model import Account, Session


class UserRepository(Protocol):
    def add(self, account: Account) -> None:
        """Store a new account; `Conflict` when its email is already registered."""

    def find_by_email(self, email: str) -> Account | None: ...


class SessionRepository(Protocol):
    def add(self, session: Session) -> None: ...

    def find(self, token_digest: str) -> Session | None:
        """The session, even if expired (the caller checks `expires_at`)."""

    def delete(self, token_digest: str) -> None: ...


class RateLimitCounter(Protocol):
    def hit(self, key: str, limit: int, expires_at: int) -> int | None:
        """Count one request against `key` unless it already reached `limit`: the new count, or
        None when the request is refused. Atomic across processes."""
