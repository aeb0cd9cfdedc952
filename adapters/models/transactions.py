"""Transactions and their jobs (imports, replays).

Transactions table (env TRANSACTIONS_TABLE): hash `owner_id`, range `id` — the id is derived from
(owner, exchange, symbol, transaction_id) (shared.transactions.model), so a conditional put on the
key is the duplicate check, and a transaction is read by its owner and id in one GetItem (someone
else's id simply is not found). `time-index` (hash `owner_id`, range `transaction_time`, with
`symbol` and `side`) serves listings: a time range is a key condition, symbol and side filters,
and a page reads only its own items.

Jobs table (env TRANSACTION_JOBS_TABLE): hash `owner_id`, range `job_id`; `kind` import | replay,
the record itself as a JSON document. Import records expire (TTL `expires_at`) after
IMPORT_RECORD_DAYS; replay records live as long as their backtest.
"""

from __future__ import annotations

import os

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

IMPORT_RECORD_DAYS = 90
IMPORT_KIND, REPLAY_KIND = "import", "replay"


class TimeIndex(GlobalSecondaryIndex["TransactionItem"]):
    class Meta:
        index_name = "time-index"
        projection = IncludeProjection(["symbol", "side"])

    owner_id = UnicodeAttribute(hash_key=True)
    transaction_time = UTCDateTimeAttribute(range_key=True)


class TransactionItem(Model):
    class Meta:
        table_name = os.environ.get("TRANSACTIONS_TABLE", "transactions")
        billing_mode = "PAY_PER_REQUEST"

    owner_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    exchange = UnicodeAttribute()
    transaction_id = UnicodeAttribute()
    symbol = UnicodeAttribute()
    side = UnicodeAttribute()
    price = NumberAttribute()
    quantity = NumberAttribute()
    fee = NumberAttribute()
    fee_asset = UnicodeAttribute(null=True)
    transaction_time = UTCDateTimeAttribute()
    transaction_type = UnicodeAttribute()
    import_id = UnicodeAttribute()
    is_replayed = BooleanAttribute(default=False)
    created_at = UTCDateTimeAttribute()

    time_index = TimeIndex()


class TransactionJobItem(Model):
    class Meta:
        table_name = os.environ.get("TRANSACTION_JOBS_TABLE", "transaction-jobs")
        billing_mode = "PAY_PER_REQUEST"

    owner_id = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    document = JSONAttribute()
    expires_at = TTLAttribute(null=True)
