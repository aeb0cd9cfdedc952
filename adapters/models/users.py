"""User accounts, keyed by their (lower-cased) email so registering one twice is a conditional
put that fails, with no index to keep unique."""

from __future__ import annotations

import os

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


class UserItem(Model):
    class Meta:
        table_name = os.environ.get("USERS_TABLE", "users")
        billing_mode = "PAY_PER_REQUEST"

    email = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute()
    name = UnicodeAttribute()
    password_hash = UnicodeAttribute()  # shared.accounts.auth's scrypt string, never the password
    created_at = UTCDateTimeAttribute()
