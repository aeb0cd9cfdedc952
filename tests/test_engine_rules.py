"""Percent -> fraction in one place (shared.engine.rules): a configuration written in percent
becomes the engine's rules in fractions, every field of it, and nothing else in the domain
package divides a configured percentage by 100."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared.backtest_settings import BacktestSettings
from shared.engine.rules import EngineRules, fraction
from shared.strategy import validate_strategy

SHARED = Path(__file__).resolve().parent.parent / "shared"
PRICE = {"indicator": "price", "params": {}, "comparator": ">", "value": 1}


def test_every_percent_of_a_configuration_becomes_its_fraction():
    # Given a strategy and settings with every percentage the engine reads
    strategy = validate_strategy(
        {
            "entry_rules": {"conditions": [PRICE]},
            "exit_rules": {"conditions": [PRICE]},
            "config": {
                "direction": "short",
                "position_sizing": "risk_based",
                "risk_percentage": 1.5,
                "stop_loss": 2,
                "take_profit": 8,
                "trailing_stop": 1.5,
                "trailing_activation": 1,
                "slippage": 0.05,
                "entry_order": {"type": "limit", "offset": 0.25, "expire_bars": 3},
                "take_profit_levels": [{"percent": 2, "size": 40}, {"percent": 4, "size": 60}],
            },
        }
    )
    settings = BacktestSettings(
        commission=0.1,
        maker_fee=0.02,
        taker_fee=0.04,
        leverage=3,
        maintenance_margin=0.5,
        same_bar_priority="take_profit",
    )
    # When the engine's rules are made from them
    rules = EngineRules.from_config(strategy.config, settings)
    # Then each is the percentage / 100, written out by hand
    assert (rules.direction, rules.leverage, rules.take_profit_first) == (-1, 3.0, True)
    assert rules.fee == pytest.approx(0.0004) and rules.maker_fee == pytest.approx(0.0002)
    assert rules.maintenance_margin == pytest.approx(0.005)
    assert rules.slippage == pytest.approx(0.0005)
    assert (rules.stop_loss, rules.take_profit, rules.trailing_stop) == pytest.approx((0.02, 0.08, 0.015))
    assert rules.trailing_activation == pytest.approx(0.01)
    assert rules.risk == pytest.approx(0.015)
    assert rules.entry_offset == pytest.approx(0.0025)
    assert [value for level in rules.take_profit_levels for value in level] == pytest.approx([0.02, 0.4, 0.04, 0.6])
    assert (rules.pyramiding_shares, rules.entry_share(0)) == (None, 1.0)


def test_pyramiding_sizes_become_shares_and_absent_stops_stay_absent():
    strategy = validate_strategy(
        {
            "entry_rules": {"conditions": [PRICE]},
            "exit_rules": {"conditions": [PRICE]},
            "config": {"pyramiding": {"max_entries": 3, "size": [50, 30, 20]}},
        }
    )
    rules = EngineRules.from_config(strategy.config, BacktestSettings())
    assert [rules.entry_share(k) for k in range(3)] == pytest.approx([0.5, 0.3, 0.2])
    assert (rules.stop_loss, rules.take_profit, rules.trailing_stop, rules.trailing_activation, rules.risk) == (
        None,
        None,
        None,
        None,
        None,
    )
    # the defaults: commission 0.1 % on both sides, maintenance margin 0.5 %, no slippage
    assert (rules.fee, rules.maker_fee, rules.maintenance_margin, rules.slippage) == pytest.approx(
        (0.001, 0.001, 0.005, 0.0)
    )
    assert (fraction(None), fraction(2.5)) == (None, pytest.approx(0.025))


def _divisions_by_100(tree: ast.AST) -> list[int]:
    """Lines of `x / 100`, `x / 100.0` and `x * 0.01`."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp)
        and (
            (isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant) and node.right.value == 100)
            or (
                isinstance(node.op, ast.Mult)
                and any(isinstance(side, ast.Constant) and side.value == 0.01 for side in (node.left, node.right))
            )
        )
    ]


def test_only_the_rules_module_turns_percent_into_fractions():
    # A funding-rate file may write its rates with a "%" (0.01%): parsing that text is not configuration.
    allowed = {SHARED / "engine" / "rules.py", SHARED / "market_data" / "funding_files.py"}
    found = {
        str(path.relative_to(SHARED.parent)): lines
        for path in sorted(SHARED.rglob("*.py"))
        if path not in allowed and (lines := _divisions_by_100(ast.parse(path.read_text())))
    }
    assert found == {}
    assert _divisions_by_100(ast.parse((SHARED / "engine" / "rules.py").read_text()))
