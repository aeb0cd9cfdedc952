"""Candle import status records: one item per import job, listed per owner through `owner-index`.

Table (env IMPORTS_TABLE): hash key `import_id`; GSI `owner-index` (hash `owner_id`, range
`created_at`, all attributes) — sparse, files dropped straight into S3 have no owner; TTL
`expires_at`, RECORD_DAYS after creation.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from pynamodb.attributes import JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from shared.errors import FieldError
from shared.market_data.imports import ImportStatus

RECORD_DAYS = 90


class OwnerIndex(GlobalSecondaryIndex["CandleImportItem"]):
    class Meta:
        index_name = "owner-index"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class CandleImportItem(Model):
    class Meta:
        table_name = os.environ.get("IMPORTS_TABLE", "candle-imports")
        billing_mode = "PAY_PER_REQUEST"

    import_id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute(null=True)
    symbol = UnicodeAttribute()
    timeframe = UnicodeAttribute()
    source = UnicodeAttribute()
    status = UnicodeAttribute()
    object_key = UnicodeAttribute(null=True)
    format = UnicodeAttribute(null=True)
    rows_in_file = NumberAttribute(default=0)
    rows_imported = NumberAttribute(default=0)
    rows_unchanged = NumberAttribute(default=0)
    duplicates_dropped = NumberAttribute(default=0)
    rows_without_trades = NumberAttribute(default=0)
    funding_rates_imported = NumberAttribute(default=0)
    gaps = JSONAttribute()
    errors = JSONAttribute()  # [{field, message}], the first 100
    error_count = NumberAttribute(default=0)
    first_timestamp = UnicodeAttribute(null=True)
    last_timestamp = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()  # ISO-8601 UTC to the second: sorts in time order
    updated_at = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)

    by_owner = OwnerIndex()

    @classmethod
    def from_status(cls, status: ImportStatus) -> CandleImportItem:
        fields = vars(status) | {"errors": [error.to_dict() for error in status.errors]}
        return cls(expires_at=datetime.fromisoformat(status.created_at) + timedelta(days=RECORD_DAYS), **fields)

    def to_status(self) -> ImportStatus:
        return ImportStatus(
            **{name: getattr(self, name) for name in ImportStatus.__dataclass_fields__ if name != "errors"},
            errors=tuple(FieldError(**error) for error in self.errors),
        )


class DynamoImportRecords:
    """The ImportRecords port on DynamoDB: on the table IMPORTS_TABLE named at import, or on
    `model`, CandleImportItem bound to a table and endpoint (adapters.repositories.binding.bind)."""

    def __init__(self, model: type[CandleImportItem] = CandleImportItem) -> None:
        self.model = model

    def create(self, status: ImportStatus) -> bool:
        try:
            self.model.from_status(status).save(condition=self.model.import_id.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, import_id: str) -> ImportStatus | None:
        try:
            return self.model.get(import_id).to_status()
        except DoesNotExist:
            return None

    def save(self, status: ImportStatus) -> None:
        self.model.from_status(status).save()

    def list_by_owner(self, owner_id: str, limit: int) -> list[ImportStatus]:
        items = self.model.query(owner_id, index_name=OwnerIndex.Meta.index_name, scan_index_forward=False, limit=limit)
        return [item.to_status() for item in items]
