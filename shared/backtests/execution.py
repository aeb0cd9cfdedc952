"""A backtest's `metadata` turned into what the engine runs with: its settings and the market data
beyond candles (exchange rules, funding rates, finer candles), each checked against the store.

The API checks them when the backtest is created (a 422 naming the field: missing funding data
is never a silent zero) and the workflow reads them again to run; both go through here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.engine import BacktestSettings
from shared.errors import FieldError, ValidationFailed
from shared.market_data.funding import FundingRates
from shared.market_data.symbol_rules import SymbolRules
from shared.timeframes import TIMEFRAME_MS
from shared.times import iso_utc

# The longest interval between two funding times on Binance or Bybit perpetuals.
FUNDING_INTERVAL_MS = 8 * 3_600_000
SETTINGS_FIELDS = ("maker_fee", "taker_fee", "slippage_ticks", "funding", "intrabar_timeframe", "same_bar_priority")


def backtest_settings(initial_balance: float, timeframe: str, metadata: Mapping[str, Any]) -> BacktestSettings:
    """The engine's settings from a backtest's stored metadata (validated by BacktestSettings)."""
    return BacktestSettings(
        initial_balance=float(initial_balance),
        commission=float(metadata.get("commission", BacktestSettings.commission)),
        leverage=float(metadata.get("leverage", BacktestSettings.leverage)),
        timeframe=timeframe,
        **{name: metadata[name] for name in SETTINGS_FIELDS if metadata.get(name) is not None},
    )


def symbol_rules(
    symbol: str, metadata: Mapping[str, Any], stored: Callable[[str, str, str], SymbolRules | None]
) -> SymbolRules:
    """The exchange rules a backtest applies: those stored for `metadata.exchange` / `market`
    (none unless an exchange is named). `stored(symbol, exchange, market)` reads the store."""
    exchange = metadata.get("exchange")
    rules = SymbolRules()
    if exchange is not None:
        market = metadata.get("market", "spot")
        found = stored(symbol, exchange, market)
        if found is None:
            raise ValidationFailed(
                "no exchange rules stored",
                [
                    FieldError(
                        "metadata.exchange",
                        f"no {symbol} rules stored for {exchange} {market}; "
                        f"GET /market_data/{symbol}/info?exchange={exchange}&market={market} stores them",
                    )
                ],
            )
        rules = found
    if metadata.get("slippage_ticks") is not None and rules.tick_size is None:
        raise ValidationFailed(
            "slippage in ticks needs a tick size",
            [
                FieldError(
                    "metadata.slippage_ticks", f"needs the {symbol} tick size: name metadata.exchange with stored rules"
                )
            ],
        )
    return rules


def checked_funding(symbol: str, rates: FundingRates, start_ms: int, end_ms: int) -> FundingRates:
    """`rates` if funding times cover [start_ms, end_ms): from the start to the first one, between
    two, and from the last one to the end, never more than a funding interval; otherwise a 422
    naming metadata.funding and the first stretch without rates."""
    times = np.asarray(rates.times, dtype=np.int64)
    bounds = np.concatenate(([start_ms], times[(times >= start_ms) & (times < end_ms)], [end_ms]))
    gaps = np.flatnonzero(np.diff(bounds) > FUNDING_INTERVAL_MS)
    if len(gaps):
        lo, hi = int(bounds[gaps[0]]), int(bounds[gaps[0] + 1])
        raise ValidationFailed(
            "missing funding data",
            [
                FieldError(
                    "metadata.funding",
                    f"no {symbol} funding rates stored between {iso_utc(lo)} and {iso_utc(hi)}; "
                    f"import the funding history first",
                )
            ],
        )
    return rates


def check_intrabar(symbol: str, settings: BacktestSettings, timeframes: list[str] | tuple[str, ...]) -> None:
    """The finer timeframe must be one the store can serve for the symbol."""
    wanted = settings.intrabar_timeframe
    if wanted is not None and wanted not in timeframes:
        raise ValidationFailed(
            "no finer candles",
            [
                FieldError(
                    "metadata.intrabar_timeframe",
                    f"no {symbol} {wanted} candles stored (available: {', '.join(timeframes)})",
                )
            ],
        )


def check_fine_cover(
    symbol: str, settings: BacktestSettings, first_ts: int, last_ts: int, fine_ts: NDArray[Any]
) -> None:
    """The finer candles must span the backtest's bars (gaps inside fall back to same_bar_priority)."""
    step = TIMEFRAME_MS[settings.timeframe]
    fine_step = TIMEFRAME_MS[settings.intrabar_timeframe or settings.timeframe]
    if not len(fine_ts) or fine_ts[0] > first_ts or fine_ts[-1] < last_ts + step - fine_step:
        raise ValidationFailed(
            "no finer candles",
            [
                FieldError(
                    "metadata.intrabar_timeframe",
                    f"the stored {symbol} {settings.intrabar_timeframe} candles do not span "
                    f"{iso_utc(first_ts)} to {iso_utc(last_ts + step)}",
                )
            ],
        )
