"""Per-trade mae / mfe (price and percent) and bars, against a loop over the bars each trade held."""

from __future__ import annotations

import numpy as np
import pytest

from shared.candles import Candles
from shared.engine import BacktestSettings, run_backtest
from shared.strategy import validate_strategy

HOUR = 3_600_000


def candles(opens, highs, lows, closes) -> Candles:
    n = len(opens)
    return Candles.from_arrays(np.arange(n) * HOUR, opens, highs, lows, closes, np.ones(n))


def test_a_long_held_three_bars_then_closed_at_the_open() -> None:
    # Given an entry signal on bar 0's close (fills at bar 1's open, 100) and an exit signal on
    # bar 3's close (fills at bar 4's open, 104)
    data = candles(
        [99, 100, 103, 101, 104, 104],
        [99, 105, 108, 102, 110, 104],
        [99, 95, 102, 97, 90, 104],
        [99, 103, 101, 103, 104, 104],
    )
    strategy = validate_strategy(
        {
            "entry_rules": {
                "conditions": [{"indicator": "price", "params": {"source": "open"}, "comparator": "==", "value": 99}]
            },
            "exit_rules": {
                "conditions": [{"indicator": "price", "params": {"source": "high"}, "comparator": "==", "value": 102}]
            },
        }
    )
    trade = run_backtest(strategy, data, BacktestSettings(timeframe="1h")).trades.to_records()[0]
    # Then the excursions span bars 1-3 and the exit price: lowest 95, highest 108 (bar 4's 110
    # and 90 came after the exit at its open)
    assert (trade["entry_price"], trade["exit_price"], trade["bars"]) == (100.0, 104.0, 3)
    assert (trade["mae"], trade["mfe"]) == (5.0, 8.0)
    assert (trade["mae_percentage"], trade["mfe_percentage"]) == pytest.approx((5.0, 8.0))


@pytest.mark.parametrize(("seed", "direction"), [(1, "long"), (2, "short"), (3, "long")])
def test_random_backtests_match_a_loop_over_the_held_bars(seed: int, direction: str) -> None:
    rng = np.random.default_rng(seed)
    n = 500
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    data = candles(open_, high, low, close)
    strategy = validate_strategy(
        {
            "entry_rules": {
                "conditions": [{"indicator": "rsi", "params": {"period": 5}, "comparator": "<", "value": 40}]
            },
            "exit_rules": {
                "conditions": [{"indicator": "rsi", "params": {"period": 5}, "comparator": ">", "value": 60}]
            },
            "config": {"direction": direction, "stop_loss": 1.5, "take_profit": 2.5},
        }
    )
    trades = run_backtest(strategy, data, BacktestSettings(timeframe="1h")).trades
    assert len(trades) > 5
    for row in trades.to_records():
        start = row["entry_bar"]
        end = row["exit_bar"] if row["exit_bar"] is not None else n
        prices = [row["entry_price"], row["exit_price"]]
        lowest = min([*low[start:end], *prices])
        highest = max([*high[start:end], *prices])
        adverse, favourable = (
            (row["entry_price"] - lowest, highest - row["entry_price"])
            if direction == "long"
            else (highest - row["entry_price"], row["entry_price"] - lowest)
        )
        assert row["bars"] == end - start
        assert row["mae"] == pytest.approx(adverse) and row["mfe"] == pytest.approx(favourable)
        assert row["mae_percentage"] == pytest.approx(100 * adverse / row["entry_price"])
        assert row["mae"] >= 0 and row["mfe"] >= 0
