"""Market data, store: the import pipeline into the S3 Parquet store (moto), its idempotence and
atomicity, partition pruning, and candles resampled to coarser timeframes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from adapters.candle_store import S3CandleStore, manifest_key
from shared.candles import Candles
from shared.errors import NotFound, ValidationFailed
from shared.market_data.pipeline import CandleImporter
from shared.market_data.query import get_candles, read_series
from shared.market_data.resample import resample
from shared.market_data.sample import SAMPLE_MARKETS, import_sample_data, sample_series
from shared.market_data.validation import ImportRejected
from tests.fakes.counting_s3 import CountingS3
from tests.fakes.market_data import (
    CANDLES_BUCKET,
    RecordingPublisher,
    assert_same_candles,
    binance_csv,
    object_keys,
    random_candles,
)

MAR_2024 = 1_709_251_200_000  # 2024-03-01T00:00:00Z
HOUR = 3_600_000
MINUTE = 60_000


def import_csv(store, candles: Candles, timeframe: str = "1h", symbol: str = "BTCUSDT", publisher=None):
    return CandleImporter(store, publisher).import_file(symbol, timeframe, binance_csv(candles, timeframe))


def stored_state(s3_client) -> tuple[set[str], dict[str, str]]:
    """Every object key, and the manifests' ETags: equal states mean nothing was written."""
    keys = object_keys(s3_client, CANDLES_BUCKET)
    etags = {k: s3_client.head_object(Bucket=CANDLES_BUCKET, Key=k)["ETag"] for k in keys if k.endswith(".json")}
    return keys, etags


# ---------------------------------------------------------------- import, idempotence, merge
def test_imported_candles_read_back_exactly(candle_store):
    # Given 40 days of hourly candles (spanning two month partitions)
    candles = random_candles(MAR_2024, 40 * 24, "1h")
    report = import_csv(candle_store, candles)
    assert (report.rows_in_file, report.rows_imported, report.rows_unchanged) == (960, 960, 0)
    assert_same_candles(get_candles(candle_store, "BTCUSDT", "1h"), candles)
    assert [p.month for p in candle_store.manifest("BTCUSDT", "1h").partitions] == ["2024-03", "2024-04"]


def test_the_same_file_twice_changes_nothing(candle_store, s3):
    candles = random_candles(MAR_2024, 100, "1h")
    import_csv(candle_store, candles)
    before = stored_state(s3)
    report = import_csv(candle_store, candles)
    assert (report.rows_imported, report.rows_unchanged) == (0, 100)
    assert stored_state(s3) == before


def test_an_overlapping_file_adds_only_its_new_candles(candle_store):
    # Given candles 0..59 stored, then a file with candles 40..99 of the same series
    candles = random_candles(MAR_2024, 100, "1h")
    import_csv(candle_store, candles.slice(0, 60))
    report = import_csv(candle_store, candles.slice(40, 100))
    assert (report.rows_imported, report.rows_unchanged) == (40, 20)
    assert_same_candles(get_candles(candle_store, "BTCUSDT", "1h"), candles)


def test_files_before_and_between_the_stored_candles_merge_in_time_order(candle_store):
    # Given every other candle of hours 50..99 stored, then the hours between them, then hours 0..49
    candles = random_candles(MAR_2024, 100, "1h")
    later = candles.slice(50, 100)
    even, odd = (
        Candles(*(getattr(later, n)[k::2] for n in ("ts", "open", "high", "low", "close", "volume"))) for k in (0, 1)
    )
    import_csv(candle_store, even)
    assert import_csv(candle_store, odd).rows_imported == 25
    assert import_csv(candle_store, candles.slice(0, 50)).rows_imported == 50
    assert_same_candles(get_candles(candle_store, "BTCUSDT", "1h"), candles)


def test_a_file_contradicting_stored_candles_is_rejected_and_writes_nothing(candle_store, s3):
    candles = random_candles(MAR_2024, 10, "1h")
    import_csv(candle_store, candles)
    before = stored_state(s3)
    # When a file repeats those candles but with candle 7's volume 1.5 higher (line 8 of the file)
    volume = candles.volume.copy()
    volume[7] += 1.5
    changed = Candles.from_arrays(candles.ts, candles.open, candles.high, candles.low, candles.close, volume)
    with pytest.raises(ImportRejected) as caught:
        import_csv(candle_store, changed)
    [error] = caught.value.errors
    assert error.field == "line 8"
    assert error.message == (
        "the candle at 2024-03-01T07:00:00Z differs from the stored one: "
        f"volume {float(candles.volume[7])!r} stored, {float(volume[7])!r} in the file"
    )
    assert stored_state(s3) == before


# Each breaks line 6 of a Binance kline CSV: fields are open time, open, high, low, close, volume, ...
BROKEN_LINE = {
    "unreadable-number": lambda f: [*f[:1], "n/a", *f[2:]],
    "short-row": lambda f: f[:3],
    "non-finite": lambda f: [*f[:4], "inf", *f[5:]],
    "zero-price": lambda f: [*f[:3], "0", *f[4:]],
    "negative-volume": lambda f: [*f[:5], "-1", *f[6:]],
    "high-below-body": lambda f: [*f[:2], f[3], *f[3:]],
    "low-above-body": lambda f: [*f[:3], f[2], *f[4:]],
    "misaligned": lambda f: [str(int(f[0]) + MINUTE), *f[1:]],
    "conflicting-duplicate": lambda f: [str(int(f[0]) - HOUR), *f[1:]],  # line 5's time, line 6's prices
}


@pytest.mark.parametrize("problem", list(BROKEN_LINE))
def test_a_rejected_file_leaves_the_store_unchanged(candle_store, s3, problem):
    import_csv(candle_store, random_candles(MAR_2024, 24, "1h", seed=2))
    before = stored_state(s3)
    lines = binance_csv(random_candles(MAR_2024 + 24 * HOUR, 24, "1h", seed=3), "1h").decode().splitlines()
    lines[5] = ",".join(BROKEN_LINE[problem](lines[5].split(",")))
    with pytest.raises(ImportRejected) as caught:
        CandleImporter(candle_store).import_file("BTCUSDT", "1h", ("\n".join(lines) + "\n").encode())
    assert [e.field for e in caught.value.errors] == ["line 6"]
    assert stored_state(s3) == before


def test_a_replaced_month_object_is_deleted_an_hour_later_by_the_next_commit(s3, candle_store):
    # Given a store whose clock the test moves
    now = [1_750_000_000.0]
    store = S3CandleStore(s3, CANDLES_BUCKET, clock=lambda: now[0])
    candles = random_candles(MAR_2024, 72, "1h")
    import_csv(store, candles.slice(0, 24))
    first_object = store.manifest("BTCUSDT", "1h").partition("2024-03").key
    # When a second day replaces March's object, the first object is retired but kept
    import_csv(store, candles.slice(24, 48))
    assert [r.key for r in store.manifest("BTCUSDT", "1h").retired] == [first_object]
    assert first_object in object_keys(s3, CANDLES_BUCKET)
    # And a commit more than an hour later deletes it
    now[0] += 3601
    import_csv(store, candles.slice(48, 72))
    manifest = store.manifest("BTCUSDT", "1h")
    assert first_object not in object_keys(s3, CANDLES_BUCKET)
    assert first_object not in [r.key for r in manifest.retired]
    assert object_keys(s3, CANDLES_BUCKET) == {
        manifest_key("BTCUSDT", "1h"),
        manifest.partition("2024-03").key,
        *(r.key for r in manifest.retired),
    }
    assert_same_candles(get_candles(store, "BTCUSDT", "1h"), candles)


class _ManifestWriteCrashes:
    """An S3 client that dies when asked to write a manifest (a crash between the two phases)."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def put_object(self, **kwargs):
        if kwargs["Key"].endswith(".json"):
            raise ConnectionError("the function died here")
        return self._client.put_object(**kwargs)


def test_a_crash_mid_import_leaves_the_series_as_it_was(candle_store, s3):
    candles = random_candles(MAR_2024, 60 * 24, "1h")
    import_csv(candle_store, candles.slice(0, 30 * 24))
    manifest_before = s3.get_object(Bucket=CANDLES_BUCKET, Key=manifest_key("BTCUSDT", "1h"))["Body"].read()
    # When an import dies after writing its month objects but before swapping the manifest
    crashing = S3CandleStore(_ManifestWriteCrashes(s3), CANDLES_BUCKET)
    with pytest.raises(ConnectionError):
        import_csv(crashing, candles)
    # Then readers see exactly the old series (the new objects exist but nothing points at them)
    assert s3.get_object(Bucket=CANDLES_BUCKET, Key=manifest_key("BTCUSDT", "1h"))["Body"].read() == manifest_before
    assert_same_candles(get_candles(candle_store, "BTCUSDT", "1h"), candles.slice(0, 30 * 24))
    # And the import can simply run again
    assert import_csv(candle_store, candles).rows_imported == 30 * 24


class _RacedStore(S3CandleStore):
    """Before its first commit, another import of the same series commits first."""

    def __init__(self, *args, rival_import, **kwargs):
        super().__init__(*args, **kwargs)
        self.rival_import = rival_import
        self.commits = 0

    def commit(self, *args, **kwargs):
        self.commits += 1
        if self.commits == 1:
            self.rival_import()
        return super().commit(*args, **kwargs)


def test_concurrent_imports_of_one_series_keep_each_others_candles(candle_store, s3):
    # Given two files of the same series, in the same month, with no candle in common
    candles = random_candles(MAR_2024, 48, "1h")
    first_day, second_day = candles.slice(0, 24), candles.slice(24, 48)
    raced = _RacedStore(s3, CANDLES_BUCKET, rival_import=lambda: import_csv(candle_store, second_day))
    # When the second lands between the first's read of the manifest and its swap
    report = import_csv(raced, first_day)
    # Then the first retried on the new manifest, and both days are stored
    assert raced.commits == 2
    assert report.rows_imported == 24
    assert_same_candles(get_candles(candle_store, "BTCUSDT", "1h"), candles)


def test_new_candles_are_announced_on_the_market_channel(candle_store):
    publisher = RecordingPublisher()
    candles = random_candles(MAR_2024, 5, "1h")
    import_csv(candle_store, candles, publisher=publisher)
    [(event, data)] = publisher.on("market:BTCUSDT:1h")
    assert event == "candle_update"
    assert data == {
        "timestamp": "2024-03-01T04:00:00Z",
        "open": candles.open[4],
        "high": candles.high[4],
        "low": candles.low[4],
        "close": candles.close[4],
        "volume": candles.volume[4],
        "is_closed": True,
    }
    # A repeat import adds nothing and announces nothing
    import_csv(candle_store, candles, publisher=publisher)
    assert len(publisher.events) == 1


# ---------------------------------------------------------------- partition pruning
def test_a_one_month_read_of_a_multi_year_series_touches_only_that_month(candle_store, s3):
    # Given three years of hourly candles: 36 month objects
    candles = random_candles(1_672_531_200_000, 3 * 365 * 24, "1h")  # from 2023-01-01
    import_csv(candle_store, candles)
    manifest = candle_store.manifest("BTCUSDT", "1h")
    assert len(manifest.partitions) == 36
    counter = CountingS3(s3, prefix="candles/symbol=")
    counted = S3CandleStore(counter, CANDLES_BUCKET)
    # When June 2024 is read
    start, end = 1_717_200_000_000, 1_719_792_000_000  # 2024-06-01, 2024-07-01
    read = get_candles(counted, "BTCUSDT", "1h", start, end)
    # Then exactly June's object was opened (no listing, no other month), and only it was read
    june_object = manifest.partition("2024-06")
    assert counter.opened == [f"{CANDLES_BUCKET}/{june_object.key}"]
    assert counter.listings == 0
    assert counter.total_bytes <= 2 * june_object.size  # footer read + column chunks
    assert_same_candles(read, candles.between(start, end))


def test_a_store_that_keeps_reads_reads_the_same_objects_and_range_once(candle_store, s3):
    # Given a year of hourly candles and a store keeping its last two reads (a warm batch environment's)
    candles = random_candles(1_672_531_200_000, 365 * 24, "1h")  # 2023
    import_csv(candle_store, candles)
    counter = CountingS3(s3, prefix="candles/symbol=")
    kept = S3CandleStore(counter, CANDLES_BUCKET, kept_reads=2)
    year, march = (1_672_531_200_000, 1_704_067_200_000), (1_677_628_800_000, 1_680_307_200_000)
    # When the year is read twice, then March, then the year again
    first = get_candles(kept, "BTCUSDT", "1h", *year)
    gets_of_one_read = counter.gets
    again = get_candles(kept, "BTCUSDT", "1h", *year)
    assert counter.gets == gets_of_one_read  # Then the second read of the year asked S3 nothing
    assert_same_candles(again, candles.between(*year)) and assert_same_candles(first, again)
    assert_same_candles(get_candles(kept, "BTCUSDT", "1h", *march), candles.between(*march))
    assert counter.gets > gets_of_one_read  # another range is read
    counter.reset()
    assert_same_candles(get_candles(kept, "BTCUSDT", "1h", *year), candles.between(*year))
    assert counter.gets == 0  # both reads kept
    # And what it keeps cannot be changed by a caller (it is shared by every later read)
    with pytest.raises(ValueError, match="read-only"):
        again.close[0] = 0.0
    # A third range pushes out the least recently used read (the year was used last: March goes)
    get_candles(kept, "BTCUSDT", "1h", 1_688_169_600_000, 1_690_848_000_000)  # July
    counter.reset()
    get_candles(kept, "BTCUSDT", "1h", *march)
    assert counter.gets > 0


def test_row_groups_outside_the_range_are_skipped(candle_store, s3):
    # Given a month of 1m candles (11 row groups of 4096)
    candles = random_candles(MAR_2024, 31 * 24 * 60, "1m")
    import_csv(candle_store, candles, "1m")
    counter = CountingS3(s3, prefix="candles/symbol=")
    counted = S3CandleStore(counter, CANDLES_BUCKET)
    month_size = candle_store.manifest("BTCUSDT", "1m").partitions[0].size
    # When one hour is read, then the whole month
    hour = get_candles(counted, "BTCUSDT", "1m", MAR_2024, MAR_2024 + HOUR)
    hour_bytes = counter.total_bytes
    counter.reset()
    get_candles(counted, "BTCUSDT", "1m", MAR_2024, MAR_2024 + 31 * 24 * HOUR)
    # Then the hour read a small fraction of what the month read
    assert len(hour) == 60
    assert hour_bytes < counter.total_bytes / 4
    assert counter.total_bytes >= month_size


# ---------------------------------------------------------------- timeframes and resampling
def _bucket_start(ts_ms: int, timeframe: str) -> datetime:
    """The UTC bucket holding ts_ms, computed with calendar arithmetic (independently of the code)."""
    moment = datetime.fromtimestamp(ts_ms / 1000, UTC)
    if timeframe == "1w":
        day = moment.replace(hour=0, minute=0, second=0)
        return day - timedelta(days=day.weekday())
    if timeframe == "1d":
        return moment.replace(hour=0, minute=0, second=0)
    if timeframe == "4h":
        return moment.replace(hour=moment.hour - moment.hour % 4, minute=0, second=0)
    minutes = {"5m": 5, "15m": 15, "30m": 30, "1h": 60}[timeframe]
    return moment.replace(minute=moment.minute - moment.minute % minutes if minutes < 60 else 0, second=0)


def reference_resample(candles: Candles, timeframe: str) -> list[tuple]:
    groups: dict[datetime, list[int]] = {}
    for i, ts in enumerate(candles.ts.tolist()):
        groups.setdefault(_bucket_start(ts, timeframe), []).append(i)
    return [
        (
            int(start.timestamp() * 1000),
            candles.open[rows[0]],
            max(candles.high[r] for r in rows),
            min(candles.low[r] for r in rows),
            candles.close[rows[-1]],
            sum(candles.volume[r] for r in rows),
        )
        for start, rows in sorted(groups.items())
    ]


def test_coarser_timeframes_match_an_independent_resampling(candle_store):
    # Given three days of 1m candles from a Friday 22:17 with a 95-minute hole
    candles = random_candles(MAR_2024 - 2 * HOUR + 17 * MINUTE, 3 * 24 * 60, "1m")
    keep = np.ones(len(candles), dtype=bool)
    keep[1000:1095] = False
    holed = Candles(*(getattr(candles, name)[keep] for name in ("ts", "open", "high", "low", "close", "volume")))
    import_csv(candle_store, holed, "1m")
    for timeframe in ("5m", "15m", "30m", "1h", "4h", "1d", "1w"):
        actual = get_candles(candle_store, "BTCUSDT", timeframe).rows()
        expected = reference_resample(holed, timeframe)
        assert [row[0] for row in actual] == [row[0] for row in expected], timeframe
        np.testing.assert_allclose(np.array(actual), np.array(expected), rtol=1e-12, err_msg=timeframe)


def test_weekly_candles_open_on_mondays(candle_store):
    # Given 40 daily candles from Wednesday 2024-02-28
    candles = random_candles(1_709_078_400_000, 40, "1d")
    import_csv(candle_store, candles, "1d")
    weeks = get_candles(candle_store, "BTCUSDT", "1w")
    assert [datetime.fromtimestamp(t / 1000, UTC).strftime("%a %Y-%m-%d") for t in weeks.ts.tolist()] == [
        "Mon 2024-02-26",
        "Mon 2024-03-04",
        "Mon 2024-03-11",
        "Mon 2024-03-18",
        "Mon 2024-03-25",
        "Mon 2024-04-01",
    ]
    # The first week holds Wed..Sun (5 days), the last one Mon..Sun 2024-04-07 (the 40th day)
    assert weeks.open[0] == candles.open[0] and weeks.close[0] == candles.close[4]
    assert weeks.volume[0] == pytest.approx(candles.volume[:5].sum(), rel=1e-12)


def test_a_range_returns_the_candles_opening_inside_it(candle_store):
    import_csv(candle_store, random_candles(MAR_2024, 24 * 60, "1m"), "1m")
    # [00:10, 02:00) at 1h: buckets opening at 01:00 only (00:00 opened before the start)
    hours = get_candles(candle_store, "BTCUSDT", "1h", MAR_2024 + 10 * MINUTE, MAR_2024 + 2 * HOUR)
    assert hours.ts.tolist() == [MAR_2024 + HOUR]
    # [00:10, 02:30) at 1h: 01:00 and 02:00 (whole buckets, though the range ends inside the last)
    hours = get_candles(candle_store, "BTCUSDT", "1h", MAR_2024 + 10 * MINUTE, MAR_2024 + 150 * MINUTE)
    assert hours.ts.tolist() == [MAR_2024 + HOUR, MAR_2024 + 2 * HOUR]
    assert hours.volume[1] == pytest.approx(
        get_candles(candle_store, "BTCUSDT", "1m", MAR_2024 + 2 * HOUR, MAR_2024 + 3 * HOUR).volume.sum(), rel=1e-12
    )


def test_a_timeframe_imported_as_such_is_served_as_stored(candle_store):
    # Given 1m candles for one day and, separately, 1h candles for a month that disagree with them
    import_csv(candle_store, random_candles(MAR_2024, 24 * 60, "1m", seed=5), "1m")
    hours = random_candles(MAR_2024, 31 * 24, "1h", seed=6)
    import_csv(candle_store, hours, "1h")
    # Then 1h comes from the stored 1h series, and 4h over the month from it too (it covers more)
    assert_same_candles(get_candles(candle_store, "BTCUSDT", "1h"), hours)
    assert_same_candles(get_candles(candle_store, "BTCUSDT", "4h"), resample(hours, "1h", "4h"))
    # While 5m can only come from the 1m series
    assert len(get_candles(candle_store, "BTCUSDT", "5m")) == 24 * 12


def test_requests_the_store_cannot_serve(candle_store):
    import_csv(candle_store, random_candles(MAR_2024, 24, "1h"))
    with pytest.raises(ValidationFailed) as finer:
        get_candles(candle_store, "BTCUSDT", "15m")
    assert finer.value.errors[0].field == "timeframe"
    assert "finest: 1h" in finer.value.errors[0].message
    with pytest.raises(NotFound) as unknown_symbol:
        get_candles(candle_store, "DOGEUSDT", "1h")
    assert unknown_symbol.value.errors[0].field == "symbol"
    with pytest.raises(NotFound) as unknown_timeframe:
        get_candles(candle_store, "BTCUSDT", "2h")
    assert unknown_timeframe.value.errors[0].field == "timeframe"


# ---------------------------------------------------------------- sample data
def test_sample_data_is_synthetic_deterministic_and_consistent(candle_store):
    end = 1_735_689_600_000  # 2025-01-01
    reports = import_sample_data(candle_store, end)
    assert [(r.symbol, r.timeframe, r.rows_imported) for r in reports] == [
        ("BTCUSDT", "1h", 730 * 24),
        ("BTCUSDT", "1m", 30 * 24 * 60),
        ("ETHUSDT", "1h", 730 * 24),
        ("ETHUSDT", "1m", 30 * 24 * 60),
    ]
    assert candle_store.list_series() == [("BTCUSDT", "1h"), ("BTCUSDT", "1m"), ("ETHUSDT", "1h"), ("ETHUSDT", "1m")]
    # The hourly series' last 30 days are the minutes resampled
    month = (end - 30 * 24 * HOUR, end)
    hourly = read_series(candle_store, candle_store.manifest("BTCUSDT", "1h"), "1h", *month)
    from_minutes = read_series(candle_store, candle_store.manifest("BTCUSDT", "1m"), "1h", *month)
    assert_same_candles(hourly, from_minutes)
    # Same end, same candles; and seeding again changes nothing
    assert_same_candles(sample_series(SAMPLE_MARKETS[0], end)["1h"], get_candles(candle_store, "BTCUSDT", "1h"))
    assert all(r.rows_imported == 0 for r in import_sample_data(candle_store, end))
