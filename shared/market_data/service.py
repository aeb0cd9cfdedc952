"""What the market-data API and the import function call: one object wired with its ports.

Build it with `adapters.candle_store.market_data_service_from_env(publisher)`; in tests, with
adapters pointed at moto and a recording publisher.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.candles import Candles
from shared.errors import DomainError, FieldError, NotFound, ValidationFailed
from shared.events import EventPublisher, user_channel
from shared.market_data.contract import (
    DEFAULT_CANDLE_LIMIT,
    EXCHANGE_BINANCE,
    EXCHANGES,
    FILE_EXTENSIONS,
    FUNDING_SERIES,
    MARKET_LINEAR,
    MARKET_SPOT,
    MARKETS,
    MAX_CANDLE_LIMIT,
    MAX_IMPORT_BYTES,
    SOURCE_API,
    SOURCE_BINANCE,
    SOURCE_S3,
    SOURCE_UPLOAD,
    UPLOAD_URL_EXPIRES_S,
)
from shared.market_data.funding import FundingRates
from shared.market_data.funding_files import parse_funding_file
from shared.market_data.gaps import NO_GAPS, Gap
from shared.market_data.imports import (
    ImportStatus,
    InboxObject,
    candle_file_key,
    drop_import_id,
    fetch_request_key,
    new_import_id,
    parse_inbox_key,
)
from shared.market_data.instruments import symbol_rules_dict
from shared.market_data.parsing import OrdinalLocator, concat_raw
from shared.market_data.pipeline import SYMBOL_PATTERN, CandleImporter, ImportReport, check_series
from shared.market_data.ports import (
    CandleStore,
    ExchangeSource,
    FundingStore,
    ImportInbox,
    ImportRecords,
    SymbolRulesStore,
)
from shared.market_data.quality import DEFAULT_SPIKE_K, assess_quality, missing_ranges
from shared.market_data.query import choose_source, derivable_timeframes, read_series, require_timeframe, stored_series
from shared.market_data.resample import bucket_start
from shared.market_data.validation import ImportRejected
from shared.statuses import COMPLETED
from shared.timeframes import TIMEFRAMES, timeframe_ms
from shared.times import epoch_ms, iso_utc

# About two years of 1m klines: ~1,100 Binance requests, well inside the import function's timeout.
MAX_FETCH_CANDLES = 1_100_000
# A repair request lists every missing range: up to a few hundred thousand of them in theory.
MAX_FETCH_REQUEST_BYTES = 64 * 1024 * 1024
IMPORT_UPDATE_EVENT = "market_data:import_update"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")

Moment = datetime | int  # a datetime (naive = UTC) or epoch milliseconds


@dataclass(frozen=True)
class UploadTicket:
    """Where and until when the client may PUT its file; the import starts when it lands."""

    status: ImportStatus
    upload_url: str
    expires_in: int
    method: str = "PUT"

    def to_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.status.import_id,
            "status": self.status.status,
            "upload_url": self.upload_url,
            "method": self.method,
            "expires_in": self.expires_in,
        }


class MarketDataService:
    def __init__(
        self,
        store: CandleStore,
        records: ImportRecords,
        inbox: ImportInbox,
        publisher: EventPublisher,
        exchanges: Mapping[str, ExchangeSource],
        funding: FundingStore,
        symbol_rules: SymbolRulesStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.records = records
        self.inbox = inbox
        self.publisher = publisher
        self.exchanges = exchanges
        self.funding = funding
        self.symbol_rules = symbol_rules
        self.clock = clock
        self.importer = CandleImporter(store, publisher, clock)

    # --- reading ----------------------------------------------------------------------------------

    def list_symbols(self) -> list[str]:
        """Symbols with at least one stored series."""
        return sorted({symbol for symbol, _ in self.store.list_series()})

    def list_timeframes(self, symbol: str | None = None) -> list[str]:
        """Every supported timeframe, or those a symbol's stored series can serve (NotFound if it has none)."""
        if symbol is None:
            return list(TIMEFRAMES)
        return derivable_timeframes(set(stored_series(self.store, symbol.upper())))

    def get_candles(
        self,
        symbol: str,
        timeframe: str,
        start: Moment | None = None,
        end: Moment | None = None,
        limit: int = DEFAULT_CANDLE_LIMIT,
    ) -> Candles:
        """At most `limit` candles with open time in [start, end): the first ones from `start` when
        it is given, else the latest ones before `end` (or the newest stored), like Binance's klines.

        NotFound: unknown symbol or timeframe. ValidationFailed: end not after start, limit out of
        1..MAX_CANDLE_LIMIT, or a timeframe finer than the stored data.
        """
        symbol = symbol.upper()
        require_timeframe(timeframe)
        start_ms = None if start is None else epoch_ms(start)
        end_ms = None if end is None else epoch_ms(end)
        errors = []
        if not 1 <= limit <= MAX_CANDLE_LIMIT:
            errors.append(FieldError("limit", f"must be between 1 and {MAX_CANDLE_LIMIT}"))
        if start_ms is not None and end_ms is not None and end_ms <= start_ms:
            errors.append(FieldError("end_time", "must be after start_time"))
        if errors:
            raise ValidationFailed("invalid candle query", errors)
        source = choose_source(stored_series(self.store, symbol), symbol, timeframe, start_ms, end_ms)
        # Windows never reach past the stored candles: no reads of empty months.
        stored_start = bucket_start(source.partitions[0].first_ts, timeframe)
        stored_end = source.partitions[-1].last_ts + timeframe_ms(source.timeframe)
        if start_ms is not None:
            start_ms = max(start_ms, stored_start)
        end_ms = stored_end if end_ms is None else min(end_ms, stored_end)
        step = timeframe_ms(timeframe)
        span = limit * step  # exactly enough when the series has no gaps; widened when it has
        while True:
            if start_ms is not None:
                window_end = min(end_ms, start_ms + span)
                candles = read_series(self.store, source, timeframe, start_ms, window_end)
                if len(candles) >= limit or window_end >= end_ms:
                    return candles.slice(0, limit)
            else:
                window_start = end_ms - span
                candles = read_series(self.store, source, timeframe, window_start, end_ms)
                if len(candles) >= limit or window_start <= stored_start:
                    return candles.slice(max(0, len(candles) - limit), len(candles))
            span *= 4

    def get_funding(self, symbol: str, start: Moment | None = None, end: Moment | None = None) -> FundingRates:
        """The symbol's stored funding rates with funding time in [start, end) (bounds optional).
        NotFound when no rate is stored for the symbol; ValidationFailed when end is not after start."""
        symbol = symbol.upper()
        start_ms = None if start is None else epoch_ms(start)
        end_ms = None if end is None else epoch_ms(end)
        if start_ms is not None and end_ms is not None and end_ms <= start_ms:
            raise ValidationFailed("invalid funding query", [FieldError("end_time", "must be after start_time")])
        if not self.funding.has_funding(symbol):
            raise NotFound(
                f"no funding rates stored for {symbol}",
                [FieldError("symbol", f"no funding rates stored for {symbol}; fetch or import them first")],
            )
        return self.funding.get_funding(symbol, start_ms, None if end_ms is None else end_ms - 1)

    def symbol_info(self, symbol: str, exchange: str = EXCHANGE_BINANCE, market: str = MARKET_SPOT) -> dict[str, Any]:
        """The symbol's trading rules on the exchange's market: the stored ones, else fetched from
        the exchange's instrument endpoint and stored. NotFound when the exchange does not list it."""
        symbol = symbol.upper()
        errors = [] if SYMBOL_PATTERN.match(symbol) else [FieldError("symbol", "expected 2-20 letters or digits")]
        errors += _exchange_errors(exchange, market)
        if errors:
            raise ValidationFailed("invalid symbol query", errors)
        rules = self.symbol_rules.get_rules(symbol, exchange, market)
        if rules is None:
            rules = self.exchanges[exchange].fetch_symbol_rules(symbol, market)
            self.symbol_rules.put_rules(symbol, exchange, rules, market)
        return symbol_rules_dict(symbol, exchange, market, rules)

    # --- starting imports (API) -------------------------------------------------------------------

    def submit_file(self, owner_id: str, symbol: str, timeframe: str, file_format: str, content: bytes) -> ImportStatus:
        """Queue an uploaded file (already base64-decoded): it is written to the imports bucket, whose
        S3 event runs the import. Returns the pending status."""
        symbol = symbol.upper()
        errors = _series_errors(symbol, timeframe)
        if file_format not in FILE_EXTENSIONS:
            errors.append(FieldError("file_format", f"expected one of {', '.join(FILE_EXTENSIONS)}"))
        if not content:
            errors.append(FieldError("file_content", "the file is empty"))
        elif len(content) > MAX_IMPORT_BYTES:
            errors.append(FieldError("file_content", f"larger than {MAX_IMPORT_BYTES} bytes"))
        if errors:
            raise ValidationFailed("invalid import", errors)
        import_id = new_import_id()
        key = candle_file_key(symbol, timeframe, import_id, f"upload.{FILE_EXTENSIONS[file_format]}")
        status = self._create(
            ImportStatus.pending(import_id, symbol, timeframe, SOURCE_API, self._now(), owner_id, key)
        )
        self.inbox.put(key, content)
        return status

    def create_upload(self, owner_id: str, symbol: str, timeframe: str, filename: str) -> UploadTicket:
        """A presigned PUT URL for a file too large for an API request; its arrival runs the import."""
        symbol = symbol.upper()
        errors = _series_errors(symbol, timeframe)
        safe_name = _UNSAFE_FILENAME.sub("_", re.split(r"[/\\]", filename)[-1]).lstrip("._")[-100:]
        if not safe_name:
            errors.append(FieldError("filename", "expected a file name such as BTCUSDT-1m-2024.csv"))
        if errors:
            raise ValidationFailed("invalid upload", errors)
        import_id = new_import_id()
        key = candle_file_key(symbol, timeframe, import_id, safe_name)
        status = self._create(
            ImportStatus.pending(import_id, symbol, timeframe, SOURCE_UPLOAD, self._now(), owner_id, key)
        )
        return UploadTicket(status, self.inbox.presign_put(key, UPLOAD_URL_EXPIRES_S), UPLOAD_URL_EXPIRES_S)

    def start_fetch(
        self,
        owner_id: str,
        symbol: str,
        timeframe: str,
        start: Moment,
        end: Moment,
        exchange: str = EXCHANGE_BINANCE,
        market: str = MARKET_SPOT,
    ) -> ImportStatus:
        """Queue a fetch of the exchange's klines with open time in [start, end) (end capped at now);
        for a linear perpetual, its funding rates over the range come too."""
        symbol = symbol.upper()
        errors = _series_errors(symbol, timeframe) + _exchange_errors(exchange, market)
        start_ms, end_ms = epoch_ms(start), min(epoch_ms(end), self._now())
        if end_ms <= start_ms:
            errors.append(FieldError("end_time", "must be after start_time and start_time before now"))
        elif not errors and (end_ms - start_ms) // timeframe_ms(timeframe) > MAX_FETCH_CANDLES:
            errors.append(FieldError("end_time", f"at most {MAX_FETCH_CANDLES} candles per fetch; split the range"))
        if errors:
            raise ValidationFailed("invalid fetch", errors)
        return self._queue_fetch(owner_id, symbol, timeframe, [(start_ms, end_ms)], exchange, market)

    def quality(
        self,
        symbol: str,
        timeframe: str,
        start: Moment | None = None,
        end: Moment | None = None,
        spike_k: float = DEFAULT_SPIKE_K,
    ) -> dict[str, Any]:
        """The quality report of the symbol's stored `timeframe` candles in [start, end) (see
        shared.market_data.quality). NotFound when the series is not stored at that timeframe."""
        symbol = symbol.upper()
        candles, start_ms, end_ms = self._stored_range(symbol, timeframe, start, end)
        report = assess_quality(candles, timeframe, start_ms, end_ms, self._now(), spike_k)
        return {
            "symbol": symbol,
            "timeframe": timeframe,
            "start_time": None if start_ms is None else iso_utc(start_ms),
            "end_time": None if end_ms is None else iso_utc(end_ms),
            **report,
        }

    def start_repair(
        self,
        owner_id: str,
        symbol: str,
        timeframe: str,
        start: Moment,
        end: Moment,
        exchange: str = EXCHANGE_BINANCE,
        market: str = MARKET_SPOT,
    ) -> tuple[list[Gap], ImportStatus | None]:
        """Queue a fetch of exactly the candles missing from the stored series in [start, end) (end
        capped at now), imported through the one pipeline. Returns the missing ranges and the queued
        import (None when nothing is missing)."""
        symbol = symbol.upper()
        errors = _exchange_errors(exchange, market)
        if errors:
            raise ValidationFailed("invalid repair", errors)
        closed_end = min(epoch_ms(end), self._now() // timeframe_ms(timeframe) * timeframe_ms(timeframe))
        candles, _, _ = self._stored_range(symbol, timeframe, start, closed_end)
        start_ms = epoch_ms(start)
        if closed_end <= start_ms:
            raise ValidationFailed("invalid repair", [FieldError("end_time", "must be after start_time, before now")])
        ranges = missing_ranges(candles.ts, timeframe, start_ms, closed_end)
        missing = sum(gap.missing for gap in ranges)
        if missing > MAX_FETCH_CANDLES:
            message = f"{missing} candles are missing; at most {MAX_FETCH_CANDLES} per repair: split the range"
            raise ValidationFailed("invalid repair", [FieldError("end_time", message)])
        if not ranges:
            return ranges, None
        pieces = [(gap.start_ms, gap.end_ms) for gap in ranges]
        return ranges, self._queue_fetch(owner_id, symbol, timeframe, pieces, exchange, market)

    def _stored_range(
        self, symbol: str, timeframe: str, start: Moment | None, end: Moment | None
    ) -> tuple[Candles, int | None, int | None]:
        """The series stored at exactly `timeframe` (resampling would hide its gaps), read over
        [start, end); NotFound when it is not stored, ValidationFailed for a bad or too large range."""
        require_timeframe(timeframe)
        start_ms = None if start is None else epoch_ms(start)
        end_ms = None if end is None else epoch_ms(end)
        if start_ms is not None and end_ms is not None and end_ms <= start_ms:
            raise ValidationFailed("invalid range", [FieldError("end_time", "must be after start_time")])
        manifest = self.store.manifest(symbol, timeframe)
        if manifest is None:
            raise NotFound(
                f"no {timeframe} candles stored for {symbol}",
                [FieldError("timeframe", f"{symbol} has no series stored at {timeframe}")],
            )
        stored_first, stored_last = manifest.partitions[0].first_ts, manifest.partitions[-1].last_ts
        first = stored_first if start_ms is None else max(start_ms, stored_first)
        last = stored_last + 1 if end_ms is None else min(end_ms, stored_last + 1)
        if (last - first) // timeframe_ms(timeframe) > MAX_FETCH_CANDLES:
            message = f"at most {MAX_FETCH_CANDLES} candles at once; narrow start_time/end_time"
            raise ValidationFailed("range too large", [FieldError("end_time", message)])
        candles = self.store.read_partitions(manifest.overlapping(start_ms, end_ms), start_ms, end_ms)
        return candles, start_ms, end_ms

    def _queue_fetch(
        self, owner_id: str, symbol: str, timeframe: str, ranges: list[tuple[int, int]], exchange: str, market: str
    ) -> ImportStatus:
        import_id = new_import_id()
        key = fetch_request_key(symbol, timeframe, import_id)
        status = self._create(ImportStatus.pending(import_id, symbol, timeframe, exchange, self._now(), owner_id, key))
        request = {"ranges": ranges, "exchange": exchange, "market": market}
        self.inbox.put(key, json.dumps(request).encode())
        return status

    def get_import(self, import_id: str, owner_id: str) -> ImportStatus:
        """The owner's import; NotFound for anyone else's (and for files dropped without an owner)."""
        status = self.records.get(import_id)
        if status is None or status.owner_id != owner_id:
            raise NotFound("import not found", [FieldError("import_id", f"no import {import_id!r}")])
        return status

    def list_imports(self, owner_id: str, limit: int = 20) -> list[ImportStatus]:
        return self.records.list_by_owner(owner_id, limit)

    # --- running imports (import function) --------------------------------------------------------

    def run_inbox_object(self, key: str, sequencer: str) -> ImportStatus | None:
        """Run the import an imports-bucket object asks for (None for keys that are not ours).

        The status goes running -> completed | failed, each change published to the owner. A job
        already completed is not run again. Unexpected errors mark it failed and propagate, so the
        platform retries (the import is idempotent).
        """
        job = parse_inbox_key(key)
        if job is None:
            return None
        status = self._status_for(job, sequencer)
        if status.status == COMPLETED:
            return status
        status = self._transition(status.running(self._now()))
        try:
            report = self._run(job)
        except ImportRejected as rejected:
            return self._transition(status.failed(rejected.errors, rejected.problem_count, self._now()))
        except DomainError as error:
            errors = error.errors or [FieldError("file", error.message)]
            return self._transition(status.failed(errors, len(errors), self._now()))
        except Exception:
            self._transition(
                status.failed([FieldError("import", "failed unexpectedly; it will be retried")], 1, self._now())
            )
            raise
        return self._transition(status.completed(report, self._now()))

    def _status_for(self, job: InboxObject, sequencer: str) -> ImportStatus:
        import_id = job.import_id or drop_import_id(job.key, sequencer)
        status = self.records.get(import_id)
        if status is None:
            source = SOURCE_BINANCE if job.is_fetch_request else SOURCE_S3
            status = ImportStatus.pending(import_id, job.symbol, job.timeframe, source, self._now(), object_key=job.key)
            if not self.records.create(status):  # another delivery created it first
                return self.records.get(import_id) or status
        return status

    def _run(self, job: InboxObject) -> ImportReport:
        if job.timeframe == FUNDING_SERIES and not job.is_fetch_request:
            return self._import_funding_file(job)
        check_series(job.symbol, job.timeframe)
        if not job.is_fetch_request:
            return self.importer.import_file(job.symbol, job.timeframe, self.inbox.read(job.key, MAX_IMPORT_BYTES))
        request = json.loads(self.inbox.read(job.key, MAX_FETCH_REQUEST_BYTES))
        ranges, exchange_name, market = request["ranges"], request["exchange"], request["market"]
        exchange = self.exchanges[exchange_name]
        parts = [exchange.fetch_klines(job.symbol, job.timeframe, int(s), int(e), market) for s, e in ranges]
        raw = concat_raw(parts, OrdinalLocator("kline"))
        if len(raw) == 0:
            span = f"from {iso_utc(ranges[0][0])} to {iso_utc(ranges[-1][1])}"
            message = f"{exchange_name} has no {job.symbol} {job.timeframe} {market} klines {span}"
            raise ValidationFailed(message, [FieldError("start_time", message)])
        report = self.importer.import_raw(job.symbol, job.timeframe, raw)
        if market != MARKET_LINEAR:
            return report
        funding = exchange.fetch_funding(job.symbol, int(ranges[0][0]), int(ranges[-1][1]))
        return replace(report, funding_rates_imported=self.funding.put_funding(job.symbol, funding).added)

    def _import_funding_file(self, job: InboxObject) -> ImportReport:
        if not SYMBOL_PATTERN.match(job.symbol):
            raise ValidationFailed(
                "invalid series", [FieldError("symbol", "expected 2-20 upper-case letters or digits")]
            )
        rates = parse_funding_file(self.inbox.read(job.key, MAX_IMPORT_BYTES))
        merge = self.funding.put_funding(job.symbol, rates)
        return ImportReport(
            symbol=job.symbol,
            timeframe=FUNDING_SERIES,
            format="funding_rates",
            rows_in_file=len(rates.times),
            rows_imported=merge.added,
            rows_unchanged=merge.unchanged,
            duplicates_dropped=0,
            rows_without_trades=0,
            gaps=NO_GAPS,
            first_ts=int(rates.times[0]),
            last_ts=int(rates.times[-1]),
            funding_rates_imported=merge.added,
        )

    def _create(self, status: ImportStatus) -> ImportStatus:
        if not self.records.create(status):  # a fresh uuid4 never collides; this guards the invariant
            raise RuntimeError(f"import id {status.import_id} exists already")
        return status

    def _transition(self, status: ImportStatus) -> ImportStatus:
        self.records.save(status)
        if status.owner_id is not None:
            self.publisher.publish(user_channel(status.owner_id), IMPORT_UPDATE_EVENT, status.to_dict())
        return status

    def _now(self) -> int:
        return int(self.clock() * 1000)


def _exchange_errors(exchange: str, market: str) -> list[FieldError]:
    errors = []
    if exchange not in EXCHANGES:
        errors.append(FieldError("exchange", f"expected one of {', '.join(EXCHANGES)}"))
    if market not in MARKETS:
        errors.append(FieldError("market", f"expected one of {', '.join(MARKETS)}"))
    return errors


def _series_errors(symbol: str, timeframe: str) -> list[FieldError]:
    """What is wrong with a series an import names (`funding`: the symbol's funding-rate history)."""
    try:
        check_series(symbol, "1m" if timeframe == FUNDING_SERIES else timeframe)
    except ValidationFailed as error:
        return list(error.errors)
    return []
