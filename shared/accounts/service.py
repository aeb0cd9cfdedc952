"""Sign-up, sign-in, sign-out and token authentication."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.accounts.auth import PasswordHasher, Unauthenticated, new_token, token_digest
from shared.accounts.model import Account, Session, User
from shared.accounts.ports import SessionRepository, UserRepository
from shared.errors import Conflict, FieldError, ValidationFailed
from shared.ids import new_id
from shared.times import utc_now

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100
# The sign-up schema's patterns; ASCII whitespace only, so every address the JSON Schema pattern
# (ECMA-262, Unicode \s) admits passes here too.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"
NAME_PATTERN = r"[^\s\x1c-\x1f]"  # something left once str.strip() removed the whitespace around it
_EMAIL = re.compile(EMAIL_PATTERN, re.ASCII)
INVALID_CREDENTIALS = "invalid email or password"
INVALID_TOKEN = "invalid, expired or revoked token"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def register(
    users: UserRepository,
    email: str,
    password: str,
    name: str,
    hasher: PasswordHasher = PasswordHasher(),
    clock: Callable[[], datetime] = utc_now,
) -> User:
    """A new account (the API's sign-up and `backtest users create`); ValidationFailed names each bad field."""
    email, name = normalise_email(email), name.strip()
    errors = []
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        errors.append(FieldError("email", "is not a valid email address"))
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.append(FieldError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters"))
    elif len(password) > MAX_PASSWORD_LENGTH:
        errors.append(FieldError("password", f"must be at most {MAX_PASSWORD_LENGTH} characters"))
    if not name or len(name) > MAX_NAME_LENGTH:
        errors.append(FieldError("name", f"must be 1 to {MAX_NAME_LENGTH} characters"))
    if errors:
        raise ValidationFailed("invalid user", errors)
    user = User(id=new_id(), email=email, name=name, created_at=clock())
    try:
        users.add(Account(user, hasher.hash(password)))
    except Conflict:
        raise Conflict("email already registered", [FieldError("email", "is already registered")]) from None
    return user


@dataclass
class Accounts:
    users: UserRepository
    sessions: SessionRepository
    session_ttl: timedelta
    hasher: PasswordHasher = PasswordHasher()
    clock: Callable[[], datetime] = utc_now

    def register(self, email: str, password: str, name: str) -> User:
        return register(self.users, email, password, name, self.hasher, self.clock)

    def sign_in(self, email: str, password: str) -> tuple[str, Session]:
        """A new token and its session. Unknown email and wrong password fail alike, in alike time."""
        email = normalise_email(email)
        account = self.users.find_by_email(email) if email else None  # DynamoDB keys cannot be empty
        if account is None:
            self.hasher.burn(password)
            raise Unauthenticated(INVALID_CREDENTIALS)
        if not self.hasher.verify(password, account.password_hash):
            raise Unauthenticated(INVALID_CREDENTIALS)
        token, now = new_token(), self.clock()
        expires_at = (now + self.session_ttl).replace(microsecond=0)  # DynamoDB TTL keeps whole seconds
        session = Session(token_digest(token), account.user, created_at=now, expires_at=expires_at)
        self.sessions.add(session)
        return token, session

    def authenticate(self, token: str) -> User:
        session = self.sessions.find(token_digest(token))
        if session is None or session.expires_at <= self.clock():
            raise Unauthenticated(INVALID_TOKEN)
        return session.user

    def sign_out(self, token: str) -> None:
        self.authenticate(token)
        self.sessions.delete(token_digest(token))
