"""Passwords and sign-in tokens: how they are made, stored and checked.

Passwords are stored only as scrypt hashes in a self-describing string
`scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>` so the cost can be raised later without breaking
stored hashes. The default cost is OWASP's scrypt recommendation N=2**14, r=8, p=5 (16 MiB of
memory per hash, equal in work to N=2**17, r=8, p=1 at an eighth of the memory), a 16-byte
random salt and a 32-byte key; about 0.2 s on one core.

Sign-in tokens are 32 random bytes (256 bits) in URL-safe base64. Only their SHA-256 digest is
stored: a token has full entropy, so a plain digest cannot be brute-forced and a leaked sessions
table gives nobody a usable token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import cached_property

from shared.errors import DomainError

TOKEN_BYTES = 32
SALT_BYTES = 16
KEY_BYTES = 32
_SCHEME = "scrypt"


class Unauthenticated(DomainError):
    """Missing, invalid, expired or revoked credentials (HTTP 401)."""

    code = "unauthorized"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class PasswordHasher:
    """scrypt with fixed cost parameters; `verify` also accepts hashes made with other costs."""

    n: int = 2**14
    r: int = 8
    p: int = 5

    def hash(self, password: str) -> str:
        salt = secrets.token_bytes(SALT_BYTES)
        key = self._derive(password, salt, self.n, self.r, self.p)
        return f"{_SCHEME}${self.n}${self.r}${self.p}${_b64(salt)}${_b64(key)}"

    def verify(self, password: str, stored: str) -> bool:
        """True when `password` produced `stored`; the comparison takes constant time."""
        try:
            scheme, n, r, p, salt, key = stored.split("$")
            expected = base64.b64decode(key, validate=True)
            parameters = int(n), int(r), int(p)
            salt_bytes = base64.b64decode(salt, validate=True)
        except ValueError:
            return False
        if scheme != _SCHEME:
            return False
        return hmac.compare_digest(self._derive(password, salt_bytes, *parameters), expected)

    @cached_property
    def _dummy_hash(self) -> str:
        return self.hash(secrets.token_urlsafe(16))

    def burn(self, password: str) -> None:
        """Spend the time a real `verify` takes, for a sign-in whose email is unknown, so that
        response timing does not reveal which emails have accounts."""
        self.verify(password, self._dummy_hash)

    @staticmethod
    def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        # maxmem: scrypt needs 128 * n * r bytes (+ slack); OpenSSL's default cap is 32 MiB.
        return hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=KEY_BYTES
        )


def new_token() -> str:
    """A fresh bearer token: 256 random bits, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """What the sessions table stores and is keyed by: the token's SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
