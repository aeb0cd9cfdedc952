"""Signed-in sessions, keyed by the SHA-256 of their bearer token (the token itself is never
stored). Items expire with DynamoDB TTL; readers also check `expires_at`, because TTL deletes
lazily (up to days late)."""

from __future__ import annotations

import os

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


class SessionItem(Model):
    class Meta:
        table_name = os.environ.get("SESSIONS_TABLE", "sessions")
        billing_mode = "PAY_PER_REQUEST"

    token_digest = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    user_created_at = UTCDateTimeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()
