"""Reading candles: pick the stored series that serves a request best, read only what overlaps,
and build coarser timeframes by resampling."""

from __future__ import annotations

from shared.candles import Candles
from shared.errors import FieldError, NotFound, ValidationFailed
from shared.market_data.ports import CandleStore
from shared.market_data.resample import bucket_start, can_resample, resample
from shared.market_data.store import SeriesManifest
from shared.timeframes import TIMEFRAME_MS, TIMEFRAMES, timeframe_ms


def require_timeframe(timeframe: str) -> None:
    if timeframe not in TIMEFRAME_MS:
        raise NotFound(
            f"unknown timeframe {timeframe!r}",
            [FieldError("timeframe", f"expected one of {', '.join(TIMEFRAMES)}")],
        )


def stored_series(store: CandleStore, symbol: str) -> dict[str, SeriesManifest]:
    """The symbol's stored series by timeframe; NotFound when it has none."""
    manifests = {timeframe: store.manifest(symbol, timeframe) for _, timeframe in store.list_series(symbol)}
    found = {timeframe: manifest for timeframe, manifest in manifests.items() if manifest is not None}
    if not found:
        raise NotFound(f"no candles stored for {symbol}", [FieldError("symbol", f"no candles stored for {symbol!r}")])
    return found


def derivable_timeframes(stored: list[str] | set[str]) -> list[str]:
    """Timeframes servable from series stored at `stored` timeframes, finest first."""
    return [target for target in TIMEFRAMES if any(can_resample(source, target) for source in stored)]


def get_candles(
    store: CandleStore, symbol: str, timeframe: str, start_ms: int | None = None, end_ms: int | None = None
) -> Candles:
    """`timeframe` candles of `symbol` with open time in [start_ms, end_ms) (either bound optional).

    NotFound for an unknown symbol or timeframe; ValidationFailed when only finer candles would do.
    """
    require_timeframe(timeframe)
    source = choose_source(stored_series(store, symbol), symbol, timeframe, start_ms, end_ms)
    return read_series(store, source, timeframe, start_ms, end_ms)


def choose_source(
    series: dict[str, SeriesManifest], symbol: str, timeframe: str, start_ms: int | None, end_ms: int | None
) -> SeriesManifest:
    """The stored series to serve `timeframe` candles in [start_ms, end_ms) from: stored at that
    timeframe or at a finer one, whichever covers more of the range (the coarser on a tie: fewer
    bytes to read, the same candles)."""
    candidates = [manifest for source, manifest in series.items() if can_resample(source, timeframe)]
    if not candidates:
        finest = min(series, key=timeframe_ms)
        raise ValidationFailed(
            f"{symbol} is stored at {finest} at the finest; {timeframe} candles cannot be built from it",
            [FieldError("timeframe", f"finer than the stored data (finest: {finest})")],
        )
    lo, hi = _source_range(timeframe, start_ms, end_ms)
    return max(candidates, key=lambda m: (_coverage(m, lo, hi), timeframe_ms(m.timeframe)))


def read_series(
    store: CandleStore, source: SeriesManifest, timeframe: str, start_ms: int | None, end_ms: int | None
) -> Candles:
    """`timeframe` candles with open time in [start_ms, end_ms) from the series `source`."""
    lo, hi = _source_range(timeframe, start_ms, end_ms)
    return resample(store.read_partitions(source.overlapping(lo, hi), lo, hi), source.timeframe, timeframe)


def _source_range(timeframe: str, start_ms: int | None, end_ms: int | None) -> tuple[int | None, int | None]:
    """Source candles making up the `timeframe` buckets that open in [start_ms, end_ms)."""
    lo = None if start_ms is None else bucket_start(start_ms, timeframe, up=True)
    hi = None if end_ms is None else bucket_start(end_ms, timeframe, up=True)
    return lo, hi


def _coverage(manifest: SeriesManifest, start_ms: int | None, end_ms: int | None) -> int:
    """Milliseconds of [start_ms, end_ms) the series spans."""
    first, last = manifest.partitions[0].first_ts, manifest.partitions[-1].last_ts + timeframe_ms(manifest.timeframe)
    return max(
        0, min(last, end_ms if end_ms is not None else last) - max(first, start_ms if start_ms is not None else first)
    )
