"""Market data quality: gaps, zero-volume runs, spikes beyond k robust deviations, flat stretches and
stale ends, on hand-made hourly series whose every finding is counted by hand."""

from __future__ import annotations

import numpy as np

from shared.candles import Candles
from shared.market_data.quality import assess_quality, missing_ranges

T0 = 1_709_251_200_000  # 2024-03-01T00:00:00Z
H = 3_600_000


def hourly(
    closes: list[float],
    volumes: list[float] | None = None,
    hours: list[int] | None = None,
    flat: set[int] = frozenset(),
) -> Candles:
    """Candle i opens at the previous close and closes at closes[i]; high/low 1 % outside the body,
    except candles in `flat` (open = high = low = close)."""
    closes_a = np.asarray(closes, dtype=float)
    opens = np.concatenate(([closes_a[0]], closes_a[:-1]))
    high = np.maximum(opens, closes_a) * 1.01
    low = np.minimum(opens, closes_a) * 0.99
    for i in flat:
        high[i] = low[i] = opens[i] = closes_a[i]
    ts = T0 + H * np.asarray(hours if hours is not None else range(len(closes)), dtype=np.int64)
    return Candles.from_arrays(ts, opens, high, low, closes_a, volumes if volumes is not None else [1.0] * len(closes))


def test_missing_ranges_inside_and_around_the_candles():
    ts = T0 + H * np.array([2, 3, 6], dtype=np.int64)
    ranges = missing_ranges(ts, "1h", T0, T0 + 9 * H)
    assert [(r.start_ms, r.end_ms, r.missing) for r in ranges] == [
        (T0, T0 + 2 * H, 2),
        (T0 + 4 * H, T0 + 6 * H, 2),
        (T0 + 7 * H, T0 + 9 * H, 2),
    ]
    assert [r.missing for r in missing_ranges(ts, "1h", None, None)] == [2]
    assert [(r.start_ms, r.missing) for r in missing_ranges(ts[:0], "1h", T0 + 1, T0 + 3 * H)] == [(T0 + H, 2)]


def test_gaps_and_stale_end():
    # Hours 0, 1, 4, 5 stored; asked from hour 0 with now at hour 9:30 -> hours 2-3 missing inside,
    # hours 6-8 missing at the end (hour 9 is still forming).
    candles = hourly([100, 101, 102, 103], hours=[0, 1, 4, 5])
    report = assess_quality(candles, "1h", T0, None, now_ms=T0 + 9 * H + H // 2)
    assert report["gaps"] == {
        "missing_candles": 2,
        "gap_count": 1,
        "gaps": [{"start": "2024-03-01T02:00:00Z", "end": "2024-03-01T04:00:00Z", "missing_candles": 2}],
    }
    assert report["stale_end"] == {"stale": True, "candles_behind": 3, "until": "2024-03-01T09:00:00Z"}
    fresh = assess_quality(candles, "1h", T0, T0 + 6 * H, now_ms=T0 + 100 * H)
    assert fresh["stale_end"]["stale"] is False


def test_zero_volume_runs():
    candles = hourly([100] * 8, volumes=[1, 0, 0, 1, 0, 1, 0, 0])
    runs = assess_quality(candles, "1h", None, None, T0 + 8 * H)["zero_volume_runs"]
    assert (runs["count"], runs["candles"]) == (3, 5)
    assert runs["runs"][0] == {"start": "2024-03-01T01:00:00Z", "end": "2024-03-01T03:00:00Z", "candles": 2}


def test_a_spike_beyond_k_robust_deviations():
    # Returns alternate +1 % / -1 % (median ~0, MAD ~1 %, robust sigma ~1.48 %); hour 10 jumps 30 %.
    closes = [100.0]
    for i in range(1, 20):
        closes.append(closes[-1] * (1.01 if i % 2 else 1 / 1.01))
    closes[10] = closes[9] * 1.3
    closes[11:] = [c * 1.3 for c in closes[11:]]
    report = assess_quality(hourly(closes), "1h", None, None, T0 + 20 * H)
    returns = np.log(np.asarray(closes[1:]) / np.asarray(closes[:-1]))
    median = np.median(returns)
    sigma = 1.4826 * np.median(np.abs(returns - median))
    [spike] = report["spikes"]["spikes"]
    assert spike["timestamp"] == "2024-03-01T10:00:00Z"
    assert np.isclose(spike["return"], 0.3) and np.isclose(spike["deviations"], abs(np.log(1.3) - median) / sigma)
    assert assess_quality(hourly(closes), "1h", None, None, T0, spike_k=50)["spikes"]["count"] == 0


def test_flat_stretches_of_at_least_the_minimum_length():
    # Candles 3..8 repeat the close of candle 2 with no range: a stretch of 6; candle 12 alone is not one.
    closes = [100, 101, 102, 102, 102, 102, 102, 102, 102, 103, 104, 105, 105, 106]
    report = assess_quality(hourly(closes, flat={3, 4, 5, 6, 7, 8, 12}), "1h", None, None, T0 + 14 * H)
    assert report["flat_stretches"] == {
        "min_candles": 5,
        "count": 1,
        "candles": 6,
        "stretches": [{"start": "2024-03-01T03:00:00Z", "end": "2024-03-01T09:00:00Z", "candles": 6}],
    }
