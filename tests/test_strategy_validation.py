"""validate_strategy: the strategy it returns for good input, and every error, named by field,
for bad input; nothing else ever escapes. with_parameters: what a sweep varies."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.candles import Candles
from shared.errors import FieldError, ValidationFailed
from shared.indicators import REGISTRY, SOURCES, series_ref
from shared.strategy import Strategy, StrategyConfig, VariantMemo, validate_strategy, with_parameters
from shared.strategy.rules import Condition, RuleGroup


def cond(indicator="rsi", params=None, comparator="<", value=30) -> dict:
    out = {"indicator": indicator, "comparator": comparator, "value": value}
    if params is not None:
        out["params"] = params
    return out


def strategy(*conditions, config=None, exit_conditions=None) -> dict:
    body = {"entry_rules": {"operator": "and", "conditions": list(conditions) or [cond()]}}
    if config is not None:
        body["config"] = config
    if exit_conditions is not None:
        body["exit_rules"] = {"operator": "or", "conditions": exit_conditions}
    return body


def errors_of(body) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as raised:
        validate_strategy(body)
    assert all(isinstance(e, FieldError) for e in raised.value.errors)
    return {e.field: e.message for e in raised.value.errors}


# -- good input ---------------------------------------------------------------------------------


def test_a_full_strategy_parses_into_rules_and_config() -> None:
    body = {
        "name": "ignored: the API passes its whole body",
        "entry_rules": {
            "operator": "and",
            "conditions": [
                {
                    "indicator": "sma",
                    "params": {"period": "$fast"},
                    "comparator": "crosses_above",
                    "value": {"indicator": "sma", "params": {"period": "$slow"}},
                },
                {"operator": "or", "conditions": [cond("rsi", {"period": 14}, "<", 70), cond("adx", {}, ">", 20)]},
            ],
        },
        "exit_rules": {"operator": "or", "conditions": [cond("macd", {"output": "histogram"}, "crosses_below", 0)]},
        "config": {
            "direction": "short",
            "position_sizing": "risk_based",
            "risk_percentage": 1,
            "stop_loss": 2,
            "take_profit": 4.5,
            "trailing_stop": 1.5,
            "slippage": 0.05,
            "parameters": {"fast": 10, "slow": 50},
        },
    }
    parsed = validate_strategy(body)
    assert isinstance(parsed, Strategy)
    assert parsed.config == StrategyConfig(
        direction="short",
        position_sizing="risk_based",
        risk_percentage=1.0,
        stop_loss=2.0,
        take_profit=4.5,
        trailing_stop=1.5,
        slippage=0.05,
        parameters={"fast": 10.0, "slow": 50.0},
    )
    fast, slow = series_ref("sma", {"period": 10}), series_ref("sma", {"period": 50})
    assert parsed.entry == RuleGroup(
        "and",
        (
            Condition(fast, "crosses_above", slow),
            RuleGroup(
                "or",
                (
                    Condition(series_ref("rsi", {"period": 14}), "<", 70.0),
                    Condition(series_ref("adx", {}), ">", 20.0),
                ),
            ),
        ),
    )
    assert parsed.exit == RuleGroup("or", (Condition(series_ref("macd", {}, "histogram"), "crosses_below", 0.0),))
    assert body["entry_rules"]["conditions"][0]["params"] == {"period": "$fast"}  # input untouched


def test_defaults_when_optional_parts_are_absent() -> None:
    parsed = validate_strategy({"entry_rules": {"conditions": [cond()]}})
    assert parsed.config == StrategyConfig()
    assert parsed.entry.operator == "and"
    assert parsed.exit is None
    for empty in (None, {}, {"operator": "and", "conditions": []}):
        assert validate_strategy({**strategy(), "exit_rules": empty}).exit is None


@pytest.mark.parametrize(
    ("word", "symbol"),
    [
        ("greater_than", ">"),
        ("gte", ">="),
        ("Less_Than", "<"),
        ("less_than_or_equal", "<="),
        ("equals", "=="),
        ("cross_above", "crosses_above"),
        ("crosses_below", "crosses_below"),
        (" > ", ">"),
    ],
)
def test_comparator_word_forms(word: str, symbol: str) -> None:
    assert validate_strategy(strategy(cond(comparator=word))).entry.conditions[0].comparator == symbol


@pytest.mark.parametrize(
    ("sizing", "fields"),
    [
        ("all_in", {}),
        ("percent_of_equity", {"risk_percentage": 10}),
        ("fixed_quantity", {"quantity": 0.5}),
        ("fixed_notional", {"notional": 1000}),
        ("risk_based", {"risk_percentage": 1, "stop_loss": 2}),
    ],
)
def test_each_position_sizing_with_what_it_needs(sizing: str, fields: dict) -> None:
    config = validate_strategy(strategy(config={"position_sizing": sizing, **fields})).config
    assert config.position_sizing == sizing
    for name, value in fields.items():
        assert getattr(config, name) == value


def test_percent_bounds_follow_the_direction() -> None:
    # A short's stop loss may exceed 100 % (price rising 3x); its take profit may not reach 100 %
    short_config = {"direction": "short", "stop_loss": 200, "trailing_stop": 150, "take_profit": 99}
    short = validate_strategy(strategy(config=short_config))
    assert (short.config.stop_loss, short.config.trailing_stop, short.config.take_profit) == (200, 150, 99)
    long = validate_strategy(strategy(config={"stop_loss": 99.9, "take_profit": 500}))
    assert (long.config.stop_loss, long.config.take_profit) == (99.9, 500)


def test_mavp_periods_is_any_series_a_condition_value_can_name() -> None:
    # Given mavp conditions whose periods is a price field, a $name, an indicator object
    body = strategy(
        cond("mavp", {"periods": "volume", "maxperiod": 40}, ">", "close"),
        cond("mavp", {"periods": "$len"}, ">", 0),
        cond(
            "mavp",
            {
                "periods": {"indicator": "aroon", "params": {"period": 10, "output": "aroonup", "offset": 1}},
                "minperiod": 5,
                "matype": 1,
            },
            "<",
            {"indicator": "mavp", "params": {"periods": {"indicator": "rsi", "params": {"timeframe": "4h"}}}},
        ),
        config={"parameters": {"len": 12}},
    )
    first, second, third = validate_strategy(body).entry.conditions
    assert first.left == series_ref("mavp", {"periods": series_ref("price", {"source": "volume"}), "maxperiod": 40})
    assert second.left == series_ref("mavp", {"periods": 12.0})
    aroon = series_ref("aroon", {"timeperiod": 10}, "aroonup", offset=1)
    assert third.left == series_ref("mavp", {"periods": aroon, "minperiod": 5, "matype": 1})
    assert third.left.warmup == 10 + 1 + 29
    # A coarser timeframe inside a series parameter is one the strategy reads
    assert validate_strategy(body).timeframes() == {"4h"}
    # and a sweep reaches the nested period by its path
    swept = with_parameters(body, {"entry_rules.conditions[2].params.periods.params.period": 20})
    assert validate_strategy(swept).entry.conditions[2].left.series[0][1].params == (("timeperiod", 20),)


def test_integral_floats_are_accepted_as_periods() -> None:
    parsed = validate_strategy(strategy(cond("rsi", {"period": 14.0}), config={"parameters": {"p": 7.0}}))
    assert parsed.entry.conditions[0].left == series_ref("rsi", {"period": 14})


# -- the error matrix -------------------------------------------------------------------------

C0 = "entry_rules.conditions[0]"
INVALID = [
    # (description, body, field, part of the message)
    ("not an object", [], "strategy", "must be an object"),
    ("entry rules missing", {"config": {}}, "entry_rules", "is required"),
    (
        "entry rules empty",
        {"entry_rules": {"operator": "and", "conditions": []}},
        "entry_rules.conditions",
        "at least one",
    ),
    ("rules not a group", {"entry_rules": [cond()]}, "entry_rules", "must be an object"),
    ("conditions not a list", {"entry_rules": {"conditions": cond()}}, "entry_rules.conditions", "must be a list"),
    (
        "bad operator",
        {"entry_rules": {"operator": "xor", "conditions": [cond()]}},
        "entry_rules.operator",
        "'and' or 'or'",
    ),
    ("unknown group field", {"entry_rules": {"conditions": [cond()], "mode": 1}}, "entry_rules.mode", "unknown field"),
    ("condition not an object", strategy("rsi < 30"), C0, "must be a condition"),
    ("unknown indicator", strategy(cond("supertrendz")), C0 + ".indicator", "unknown indicator 'supertrendz'"),
    ("indicator missing", strategy({"comparator": ">", "value": 1}), C0 + ".indicator", "is required"),
    ("unknown condition field", strategy({**cond(), "weight": 2}), C0 + ".weight", "unknown field"),
    ("period not a number", strategy(cond(params={"period": "14"})), C0 + ".params.period", "must be a number"),
    ("period a bool", strategy(cond(params={"period": True})), C0 + ".params.period", "must be a number"),
    ("period fractional", strategy(cond(params={"period": 14.5})), C0 + ".params.period", "whole number"),
    ("period too small", strategy(cond("rsi", {"period": 1})), C0 + ".params.period", "between 2 and 100000"),
    ("period too large", strategy(cond(params={"period": 10**6})), C0 + ".params.period", "between 2"),
    ("period infinite", strategy(cond(params={"period": math.inf})), C0 + ".params.period", "must be a number"),
    ("period overflowing", strategy(cond(params={"period": 10**400})), C0 + ".params.period", "must be a number"),
    ("unknown param", strategy(cond(params={"peroid": 14})), C0 + ".params.peroid", "unknown parameter of rsi"),
    ("params not an object", strategy(cond(params=[14])), C0 + ".params", "must be an object"),
    ("unknown source", strategy(cond(params={"source": "typical"})), C0 + ".params.source", "must be one of"),
    (
        "source on an HLC indicator",
        strategy(cond("atr", {"source": "close"}, ">", 1)),
        C0 + ".params.source",
        "unknown parameter of atr",
    ),
    (
        "unknown output",
        strategy(cond("macd", {"output": "hist"}, ">", 0)),
        C0 + ".params.output",
        "outputs: macd, macdsignal, macdhist",
    ),
    (
        "output of a single-output indicator",
        strategy(cond(params={"output": "value"})),
        C0 + ".params.output",
        "unknown parameter",
    ),
    (
        "macd periods inverted",
        strategy(cond("macd", {"fast_period": 30, "slow_period": 10}, ">", 0)),
        C0 + ".params",
        "fastperiod must be less than slowperiod",
    ),
    (
        "alias and name both given",
        strategy(cond("bbands", {"std_dev": 1, "nbdevup": 2}, ">", 0)),
        C0 + ".params.nbdevup",
        "already given as std_dev",
    ),
    (
        "acceleration out of range",
        strategy(cond("sar", {"acceleration": -1}, ">", 0)),
        C0 + ".params.acceleration",
        "between 0 and",
    ),
    (
        "choice not offered",
        strategy(cond("pivots", {"kind": "demark"}, ">", 0)),
        C0 + ".params.kind",
        "must be one of standard, fibonacci, camarilla, woodie",
    ),
    (
        "timeframe unknown",
        strategy(cond("rsi", {"timeframe": "2h"}, ">", 0)),
        C0 + ".params.timeframe",
        "must be one of 1m",
    ),
    ("negative offset", strategy(cond(params={"offset": -1})), C0 + ".params.offset", "from 0 to"),
    ("mavp without periods", strategy(cond("mavp", {"maxperiod": 20}, ">", 0)), C0 + ".params.periods", "is required"),
    (
        "mavp periods an unknown field",
        strategy(cond("mavp", {"periods": "rsi"}, ">", 0)),
        C0 + ".params.periods",
        "unknown price field 'rsi'",
    ),
    (
        "mavp periods a bool",
        strategy(cond("mavp", {"periods": True}, ">", 0)),
        C0 + ".params.periods",
        "must be a number",
    ),
    (
        "mavp periods' own bad period",
        strategy(cond("mavp", {"periods": {"indicator": "rsi", "params": {"period": 1}}}, ">", 0)),
        C0 + ".params.periods.params.period",
        "between 2 and 100000",
    ),
    (
        "mavp periods' unknown output",
        strategy(cond("mavp", {"periods": {"indicator": "aroon", "params": {"output": "up"}}}, ">", 0)),
        C0 + ".params.periods.params.output",
        "outputs: aroondown, aroonup",
    ),
    (
        "mavp periods unresolved $name",
        strategy(cond("mavp", {"periods": "$p"}, ">", 0)),
        C0 + ".params.periods",
        "$p is not defined",
    ),
    (
        "mavp minperiod over maxperiod",
        strategy(cond("mavp", {"periods": 10, "minperiod": 40}, ">", 0)),
        C0 + ".params",
        "minperiod must not exceed maxperiod",
    ),
    (
        "mavp periods on its own timeframe",
        strategy(
            cond("mavp", {"timeframe": "1d", "periods": {"indicator": "rsi", "params": {"timeframe": "4h"}}}, ">", 0)
        ),
        C0 + ".params.periods",
        "may not set its own",
    ),
    (
        "periods on another indicator",
        strategy(cond("sma", {"periods": 10}, ">", 0)),
        C0 + ".params.periods",
        "unknown parameter of sma",
    ),
    ("unknown comparator", strategy(cond(comparator="above")), C0 + ".comparator", "unknown comparator 'above'"),
    ("comparator missing", strategy({"indicator": "rsi", "value": 30}), C0 + ".comparator", "is required"),
    ("comparator not a string", strategy(cond(comparator=1)), C0 + ".comparator", "unknown comparator"),
    ("value missing", strategy({"indicator": "rsi", "comparator": "<"}), C0 + ".value", "is required"),
    ("value an unknown field", strategy(cond(value="price")), C0 + ".value", "unknown price field 'price'"),
    ("value a bool", strategy(cond(value=False)), C0 + ".value", "must be a number"),
    ("value a list", strategy(cond(value=[30])), C0 + ".value", "must be a number"),
    (
        "value indicator unknown",
        strategy(cond(value={"indicator": "kamax"})),
        C0 + ".value.indicator",
        "unknown indicator",
    ),
    (
        "value indicator bad period",
        strategy(cond(value={"indicator": "sma", "params": {"period": 0}})),
        C0 + ".value.params.period",
        "between 1",
    ),
    (
        "value indicator output misplaced",
        strategy(cond(value={"indicator": "macd", "output": "signal"})),
        C0 + ".value.output",
        "unknown field",
    ),
    (
        "unresolved $name in params",
        strategy(cond(params={"period": "$len"})),
        C0 + ".params.period",
        "$len is not defined in config.parameters",
    ),
    ("unresolved $name as value", strategy(cond(value="$floor")), C0 + ".value", "$floor is not defined"),
    (
        "$name resolving to a bad period",
        strategy(cond(params={"period": "$p"}), config={"parameters": {"p": 2.5}}),
        C0 + ".params.period",
        "whole number, got 2.5 (from $p)",
    ),
    (
        "nested group error path",
        strategy({"operator": "or", "conditions": [cond(), cond(params={"period": 0})]}),
        C0 + ".conditions[1].params.period",
        "between 2",
    ),
    ("nested group empty", strategy({"operator": "or", "conditions": []}), C0 + ".conditions", "at least one"),
    (
        "exit rules error path",
        strategy(exit_conditions=[cond(comparator="?")]),
        "exit_rules.conditions[0].comparator",
        "unknown comparator",
    ),
    ("config not an object", strategy(config=[1]), "config", "must be an object"),
    ("unknown config field", strategy(config={"leverage": 3}), "config.leverage", "unknown field"),
    ("bad direction", strategy(config={"direction": "sideways"}), "config.direction", "long, short"),
    (
        "bad sizing",
        strategy(config={"position_sizing": "kelly"}),
        "config.position_sizing",
        "all_in, percent_of_equity",
    ),
    (
        "percent_of_equity without risk",
        strategy(config={"position_sizing": "percent_of_equity"}),
        "config.risk_percentage",
        "required when position_sizing is percent_of_equity",
    ),
    (
        "fixed_quantity without quantity",
        strategy(config={"position_sizing": "fixed_quantity"}),
        "config.quantity",
        "required",
    ),
    (
        "fixed_notional without notional",
        strategy(config={"position_sizing": "fixed_notional"}),
        "config.notional",
        "required",
    ),
    (
        "risk_based without stop",
        strategy(config={"position_sizing": "risk_based", "risk_percentage": 1}),
        "config.stop_loss",
        "required when position_sizing is risk_based",
    ),
    ("risk over 100", strategy(config={"risk_percentage": 150}), "config.risk_percentage", "at most 100"),
    ("quantity zero", strategy(config={"quantity": 0}), "config.quantity", "greater than 0"),
    ("stop loss zero", strategy(config={"stop_loss": 0}), "config.stop_loss", "greater than 0"),
    ("long stop loss of 100 %", strategy(config={"stop_loss": 100}), "config.stop_loss", "less than 100"),
    ("long trailing stop over 100 %", strategy(config={"trailing_stop": 120}), "config.trailing_stop", "less than 100"),
    (
        "short take profit of 100 %",
        strategy(config={"direction": "short", "take_profit": 100}),
        "config.take_profit",
        "less than 100",
    ),
    ("take profit absurd", strategy(config={"take_profit": 5000}), "config.take_profit", "at most 1000"),
    ("stop loss a string", strategy(config={"stop_loss": "2%"}), "config.stop_loss", "percentage"),
    ("negative slippage", strategy(config={"slippage": -0.1}), "config.slippage", "from 0 to 10"),
    ("parameters not an object", strategy(config={"parameters": [10]}), "config.parameters", "must be an object"),
    (
        "parameter not a number",
        strategy(config={"parameters": {"fast": "10"}}),
        "config.parameters.fast",
        "must be a number",
    ),
    (
        "parameter badly named",
        strategy(config={"parameters": {"2fast": 10}}),
        "config.parameters.2fast",
        "letters, digits",
    ),
]


@pytest.mark.parametrize(
    ("body", "field", "message"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_input_names_the_field(body, field: str, message: str) -> None:
    errors = errors_of(body)
    assert field in errors, errors
    assert message in errors[field], errors[field]


def test_every_problem_is_reported_at_once() -> None:
    body = {
        "entry_rules": {"operator": "xor", "conditions": [cond("nope"), cond(params={"period": -3}, comparator="~")]},
        "exit_rules": {"conditions": [cond(value="$missing")]},
        "config": {"position_sizing": "risk_based", "stop_loss": -1},
    }
    assert set(errors_of(body)) == {
        "entry_rules.operator",
        "entry_rules.conditions[0].indicator",
        "entry_rules.conditions[1].params.period",
        "entry_rules.conditions[1].comparator",
        "exit_rules.conditions[0].value",
        "config.stop_loss",
        "config.risk_percentage",
    }


def test_nesting_and_size_are_bounded() -> None:
    group = cond()
    for _ in range(12):
        group = {"operator": "and", "conditions": [group]}
    assert any("nest at most" in message for message in errors_of({"entry_rules": group}).values())
    many = strategy(*[cond() for _ in range(101)])
    assert "at most 100 conditions" in errors_of(many)["entry_rules.conditions[100]"]


# -- nothing but ValidationFailed, whatever arrives --------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
# Near-valid pieces, so that the fuzzing reaches the deep checks too.
names = st.sampled_from(["sma", "ema", "rsi", "macd", "bbands", "stoch", "donchian", "price", "obv", "nope", ""])
param_values = st.one_of(
    st.integers(-5, 60),
    st.floats(allow_nan=True),
    st.sampled_from(["$p", "$q", "close", "hl2", "line", "upper", "k"]),
    json_values,
)
param_names = st.sampled_from(["period", "source", "output", "offset", "std_dev", "fast_period", "slow_period", "x"])
params = st.dictionaries(param_names, param_values, max_size=4)
operands = st.one_of(
    st.floats(),
    st.integers(),
    st.sampled_from(["close", "open", "$p", "$z", "hl3"]),
    st.fixed_dictionaries({"indicator": names, "params": params}),
    json_values,
)
comparators = st.sampled_from([">", "<=", "crosses_above", "equals", "=>", 3])
conditions = st.fixed_dictionaries({"indicator": names, "params": params, "comparator": comparators, "value": operands})
groups = st.recursive(
    conditions,
    lambda children: st.fixed_dictionaries(
        {"operator": st.sampled_from(["and", "or", "nand"]), "conditions": st.lists(children, max_size=3)}
    ),
    max_leaves=6,
)
config_values = st.one_of(
    st.sampled_from(["long", "short", "risk_based", "all_in"]),
    st.floats(),
    st.integers(-10, 200),
    st.dictionaries(st.sampled_from(["p", "q", "1"]), json_values | st.integers(2, 30), max_size=3),
    json_values,
)
configs = st.dictionaries(
    st.sampled_from(["direction", "position_sizing", "risk_percentage", "stop_loss", "take_profit", "parameters", "x"]),
    config_values,
    max_size=5,
)
near_valid = st.fixed_dictionaries({"entry_rules": groups, "exit_rules": st.none() | groups, "config": configs})

_fuzz_close = 100 + np.cumsum(np.random.default_rng(0).normal(size=60))
FUZZ_CANDLES = Candles.from_arrays(
    np.arange(60), _fuzz_close, _fuzz_close + 1, _fuzz_close - 1, _fuzz_close, np.ones(60)
)


def evaluates_cleanly(strategy: Strategy) -> None:
    """Boolean signals for every bar, and no numpy warning on the way."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        signals = strategy.signals(FUZZ_CANDLES)
    assert signals.entry.dtype == bool and signals.exit.dtype == bool
    assert len(signals.entry) == len(signals.exit) == len(FUZZ_CANDLES)
    assert 0 <= signals.warmup <= len(FUZZ_CANDLES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values | near_valid)
def test_any_input_gives_a_strategy_or_validation_failed(body) -> None:
    before = copy.deepcopy(body)
    try:
        result = validate_strategy(body)
    except ValidationFailed as failed:
        assert failed.errors and all(isinstance(e, FieldError) and e.field for e in failed.errors)  # noqa: PT017 - hypothesis: either outcome, each checked
    else:
        assert isinstance(result, Strategy)
        evaluates_cleanly(result)
    assert repr(body) == repr(before)  # the input is never modified


@st.composite
def valid_indicators(draw) -> dict:
    """Any registered indicator with parameters drawn from its valid ranges (short periods)."""
    spec = REGISTRY[draw(st.sampled_from(sorted(REGISTRY)))]
    params: dict = {}
    for param in spec.params:
        if draw(st.booleans()):
            if param.choices:
                params[param.name] = draw(st.sampled_from(param.choices))
            elif param.integer:
                params[param.name] = draw(st.integers(int(param.minimum), min(int(param.maximum), 70)))
            else:
                params[param.name] = draw(st.floats(param.minimum, min(param.maximum, 5.0)))
    if spec.name == "macd" and params.get("fastperiod", 12) >= params.get("slowperiod", 26):
        params["fastperiod"], params["slowperiod"] = 12, 26
    if spec.name == "mavp" and params.get("minperiod", 2) > params.get("maxperiod", 30):
        params["minperiod"], params["maxperiod"] = 2, 30
    if spec.default_source and draw(st.booleans()):
        params["source"] = draw(st.sampled_from(SOURCES))
    for name in spec.series_params:  # a price field or a number (the indicator objects recurse below)
        params[name] = draw(st.sampled_from(SOURCES) | st.integers(1, 80))
    if len(spec.outputs) > 1 and draw(st.booleans()):
        params["output"] = draw(st.sampled_from(spec.outputs))
    if draw(st.booleans()):
        params["offset"] = draw(st.integers(0, 3))
    return {"indicator": spec.name, "params": params}


valid_conditions = st.builds(
    lambda left, comparator, value: {**left, "comparator": comparator, "value": value},
    valid_indicators(),
    st.sampled_from([">", ">=", "<", "<=", "==", "crosses_above", "crosses_below", "less_than"]),
    st.one_of(st.floats(-1e6, 1e6), st.sampled_from(SOURCES), valid_indicators()),
)
valid_groups = st.recursive(
    valid_conditions.map(lambda c: {"conditions": [c]}),
    lambda children: st.fixed_dictionaries(
        {
            "operator": st.sampled_from(["and", "or"]),
            "conditions": st.lists(children | valid_conditions, min_size=1, max_size=3),
        }
    ),
    max_leaves=5,
)


@settings(max_examples=150, deadline=None)
@given(valid_groups, st.none() | valid_groups)
def test_every_valid_strategy_evaluates_to_boolean_signals(entry_rules, exit_rules) -> None:
    evaluates_cleanly(validate_strategy({"entry_rules": entry_rules, "exit_rules": exit_rules}))


# -- with_parameters ---------------------------------------------------------------------------


def test_with_parameters_sets_named_parameters_and_dotted_paths() -> None:
    body = strategy(cond("sma", {"period": "$fast"}, ">", 1), config={"stop_loss": 2, "parameters": {"fast": 10}})
    swept = with_parameters(
        body, {"fast": 20, "config.stop_loss": 3.5, "config.take_profit": 7, "entry_rules.conditions[0].value": 5}
    )
    assert swept["config"]["parameters"] == {"fast": 20}
    assert swept["config"]["stop_loss"] == 3.5 and swept["config"]["take_profit"] == 7
    assert swept["entry_rules"]["conditions"][0]["value"] == 5
    assert body["config"] == {"stop_loss": 2, "parameters": {"fast": 10}}  # the original is untouched
    parsed = validate_strategy(swept)
    assert parsed.entry.conditions[0].left == series_ref("sma", {"period": 20})


def test_with_parameters_copies_what_it_sets_and_shares_only_what_no_override_changes() -> None:
    # Given a strategy with two conditions, and a variant setting a named parameter and a path
    first, second = cond("sma", {"period": "$fast"}, ">", 1), cond("rsi", {"period": 14}, "<", 70)
    body = strategy(first, second, config={"stop_loss": 2, "parameters": {"fast": 10, "slow": 50}})
    before = copy.deepcopy(body)
    variant = with_parameters(body, {"fast": 20, "entry_rules.conditions[0].value": 5})
    # Then the input is untouched, and what the variant set lives in containers of its own
    assert body == before
    assert variant["config"]["parameters"] == {"fast": 20, "slow": 50}
    rules = variant["entry_rules"]
    for own in (variant, variant["config"], variant["config"]["parameters"], rules, rules["conditions"]):
        assert all(own is not container for container in _containers(body))
    assert all(rules["conditions"][0] is not container for container in _containers(body))
    # while the condition nothing set is the input's own (not copied)
    assert variant["entry_rules"]["conditions"][1] is body["entry_rules"]["conditions"][1]
    # And a variant of the variant, setting what the first shares with the input, changes neither
    again = with_parameters(variant, {"entry_rules.conditions[1].params.period": 21, "slow": 60, "config.stop_loss": 3})
    assert body == before
    assert variant["entry_rules"]["conditions"][1]["params"]["period"] == 14
    assert (variant["config"]["parameters"]["slow"], variant["config"]["stop_loss"]) == (50, 2)
    assert again["entry_rules"]["conditions"][1]["params"]["period"] == 21
    assert again["config"]["parameters"] == {"fast": 20, "slow": 60} and again["config"]["stop_loss"] == 3


def test_a_variant_memo_changes_no_outcome_of_validating_variants() -> None:
    # Given a strategy whose indicator objects read $names (one nested in a series parameter, one
    # as a numeric operand), and variants of it: valid, invalid (rsi periods of 1, one of them in
    # mavp's series parameter) and set by a path inside the rules (an object the variant copies)
    body = strategy(
        cond("sma", {"period": "$fast"}, "crosses_above", {"indicator": "sma", "params": {"period": "$slow"}}),
        cond("rsi", {"period": "$fast"}, "<", "$level"),
        cond("mavp", {"periods": {"indicator": "rsi", "params": {"period": "$slow"}}, "minperiod": "$fast"}, ">", 1),
        config={"parameters": {"fast": 10, "slow": 50, "level": 30}},
    )
    overrides = [
        {"fast": 10, "slow": 50},
        {"fast": 1, "slow": 1},  # both rsi periods 1: invalid
        {"fast": 10, "slow": 60},
        {"fast": 1, "slow": 1},  # the same errors again (now from the memo)
        {"fast": 1, "slow": 60},
        {"fast": 12, "slow": 50, "level": 40},
        {"fast": 10, "slow": 50, "entry_rules.conditions[1].params.period": 1},  # a copied object, invalid
        {"fast": 10, "slow": 50, "entry_rules.conditions[1].params.period": 14},
        {"fast": 12, "slow": 50, "level": 40},  # repeated after the path overrides
    ]
    memo = VariantMemo(body)

    def outcome(variant: dict, memo: VariantMemo | None) -> object:
        try:
            return validate_strategy(variant, memo)
        except ValidationFailed as error:
            return error.errors

    # Then each variant's outcome (the parsed strategy, or every error in order) is the memo-less one
    for values in overrides:
        variant = with_parameters(body, values)
        assert outcome(variant, memo) == outcome(variant, None), values
    refused = outcome(with_parameters(body, {"fast": 1, "slow": 1}), memo)
    assert [error.field for error in refused] == [
        "entry_rules.conditions[1].params.period",
        "entry_rules.conditions[2].params.periods.params.period",
    ]
    # And a memo of another strategy changes nothing either (none of its objects are that one's)
    other = strategy(cond("sma", {"period": "$fast"}, ">", 1), config={"parameters": {"fast": 1}})
    assert outcome(other, memo) == outcome(other, None) != outcome(body, None)


def _containers(value: object) -> list[object]:
    """Every dict and list inside `value`, itself included."""
    inside = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    found: list[object] = [value] if isinstance(value, (dict, list)) else []
    for item in inside:
        found += _containers(item)
    return found


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("slow", "not declared in config.parameters"),
        ("config.parameters.x.y", "'x' does not exist"),
        ("entry_rules.conditions[5].value", "[5] does not exist"),
        ("entry_rules.conditions[3]", "[3] does not exist"),
        ("config..stop_loss", "not a valid path"),
        ("entry_rules.conditions[0].params.period.deep", "parent is not an object"),
    ],
)
def test_with_parameters_rejects_unknown_targets(key: str, message: str) -> None:
    body = strategy(cond("sma", {"period": 10}, ">", 1), config={"parameters": {"fast": 10}})
    with pytest.raises(ValidationFailed) as raised:
        with_parameters(body, {key: 1})
    assert raised.value.errors[0].field == key
    assert message in raised.value.errors[0].message
