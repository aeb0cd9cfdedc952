"""Rate-limit counters: one item per (category, subject, one-minute window), incremented with a
conditional update and expiring with DynamoDB TTL shortly after its window."""

from __future__ import annotations

import os

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model


class RateLimitItem(Model):
    class Meta:
        table_name = os.environ.get("RATE_LIMITS_TABLE", "rate-limits")
        billing_mode = "PAY_PER_REQUEST"

    key = UnicodeAttribute(hash_key=True)  # "<category>#<user id or IP>#<window start, epoch s>"
    hits = NumberAttribute()
    expires_at = TTLAttribute()
