"""The account records: a user, their password hash, a signed-in session (times in UTC, to the ms)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Account:
    """A user with the scrypt hash of their password (never leaves the accounts service)."""

    user: User
    password_hash: str


@dataclass(frozen=True)
class Session:
    """A signed-in token, known only by its digest."""

    token_digest: str
    user: User
    created_at: datetime
    expires_at: datetime
