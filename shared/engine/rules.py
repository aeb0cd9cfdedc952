"""Percent -> fraction, once: where a backtest's configuration becomes the engine's rules.

Users write percentages — `BacktestSettings` (commission 0.1 = 0.1 %, maintenance_margin 0.5 =
0.5 %) and `StrategyConfig` (stop_loss 2 = 2 %, slippage 0.05, take-profit levels, pyramiding
sizes, risk_percentage, an entry order's offset) — and the engine computes with fractions (0.001,
0.005, 0.02, ...). `EngineRules.from_config` is that conversion; every way into the engine (the
API's backtests through the workflow, the CLI, optimizations, replays) goes through it, and
nothing behind it divides by 100.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from shared.backtest_settings import BacktestSettings
from shared.strategy.model import StrategyConfig


def fraction(percent: float | None) -> float | None:
    """A percentage of the configuration (2 = 2 %) as the fraction the engine computes with."""
    return None if percent is None else percent / 100.0


@dataclass(frozen=True)
class EngineRules:
    """A strategy's fill, exit and sizing parameters as fractions (0.02 for 2 %) and a direction sign."""

    direction: int  # +1 long, -1 short (and both: each position has its own side)
    fee: float  # the taker fee: market and stop fills
    slippage: float
    stop_loss: float | None
    take_profit: float | None
    trailing_stop: float | None
    leverage: float
    maintenance_margin: float
    maker_fee: float = 0.0  # limit fills: the take-profit
    take_profit_first: bool = False  # metadata.same_bar_priority: take_profit
    trailing_activation: float | None = None  # move in favour before the trailing stop starts
    take_profit_levels: tuple[tuple[float, float], ...] = ()  # (distance from the entry, share of the position)
    pyramiding_shares: tuple[float, ...] | None = None  # per entry: share of what one entry would commit
    risk: float | None = None  # percent_of_equity / risk_based: share of the equity
    entry_offset: float = 0.0  # limit / stop entries: distance from the signal bar's close

    @classmethod
    def from_config(cls, config: StrategyConfig, settings: BacktestSettings) -> EngineRules:
        """THE conversion of a strategy's config and a backtest's settings (percent) into the engine's rules."""
        pyramiding = config.pyramiding
        return cls(
            direction=1 if config.direction == "long" else -1,
            fee=settings.taker / 100.0,
            slippage=config.slippage / 100.0,
            stop_loss=fraction(config.stop_loss),
            take_profit=fraction(config.take_profit),
            trailing_stop=fraction(config.trailing_stop),
            leverage=float(settings.leverage),
            maintenance_margin=settings.maintenance_margin / 100.0,
            maker_fee=settings.maker / 100.0,
            take_profit_first=settings.same_bar_priority == "take_profit",
            trailing_activation=fraction(config.trailing_activation),
            take_profit_levels=tuple(
                (level.percent / 100.0, level.size / 100.0) for level in config.take_profit_levels
            ),
            pyramiding_shares=None if pyramiding is None else tuple(size / 100.0 for size in pyramiding.size),
            risk=fraction(config.risk_percentage),
            entry_offset=config.entry_order.offset / 100.0,
        )

    def entry_share(self, index: int) -> float:
        """Entry `index`'s share of what a single entry would commit (1 without pyramiding)."""
        return 1.0 if self.pyramiding_shares is None else self.pyramiding_shares[index]

    @property
    def can_liquidate(self) -> bool:
        """A long at leverage 1 is fully paid for: its liquidation price is 0, never reached."""
        return self.direction < 0 or self.leverage > 1.0

    def liquidation_price(self, entry_price: NDArray[Any]) -> NDArray[Any]:
        """Price at which the position's margin, after paying the exit fee, is down to the
        maintenance margin: entry * (1 - d/L) / (1 - d*(fee + mm)) for direction d = +1/-1.

        Derivation (long): margin = q*entry/L; at price P the margin left after the exit fee is
        q*entry/L + q*(P - entry) - fee*q*P, which equals mm*q*P at P = entry*(1 - 1/L)/(1 - fee - mm).
        Including the exit fee is what guarantees that no exit above it (below it for a short)
        can lose more than the equity committed to the trade.
        """
        d = self.direction
        return entry_price * ((1.0 - d / self.leverage) / (1.0 - d * (self.fee + self.maintenance_margin)))

    @property
    def has_price_exits(self) -> bool:
        return (
            self.stop_loss is not None
            or self.take_profit is not None
            or self.trailing_stop is not None
            or self.can_liquidate
        )
