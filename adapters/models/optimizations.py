"""Optimizations, keyed by id; `owner-index` lists a user's (projecting everything: an item is a
few KB, and a listing shows most of it). Free-form documents (strategy snapshot, metadata, the
parameter grid, the best result) are JSON strings, which keep ints and floats apart."""

from __future__ import annotations

import os

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class OwnerIndex(GlobalSecondaryIndex["OptimizationItem"]):
    class Meta:
        index_name = "owner-index"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)


class OptimizationItem(Model):
    class Meta:
        table_name = os.environ.get("OPTIMIZATIONS_TABLE", "optimizations")
        billing_mode = "PAY_PER_REQUEST"

    id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    strategy_id = UnicodeAttribute()
    strategy_name = UnicodeAttribute()
    strategy = JSONAttribute()
    symbol = UnicodeAttribute()
    timeframe = UnicodeAttribute()
    start_time = UTCDateTimeAttribute()
    end_time = UTCDateTimeAttribute()
    initial_balance = NumberAttribute()
    metadata = JSONAttribute()
    parameters = JSONAttribute()
    objective = UnicodeAttribute()
    max_combinations = NumberAttribute()
    combination_count = NumberAttribute()
    # Items written before random/Bayesian search were grids ranked in the objective's direction.
    method = UnicodeAttribute(default="grid")
    direction = UnicodeAttribute(default="max")
    constraints = JSONAttribute(default=list)
    min_trades = NumberAttribute(default=0)
    n_trials = NumberAttribute(null=True)
    batch_size = NumberAttribute(null=True)
    seed = NumberAttribute(null=True)
    walk_forward = JSONAttribute(null=True)
    status = UnicodeAttribute()
    progress = NumberAttribute(default=0)
    best = JSONAttribute(null=True)
    error = UnicodeAttribute(null=True)
    execution_arn = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    started_at = UTCDateTimeAttribute(null=True)
    completed_at = UTCDateTimeAttribute(null=True)

    owner_index = OwnerIndex()
