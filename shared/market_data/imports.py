"""Import jobs: their status record, the imports-bucket keys that start them, and the ports they use.

Every import, however it starts, is a file (or a Binance fetch request) in the imports bucket:

    imports/candles/SYMBOL/TIMEFRAME/<name>                   a candle file (S3 drop)
    imports/candles/SYMBOL/TIMEFRAME/<import_id>-<filename>   an API or presigned upload
    imports/candle-fetches/SYMBOL/TIMEFRAME/<import_id>.json  an exchange fetch request
                                                              {ranges: [[start_ms, end_ms], ...], exchange, market}

Its S3 event runs the import function, which finds (or creates) the status record and runs the
one pipeline.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import unquote_plus

from shared.errors import FieldError
from shared.market_data.pipeline import ImportReport
from shared.statuses import COMPLETED, FAILED, PENDING, RUNNING
from shared.times import iso_utc

CANDLE_FILES_PREFIX = "imports/candles/"
FETCH_REQUESTS_PREFIX = "imports/candle-fetches/"

_IMPORT_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_NAMED_BY_IMPORT = re.compile(rf"^({_IMPORT_ID})(?:-|\.json$)")


@dataclass(frozen=True)
class InboxObject:
    """What an imports-bucket key asks for."""

    key: str
    is_fetch_request: bool
    symbol: str
    timeframe: str
    name: str
    import_id: str | None  # when an API call created the job (and its status record) first


def parse_inbox_key(key: str) -> InboxObject | None:
    """The job an imports-bucket key (URL-encoded, as in S3 events) names, or None for keys the
    market-data import does not handle."""
    key = unquote_plus(key)
    for prefix, is_fetch in ((CANDLE_FILES_PREFIX, False), (FETCH_REQUESTS_PREFIX, True)):
        if key.startswith(prefix):
            parts = key[len(prefix) :].split("/")
            if len(parts) != 3 or not all(parts):
                return None
            symbol, timeframe, name = parts
            match = _NAMED_BY_IMPORT.match(name)
            return InboxObject(key, is_fetch, symbol, timeframe, name, match[1] if match else None)
    return None


def candle_file_key(symbol: str, timeframe: str, import_id: str, filename: str) -> str:
    return f"{CANDLE_FILES_PREFIX}{symbol}/{timeframe}/{import_id}-{filename}"


def fetch_request_key(symbol: str, timeframe: str, import_id: str) -> str:
    return f"{FETCH_REQUESTS_PREFIX}{symbol}/{timeframe}/{import_id}.json"


def drop_import_id(key: str, sequencer: str) -> str:
    """The id of a file dropped straight into the bucket: the same for every delivery of one S3
    event (same key and sequencer), different for each new upload of the key."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key}#{sequencer}"))


def new_import_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class ImportStatus:
    """The status record of one import job (stored by an ImportRecords implementation)."""

    import_id: str
    symbol: str
    timeframe: str
    source: str
    status: str
    created_at: str
    updated_at: str
    owner_id: str | None = None
    object_key: str | None = None
    format: str | None = None
    rows_in_file: int = 0
    rows_imported: int = 0
    rows_unchanged: int = 0
    duplicates_dropped: int = 0
    rows_without_trades: int = 0
    funding_rates_imported: int = 0
    gaps: dict[str, Any] = field(default_factory=lambda: {"missing_candles": 0, "gap_count": 0, "gaps": []})
    errors: tuple[FieldError, ...] = ()
    error_count: int = 0
    first_timestamp: str | None = None
    last_timestamp: str | None = None

    @classmethod
    def pending(
        cls,
        import_id: str,
        symbol: str,
        timeframe: str,
        source: str,
        now_ms: int,
        owner_id: str | None = None,
        object_key: str | None = None,
    ) -> ImportStatus:
        now = _stamp(now_ms)
        return cls(import_id, symbol, timeframe, source, PENDING, now, now, owner_id, object_key)

    def running(self, now_ms: int) -> ImportStatus:
        return replace(self, status=RUNNING, updated_at=_stamp(now_ms), errors=(), error_count=0)

    def completed(self, report: ImportReport, now_ms: int) -> ImportStatus:
        """Done: the report's counts, gaps and time span (what `ImportReport.to_dict` shows)."""
        shown = {name: value for name, value in report.to_dict().items() if name not in ("symbol", "timeframe")}
        return replace(self, status=COMPLETED, updated_at=_stamp(now_ms), **shown)

    def failed(self, errors: list[FieldError], error_count: int, now_ms: int) -> ImportStatus:
        return replace(
            self,
            status=FAILED,
            updated_at=_stamp(now_ms),
            errors=tuple(errors),
            error_count=error_count,
            rows_imported=0,
            rows_unchanged=0,
        )

    def to_dict(self) -> dict[str, Any]:
        """The API's and events' shape of the record: its fields but the owner and the object key."""
        shown = {
            item.name: getattr(self, item.name) for item in fields(self) if item.name not in ("owner_id", "object_key")
        }
        return shown | {"errors": [error.to_dict() for error in self.errors]}


def _stamp(now_ms: int) -> str:
    """Record times to the second, so their text sorts in time order (`2024-03-01T12:00:05Z`)."""
    return iso_utc(now_ms // 1000 * 1000)
