"""Backtests, keyed by id.

`owner-index` lists a user's backtests with what a listing shows, filters and sorts on (in
memory, as for strategies); `trade-key-index` resolves a trade id to its backtest (see
shared.backtests.trade_ids). Free-form documents (the strategy snapshot, metadata, performance
summary) are JSON strings, which keep ints and floats apart exactly as the engine produced them.
"""

from __future__ import annotations

import os

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

LISTED_ATTRIBUTES = [
    "strategy_id",
    "strategy_name",
    "symbol",
    "timeframe",
    "start_time",
    "end_time",
    "initial_balance",
    "final_balance",
    "status",
    "progress",
    "created_at",
    "updated_at",
]


class OwnerIndex(GlobalSecondaryIndex["BacktestItem"]):
    class Meta:
        index_name = "owner-index"
        projection = IncludeProjection(LISTED_ATTRIBUTES)

    owner_id = UnicodeAttribute(hash_key=True)


class TradeKeyIndex(GlobalSecondaryIndex["BacktestItem"]):
    class Meta:
        index_name = "trade-key-index"
        projection = KeysOnlyProjection()

    trade_key = UnicodeAttribute(hash_key=True)


class BacktestItem(Model):
    class Meta:
        table_name = os.environ.get("BACKTESTS_TABLE", "backtests")
        billing_mode = "PAY_PER_REQUEST"

    id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    trade_key = UnicodeAttribute()
    strategy_id = UnicodeAttribute()
    strategy_name = UnicodeAttribute()
    strategy = JSONAttribute()
    symbol = UnicodeAttribute()
    timeframe = UnicodeAttribute()
    start_time = UTCDateTimeAttribute()
    end_time = UTCDateTimeAttribute()
    initial_balance = NumberAttribute()
    final_balance = NumberAttribute(null=True)
    metadata = JSONAttribute()
    status = UnicodeAttribute()
    progress = NumberAttribute(default=0)
    performance_summary = JSONAttribute(null=True)
    error = UnicodeAttribute(null=True)
    execution_arn = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    started_at = UTCDateTimeAttribute(null=True)
    completed_at = UTCDateTimeAttribute(null=True)

    owner_index = OwnerIndex()
    trade_key_index = TradeKeyIndex()
