"""Position sizes and the equity before each trade, for a chain of trades whose prices are known.

Every mode is expressed through the share phi of equity a trade commits as margin plus entry fee
(units = phi * equity * L / (entry * (1 + L*fee))), capped at phi = 1: no mode can buy more than
equity * leverage can pay for, so a trade can never lose more than the equity it commits.

- all_in: phi = 1, i.e. units = equity * L / (entry * (1 + L*fee)) (equity / (entry * (1 + fee))
  at leverage 1).
- percent_of_equity: phi = risk_percentage / 100.
- risk_based: units = equity * risk% / (entry * stop_loss%), the loss at the stop before fees,
  i.e. phi = (risk% / stop_loss%) * (1 + L*fee) / L.
- fixed_quantity: units = quantity; fixed_notional: units = notional / entry.

The first three are proportional to equity, so equity follows a cumulative product of per-trade
growth factors (vectorised). The fixed modes are not (the cap binds only once equity is small),
so they run one O(1) Python step per trade. Once equity is zero (after a liquidation of a position
that committed everything) no further trade opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.engine.exits import EXIT_REASONS, LIQUIDATION, OPEN, TAKE_PROFIT
from shared.engine.rules import EngineRules
from shared.strategy.model import StrategyConfig

PROPORTIONAL_MODES = ("all_in", "percent_of_equity", "risk_based")


@dataclass(frozen=True, eq=False)
class Positions:
    """Per taken trade (the first `len` trades of the chain): size, equity before entry, results."""

    quantity: NDArray[Any]
    equity_before: NDArray[Any]
    equity_after: NDArray[Any]  # cash once the trade is closed (marked at the last close if open)
    entry_fee: NDArray[Any]
    pnl: NDArray[Any]
    fees: NDArray[Any]

    def __len__(self) -> int:
        return len(self.quantity)


def size_positions(
    entry_price: NDArray[Any],
    exit_price: NDArray[Any],
    exit_reason: NDArray[Any],
    config: StrategyConfig,
    rules: EngineRules,
    initial_balance: float,
) -> Positions:
    """Sizes for the chain's trades in order; may return fewer rows once equity reaches zero."""
    leverage, fee = rules.leverage, rules.fee
    rate_by_reason = np.full(len(EXIT_REASONS), fee)  # what each exit reason pays, looked up per trade
    rate_by_reason[[OPEN, LIQUIDATION, TAKE_PROFIT]] = 0.0, fee + rules.maintenance_margin, rules.maker_fee
    exit_fee_rate = rate_by_reason[exit_reason]
    fee_per_unit = fee * entry_price + exit_fee_rate * exit_price
    pnl_per_unit = rules.direction * (exit_price - entry_price) - fee_per_unit
    units_per_equity = leverage / (entry_price * (1.0 + leverage * fee))
    liquidated = exit_reason == LIQUIDATION

    if config.position_sizing in PROPORTIONAL_MODES:
        share = _proportional_share(config, rules)
        growth = 1.0 + (share * units_per_equity) * pnl_per_unit
        # A liquidation loses exactly the committed share; computing it directly keeps an all-in
        # liquidation at exactly zero equity instead of a rounding residue.
        growth[liquidated] = 1.0 - share
        np.maximum(growth, 0.0, out=growth)
        equity = np.cumprod(np.concatenate(([float(initial_balance)], growth)))
        taken = _count_while_positive(equity[:-1])
        equity_before, equity_after = equity[:taken], equity[1 : taken + 1]
        quantity = share * units_per_equity[:taken] * equity_before
    else:
        quantity, equity_before, equity_after = _fixed_sizes(
            units_per_equity, liquidated, pnl_per_unit, entry_price, config, initial_balance
        )
        taken = len(quantity)
    return Positions(
        quantity=quantity,
        equity_before=equity_before,
        equity_after=equity_after,
        entry_fee=quantity * (fee * entry_price[:taken]),
        pnl=quantity * pnl_per_unit[:taken],
        fees=quantity * fee_per_unit[:taken],
    )


def _proportional_share(config: StrategyConfig, rules: EngineRules) -> float:
    if config.position_sizing == "all_in":
        return 1.0
    # the strategy validator guarantees a risk_percentage, and for risk_based a stop_loss
    assert rules.risk is not None
    if config.position_sizing == "percent_of_equity":
        return min(1.0, rules.risk)
    assert rules.stop_loss is not None
    risk, stop = rules.risk, rules.stop_loss
    return min(1.0, (risk / stop) * (1.0 + rules.leverage * rules.fee) / rules.leverage)


def _count_while_positive(equity_before: NDArray[Any]) -> int:
    broke = np.flatnonzero(equity_before <= 0.0)
    return int(broke[0]) if len(broke) else len(equity_before)


def _fixed_sizes(
    units_per_equity: NDArray[Any],
    liquidated: NDArray[Any],
    pnl_per_unit: NDArray[Any],
    entry_price: NDArray[Any],
    config: StrategyConfig,
    initial_balance: float,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    wanted: NDArray[Any]
    if config.position_sizing == "fixed_quantity":
        assert config.quantity is not None  # the strategy validator requires it
        wanted = np.full(len(entry_price), float(config.quantity))
    else:
        assert config.notional is not None  # the strategy validator requires it
        wanted = config.notional / entry_price
    quantities: list[float] = []
    before: list[float] = []
    after: list[float] = []
    equity = float(initial_balance)
    for want, per_equity, per_unit, liquidation in zip(
        wanted.tolist(), units_per_equity.tolist(), pnl_per_unit.tolist(), liquidated.tolist()
    ):
        if equity <= 0.0:
            break
        cap = per_equity * equity
        quantity = min(want, cap)
        quantities.append(quantity)
        before.append(equity)
        equity = 0.0 if (liquidation and quantity == cap) else max(0.0, equity + quantity * per_unit)
        after.append(equity)
    return (
        np.array(quantities, dtype=np.float64),
        np.array(before, dtype=np.float64),
        np.array(after, dtype=np.float64),
    )
