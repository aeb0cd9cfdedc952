"""The import pipeline every way in goes through (S3 drop, API upload, presigned upload, Binance):
read -> validate -> merge with the stored series -> write new month objects -> swap the manifest
-> announce. Nothing is written unless the whole file is valid and agrees with what is stored.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.candles import Candles
from shared.errors import FieldError, ValidationFailed
from shared.events import EventPublisher, market_channel
from shared.market_data.contract import SYMBOL_REGEX
from shared.market_data.gaps import GapReport, find_gaps
from shared.market_data.merge import MergePlan, plan_merge
from shared.market_data.parsing import RawCandles, parse_candle_file
from shared.market_data.ports import CandleStore
from shared.market_data.store import ConcurrentUpdate, SeriesManifest, month_name, month_spans
from shared.market_data.validation import ValidCandles, validate_candles
from shared.market_data.wire import candle_dict
from shared.timeframes import TIMEFRAME_MS, TIMEFRAMES, timeframe_ms
from shared.times import iso_utc

SYMBOL_PATTERN = re.compile(SYMBOL_REGEX)
# Concurrent imports of one series retry from a fresh manifest this many times in all.
MAX_COMMIT_ATTEMPTS = 5
CANDLE_UPDATE_EVENT = "candle_update"


def check_series(symbol: str, timeframe: str) -> None:
    """ValidationFailed naming the field when a symbol or timeframe cannot name a series."""
    errors = []
    if not SYMBOL_PATTERN.match(symbol):
        errors.append(FieldError("symbol", "expected 2-20 upper-case letters or digits, e.g. BTCUSDT"))
    if timeframe not in TIMEFRAME_MS:
        errors.append(FieldError("timeframe", f"expected one of {', '.join(TIMEFRAMES)}"))
    if errors:
        raise ValidationFailed("invalid series", errors)


@dataclass(frozen=True)
class ImportReport:
    """What one import did."""

    symbol: str
    timeframe: str
    format: str
    rows_in_file: int
    rows_imported: int  # new candles stored
    rows_unchanged: int  # candles already stored identically
    duplicates_dropped: int  # identical repeats within the file
    rows_without_trades: int  # rows with no price at all: periods without trades (gaps)
    gaps: GapReport  # holes between the file's own candles
    first_ts: int
    last_ts: int
    funding_rates_imported: int = 0  # linear fetches: new funding rates stored beside the candles

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "format": self.format,
            "rows_in_file": self.rows_in_file,
            "rows_imported": self.rows_imported,
            "rows_unchanged": self.rows_unchanged,
            "duplicates_dropped": self.duplicates_dropped,
            "rows_without_trades": self.rows_without_trades,
            "funding_rates_imported": self.funding_rates_imported,
            "gaps": self.gaps.to_dict(),
            "first_timestamp": iso_utc(self.first_ts),
            "last_timestamp": iso_utc(self.last_ts),
        }


class CandleImporter:
    """Imports candle files into `store`, announcing new candles through `publisher` (None: nobody
    listens, e.g. when seeding a store before any client connects)."""

    def __init__(
        self, store: CandleStore, publisher: EventPublisher | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock

    def import_file(self, symbol: str, timeframe: str, content: bytes) -> ImportReport:
        """Detect the format of `content`, then import it (see import_raw)."""
        check_series(symbol, timeframe)
        return self.import_raw(symbol, timeframe, parse_candle_file(content, symbol))

    def import_raw(self, symbol: str, timeframe: str, raw: RawCandles) -> ImportReport:
        """Validate `raw` and merge it into the series: ImportRejected (nothing written) when any row
        is invalid or disagrees with a stored candle. Safe to repeat and to run concurrently."""
        check_series(symbol, timeframe)
        valid = validate_candles(raw, timeframe)
        for _ in range(MAX_COMMIT_ATTEMPTS):
            manifest = self.store.manifest(symbol, timeframe)
            plan = plan_merge(self._stored_months(manifest, valid.candles), valid)
            if not plan.months:
                return self._report(symbol, timeframe, valid, plan)
            try:
                manifest = self.store.commit(symbol, timeframe, manifest, plan.months)
            except ConcurrentUpdate:
                continue
            self._announce(manifest)
            return self._report(symbol, timeframe, valid, plan)
        raise ConcurrentUpdate(f"{symbol} {timeframe} kept changing during {MAX_COMMIT_ATTEMPTS} attempts to import")

    def _stored_months(self, manifest: SeriesManifest | None, incoming: Candles) -> Candles:
        if manifest is None:
            return Candles.from_arrays(*([[]] * 6))
        months = [manifest.partition(month_name(m)) for m, _, _ in month_spans(incoming.ts)]
        return self.store.read_partitions([p for p in months if p is not None], None, None)

    def _announce(self, manifest: SeriesManifest) -> None:
        if self.publisher is None or manifest.latest is None:
            return
        latest = manifest.latest
        payload = candle_dict(
            latest["ts"], latest["open"], latest["high"], latest["low"], latest["close"], latest["volume"]
        )
        payload["is_closed"] = latest["ts"] + timeframe_ms(manifest.timeframe) <= self.clock() * 1000
        self.publisher.publish(market_channel(manifest.symbol, manifest.timeframe), CANDLE_UPDATE_EVENT, payload)

    @staticmethod
    def _report(symbol: str, timeframe: str, valid: ValidCandles, plan: MergePlan) -> ImportReport:
        candles = valid.candles
        return ImportReport(
            symbol=symbol,
            timeframe=timeframe,
            format=valid.format,
            rows_in_file=valid.rows_in_file,
            rows_imported=plan.added,
            rows_unchanged=plan.unchanged,
            duplicates_dropped=valid.duplicates_dropped,
            rows_without_trades=valid.rows_without_trades,
            gaps=find_gaps(candles.ts, timeframe),
            first_ts=int(candles.ts[0]),
            last_ts=int(candles.ts[-1]),
        )
