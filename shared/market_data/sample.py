"""SYNTHETIC sample candles, so a fresh local stack can run a backtest at once. Not real prices.

The series is geometric Brownian motion with fat-tailed (Student-t) shocks and clustered
volatility: log-volatility follows an AR(1) process from hour to hour, so calm and wild stretches
alternate as in real markets. Highs and lows stretch beyond open/close by the bar's volatility;
volume grows with volatility and with the size of the move. Everything derives from a seed per
symbol, so a given `end_ms` always yields the same candles.

`import_sample_data` stores, for BTCUSDT and ETHUSDT, two years of 1h candles and the last 30 days
of 1m candles; the last 30 days of the 1h series are the 1m candles resampled, so both agree.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from shared.candles import Candles
from shared.events import EventPublisher
from shared.market_data.parsing import OrdinalLocator, RawCandles
from shared.market_data.pipeline import CandleImporter, ImportReport
from shared.market_data.ports import CandleStore
from shared.market_data.resample import resample
from shared.timeframes import MINUTE_MS, YEAR_MS, timeframe_ms

HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
HOURLY_DAYS = 730
MINUTE_DAYS = 30


@dataclass(frozen=True)
class SampleMarket:
    symbol: str
    start_price: float
    annual_drift: float  # expected log-return per year
    annual_volatility: float
    volume_per_minute: float  # typical base-asset volume of a 1m candle


SAMPLE_MARKETS = (
    SampleMarket("BTCUSDT", 42_000.0, 0.25, 0.60, 25.0),
    SampleMarket("ETHUSDT", 2_400.0, 0.20, 0.75, 400.0),
)
# Log-volatility AR(1) per hour: persistence and shock size (stationary std ~0.6).
VOL_PERSISTENCE = 0.98
VOL_SHOCK = 0.12
T_DEGREES_OF_FREEDOM = 4


def synthetic_candles(
    market: SampleMarket, timeframe: str, start_ms: int, count: int, start_price: float, rng: np.random.Generator
) -> Candles:
    """`count` candles from `start_ms` (on a `timeframe` boundary, 1h or finer), opening at `start_price`."""
    step = timeframe_ms(timeframe)
    per_hour = HOUR_MS // step
    hours = -(-count // per_hour)
    log_vol = np.empty(hours)
    level, shocks = 0.0, rng.normal(0.0, VOL_SHOCK, hours)
    for hour in range(hours):
        level = VOL_PERSISTENCE * level + shocks[hour]
        log_vol[hour] = level
    stationary_var = VOL_SHOCK**2 / (1 - VOL_PERSISTENCE**2)
    vol_scale = np.repeat(np.exp(log_vol - stationary_var / 2), per_hour)[:count]
    sigma = market.annual_volatility * np.sqrt(step / YEAR_MS) * vol_scale
    shock = rng.standard_t(T_DEGREES_OF_FREEDOM, count) / np.sqrt(T_DEGREES_OF_FREEDOM / (T_DEGREES_OF_FREEDOM - 2))
    drift = market.annual_drift * step / YEAR_MS
    close = start_price * np.exp(np.cumsum(drift + sigma * shock))
    open_ = np.concatenate(([start_price], close[:-1]))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.6, count)) * sigma)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.6, count)) * sigma)
    volume = (
        market.volume_per_minute
        * step
        / MINUTE_MS
        * vol_scale
        * (1 + np.abs(shock))
        * np.exp(rng.normal(0.0, 0.3, count))
    )
    # Rounding is monotonic, so high >= max(open, close) and low <= min(open, close) survive it.
    return Candles.from_arrays(
        start_ms + np.arange(count, dtype=np.int64) * step,
        np.round(open_, 2),
        np.round(high, 2),
        np.round(low, 2),
        np.round(close, 2),
        np.round(volume, 5),
    )


def sample_series(market: SampleMarket, end_ms: int) -> dict[str, Candles]:
    """The market's 1h candles for the HOURLY_DAYS and 1m candles for the MINUTE_DAYS before
    `end_ms` (floored to the hour)."""
    end_ms -= end_ms % HOUR_MS
    minutes_start = end_ms - MINUTE_DAYS * DAY_MS
    hours_start = end_ms - HOURLY_DAYS * DAY_MS
    rng = np.random.default_rng(zlib.crc32(market.symbol.encode()))
    early_hours = synthetic_candles(
        market, "1h", hours_start, (minutes_start - hours_start) // HOUR_MS, market.start_price, rng
    )
    minutes = synthetic_candles(
        market, "1m", minutes_start, (end_ms - minutes_start) // MINUTE_MS, float(early_hours.close[-1]), rng
    )
    late_hours = resample(minutes, "1m", "1h")
    hours = Candles.from_arrays(
        *(
            np.concatenate((getattr(early_hours, name), getattr(late_hours, name)))
            for name in ("ts", "open", "high", "low", "close", "volume")
        )
    )
    return {"1h": hours, "1m": minutes}


def import_sample_data(store: CandleStore, end_ms: int, publisher: EventPublisher | None = None) -> list[ImportReport]:
    """Import every sample series ending at `end_ms` into `store`, through the one pipeline (so it
    is validated). Meant for an empty store: seeding again with the same hour of `end_ms` changes
    nothing, but another hour's synthetic values differ and the pipeline rejects them as conflicts."""
    importer = CandleImporter(store, publisher)
    reports = []
    for market in SAMPLE_MARKETS:
        for timeframe, candles in sample_series(market, end_ms).items():
            raw = RawCandles(
                "synthetic",
                candles.ts,
                candles.open,
                candles.high,
                candles.low,
                candles.close,
                candles.volume,
                (),
                OrdinalLocator("candle"),
            )
            reports.append(importer.import_raw(market.symbol, timeframe, raw))
    return reports
