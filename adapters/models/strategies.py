"""Strategies, keyed by id.

`owner-index` lists a user's strategies and `public-index` (sparse: only public strategies carry
`public_listing`) lists every public one. Both project what a listing shows, filters and sorts on,
so a listing is one query that never reads the rules; it is sorted in memory (its total count
needs every match anyway), so the indexes need no sort key.
"""

from __future__ import annotations

import os

from pynamodb.attributes import BooleanAttribute, JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

PUBLIC_LISTING = "public"
LISTED_ATTRIBUTES = [
    "owner_id",
    "name",
    "description",
    "strategy_type",
    "is_active",
    "is_public",
    "created_at",
    "updated_at",
]


class OwnerIndex(GlobalSecondaryIndex["StrategyItem"]):
    class Meta:
        index_name = "owner-index"
        projection = IncludeProjection([a for a in LISTED_ATTRIBUTES if a != "owner_id"])

    owner_id = UnicodeAttribute(hash_key=True)


class PublicIndex(GlobalSecondaryIndex["StrategyItem"]):
    class Meta:
        index_name = "public-index"
        projection = IncludeProjection(LISTED_ATTRIBUTES)

    public_listing = UnicodeAttribute(hash_key=True)


class StrategyItem(Model):
    class Meta:
        table_name = os.environ.get("STRATEGIES_TABLE", "strategies")
        billing_mode = "PAY_PER_REQUEST"

    id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    strategy_type = UnicodeAttribute(null=True)
    entry_rules = JSONAttribute()
    exit_rules = JSONAttribute()
    config = JSONAttribute()
    short_entry_rules = JSONAttribute(null=True)  # config.direction both
    short_exit_rules = JSONAttribute(null=True)
    is_active = BooleanAttribute()
    is_public = BooleanAttribute()
    public_listing = UnicodeAttribute(null=True)  # PUBLIC_LISTING when is_public, else absent
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    owner_index = OwnerIndex()
    public_index = PublicIndex()
