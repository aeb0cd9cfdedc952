"""Search methods beyond the grid (issue 17), in-process: constraints (parsed, never evaluated as
code), random samples (reproducible, distinct, of the grid), the Bayesian rounds (TPE finds a known
optimum), ranking by direction and min_trades, the heatmap, and the dry run's estimate."""

from __future__ import annotations

import itertools

import pytest

from shared.errors import ValidationFailed
from shared.optimizations.bayesian import ask_round, tell_round
from shared.optimizations.constraints import parse_constraints
from shared.optimizations.estimate import LAMBDA_GB_SECOND_USD, batch_seconds, estimate_sweep
from shared.optimizations.heatmap import heatmap
from shared.optimizations.sweep import (
    default_direction,
    parameter_grid,
    random_combinations,
    rank,
    search_space,
    summary_metrics,
)
from shared.optimizations.walk_forward import lay_out, stability
from tests.test_optimizations import SMA_CROSS, fields_of

WIDE = {"fast": {"start": 2, "stop": 40, "step": 1}, "slow": {"start": 10, "stop": 80, "step": 1}}


# ---------------------------------------------------------------- constraints
def test_constraints_read_names_and_dotted_paths():
    names = ["fast", "slow", "config.stop_loss", "entry_rules.conditions[0].params.period"]
    constraints = parse_constraints(
        [
            "fast < slow",
            "slow - fast >= 10 and config.stop_loss <= 2",
            "not entry_rules.conditions[0].params.period % 2 == 1",
            "fast < slow < 100",
        ],
        names,
    )
    params = {"fast": 5, "slow": 20, "config.stop_loss": 2, "entry_rules.conditions[0].params.period": 4}
    assert constraints.allows(params)
    assert not constraints.allows(params | {"slow": 14})  # slow - fast < 10
    assert not constraints.allows(params | {"entry_rules.conditions[0].params.period": 5})
    assert not constraints.allows(params | {"slow": 120})  # the chain's second comparison
    assert not parse_constraints(["slow / (fast - 5) > 1"], names).allows(params)  # a division by 0 refuses


@pytest.mark.parametrize(
    "expression, message",
    [
        ("__import__('os').system('true')", "uses Call"),
        ("fast.__class__ < 1", "names fast.__class__, which the sweep does not vary"),
        ("fast < 'a'", "only numbers"),
        ("fast <", "is not an expression"),
        ("lambda: 1", "uses Lambda"),
        ("[fast][0] < 1", "a parameter is a name or a dotted path"),
        ("sloww > 1", "names sloww"),
    ],
)
def test_a_constraint_outside_the_language_is_refused_naming_it(expression, message):
    with pytest.raises(ValidationFailed) as error:
        parse_constraints(["fast < slow", expression], ["fast", "slow"])
    assert fields_of(error.value) == ["constraints[1]"]
    assert message in error.value.errors[0].message


def test_the_grid_keeps_only_combinations_meeting_the_constraints():
    grid = parameter_grid(SMA_CROSS, {"fast": [5, 10, 20], "slow": [10, 20, 30]}, 100, ["fast < slow"])
    assert [tuple(c.params.values()) for c in grid] == [(5, 10), (5, 20), (5, 30), (10, 20), (10, 30), (20, 30)]
    assert [c.index for c in grid] == [0, 1, 2, 4, 5, 8]  # positions in the whole grid
    with pytest.raises(ValidationFailed, match="too many combinations"):
        parameter_grid(SMA_CROSS, {"fast": [5, 10, 20], "slow": [10, 20, 30]}, 5, ["fast < slow"])


# ---------------------------------------------------------------- random search
def test_a_random_sample_is_reproducible_distinct_of_the_grid_and_meets_the_constraints():
    sample = random_combinations(SMA_CROSS, WIDE, 200, seed=7, constraints=["fast + 5 < slow"])
    assert sample == random_combinations(SMA_CROSS, WIDE, 200, seed=7, constraints=["fast + 5 < slow"])
    assert sample != random_combinations(SMA_CROSS, WIDE, 200, seed=8, constraints=["fast + 5 < slow"])
    assert len({c.index for c in sample}) == 200 and [c.index for c in sample] == sorted(c.index for c in sample)
    grid = {c.index: c.params for c in parameter_grid(SMA_CROSS, WIDE, 10_000)}
    assert all(grid[c.index] == c.params and c.params["fast"] + 5 < c.params["slow"] for c in sample)


def test_a_random_sample_larger_than_the_space_is_the_whole_space():
    sample = random_combinations(SMA_CROSS, {"fast": [5, 10, 20], "slow": [10, 20, 30]}, 50, 1, ["fast < slow"])
    assert [c.index for c in sample] == [0, 1, 2, 4, 5, 8]


def test_a_random_sample_of_a_huge_grid_draws_without_enumerating_it():
    huge = {
        "fast": {"start": 2, "stop": 1000, "step": 1},
        "slow": {"start": 10, "stop": 1009, "step": 1},
        "config.stop_loss": {"start": 0.1, "stop": 10, "step": 0.01},
    }  # 999 x 1000 x 991 ~ 1e9 points
    sample = random_combinations(SMA_CROSS, huge, 100, seed=3, constraints=["fast < slow"])
    assert len({c.index for c in sample}) == 100
    space = search_space(SMA_CROSS, huge)
    assert all(space.point(c.index) == c and space.index_of(c.params) == c.index for c in sample)


# ---------------------------------------------------------------- Bayesian search
def synthetic_search(seed: int, n_trials: int = 120, batch_size: int = 10) -> list[tuple[float, dict]]:
    """Rounds of ask -> evaluate -> tell, as the state machine runs them, on a known objective whose
    best is fast = 17, slow = 42 (value 0) among 39 x 71 = 2,769 combinations."""
    space = search_space(SMA_CROSS, WIDE)
    logs, evaluated = [], []
    for round_number in range(n_trials // batch_size):
        asked = ask_round(space, SMA_CROSS, logs, "max", seed, round_number, batch_size)
        results = [
            {
                "index": c.index,
                "performance_summary": {
                    "total_trades": 3,
                    "score": -((c.params["fast"] - 17) ** 2) - (c.params["slow"] - 42) ** 2,
                },
            }
            for c in asked.combos
        ]
        logs = tell_round(asked.logs, "max", seed, round_number, asked.trials, results, "score", 0)
        evaluated += [(r["performance_summary"]["score"], c.params) for r, c in zip(results, asked.combos)]
    return evaluated


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bayesian_search_finds_the_known_optimum_within_its_trials(seed):
    evaluated = synthetic_search(seed)
    assert len(evaluated) == 120 and len({tuple(p.values()) for _, p in evaluated}) == 120  # no repeats
    assert max(evaluated, key=lambda e: e[0]) == (0, {"fast": 17, "slow": 42})


def test_bayesian_search_is_reproducible_by_seed():
    assert synthetic_search(5, 40) == synthetic_search(5, 40)
    assert synthetic_search(5, 40) != synthetic_search(6, 40)


def test_bayesian_search_asks_only_combinations_meeting_the_constraints_and_stops_when_exhausted():
    space = search_space(SMA_CROSS, {"fast": [5, 10, 20], "slow": [10, 20, 30]}, ["fast < slow"])
    asked = ask_round(space, SMA_CROSS, [], "max", 0, 0, 50)
    assert sorted(c.index for c in asked.combos) == [0, 1, 2, 4, 5, 8]
    results = [{"index": c.index, "performance_summary": {"total_trades": 1, "score": 1.0}} for c in asked.combos]
    logs = tell_round(asked.logs, "max", 0, 0, asked.trials, results, "score", 0)
    assert ask_round(space, SMA_CROSS, logs, "max", 0, 1, 5).combos == []


# ---------------------------------------------------------------- ranking, heatmap
def result(index, params=None, **summary):
    return {"index": index, "params": params or {}, "final_balance": 1.0, "performance_summary": summary}


def test_ranking_follows_the_direction_and_ranks_too_few_trades_last():
    results = [
        result(0, total_trades=3, exposure=10.0),
        result(1, total_trades=30, exposure=50.0),
        result(2, total_trades=40, exposure=None),
        result(3, total_trades=20, exposure=20.0),
    ]
    assert [r["index"] for r in rank(results, "exposure", "max")] == [1, 3, 0, 2]
    assert [r["index"] for r in rank(results, "exposure", "min")] == [0, 3, 1, 2]
    assert [r["index"] for r in rank(results, "exposure", "min", min_trades=10)] == [3, 1, 2, 0]


def test_any_numeric_summary_metric_is_an_objective():
    metrics = summary_metrics(SMA_CROSS)
    assert {"sharpe_ratio", "total_pnl", "exposure", "max_consecutive_losses", "buy_and_hold_return"} <= set(metrics)
    # the sub-summaries' metrics by their dotted paths, the sub-summaries themselves not (not numbers)
    assert {
        f"{side}.{name}" for side in ("long", "short") for name in ("trades", "win_rate", "total_pnl", "profit_factor")
    } <= set(metrics)
    assert "long" not in metrics and "short" not in metrics
    assert default_direction("long.win_rate") == "max" and default_direction("short.max_drawdown") == "min"


def test_a_dotted_objective_reads_the_sub_summary():
    results = [
        result(0, total_trades=4, long={"total_pnl": 5.0, "profit_factor": None}),
        result(1, total_trades=4, long={"total_pnl": 9.0, "profit_factor": 1.5}),
        result(2, total_trades=4, long={"total_pnl": -2.0, "profit_factor": 0.5}),
    ]
    assert [(r["index"], r["objective_value"]) for r in rank(results, "long.total_pnl")] == [
        (1, 9.0),
        (0, 5.0),
        (2, -2.0),
    ]
    assert [r["index"] for r in rank(results, "long.profit_factor", "min")] == [2, 1, 0]  # undefined last
    assert rank(results, "long.luck")[0]["objective_value"] is None


def test_the_heatmap_is_the_best_over_the_other_parameters():
    ranking = [
        result(i, {"fast": f, "slow": s, "config.stop_loss": sl}, total_pnl=float(f * 100 + s + sl))
        for i, (f, s, sl) in enumerate(itertools.product([5, 10], [20, 30, 40], [1, 2]))
        if (f, s) != (10, 40)
    ]
    ranking.append(result(99, {"fast": 10, "slow": 40, "config.stop_loss": 1}, total_pnl=None))
    names = ["fast", "slow", "config.stop_loss"]
    answer = heatmap(ranking, names, "fast", "slow", "total_pnl", "max")
    assert answer["x_values"] == [5, 10] and answer["y_values"] == [20, 30, 40]
    assert answer["values"] == [[522.0, 1022.0], [532.0, 1032.0], [542.0, None]]
    assert heatmap(ranking, names, "fast", "slow", "total_pnl", "min")["values"][0] == [521.0, 1021.0]
    with pytest.raises(ValidationFailed) as error:
        heatmap(ranking, names, "fats", "fast", "luck", "max")
    assert fields_of(error.value) == ["x", "metric"]


def test_the_heatmap_of_a_sub_summary_metric():
    ranking = [
        result(i, {"fast": f, "slow": s}, total_pnl=1.0, long={"win_rate": float(f + s), "trades": 3})
        for i, (f, s) in enumerate(itertools.product([5, 10], [20, 30]))
    ]
    answer = heatmap(ranking, ["fast", "slow"], "fast", "slow", "long.win_rate", "max")
    assert answer["metric"] == "long.win_rate" and answer["values"] == [[25.0, 30.0], [35.0, 40.0]]
    for metric in ("long", "long.luck"):  # a sub-summary is not a number; an unknown name is none
        with pytest.raises(ValidationFailed) as error:
            heatmap(ranking, ["fast", "slow"], "fast", "slow", metric, "max")
        assert fields_of(error.value) == ["metric"] and "long.win_rate" in error.value.errors[0].message


# ---------------------------------------------------------------- the dry run's estimate
def test_the_estimate_counts_waves_of_batches_per_round():
    bars, memory_mb = 17_520, 3008
    one = estimate_sweep([40], [2_000], bars, concurrency=16, memory_mb=memory_mb)
    per_batch = batch_seconds(50, bars)
    assert one["batch_count"] == 40 and one["rounds"] == 1
    assert one["eta_seconds"] == pytest.approx(3 * per_batch, abs=0.05)  # ceil(40 / 16) waves
    assert one["lambda_gb_seconds"] == pytest.approx(40 * per_batch * memory_mb / 1024, abs=1e-3)
    assert one["estimated_cost_usd"] > one["lambda_gb_seconds"] * LAMBDA_GB_SECOND_USD
    rounds = estimate_sweep([1, 1, 1], [10, 10, 10], bars, concurrency=16, memory_mb=memory_mb)
    assert rounds["eta_seconds"] == pytest.approx(3 * batch_seconds(10, bars), abs=0.05)  # rounds one after another


# ---------------------------------------------------------------- walk-forward windows
def test_walk_forward_windows_roll_or_anchor_from_the_start():
    day = 86_400_000
    rolling = lay_out(0, 100 * day, "30d", "10d", None, anchored=False)
    assert [
        (w.train_start_ms // day, w.train_end_ms // day, w.test_start_ms // day, w.test_end_ms // day) for w in rolling
    ] == [(k * 10, 30 + k * 10, 30 + k * 10, 40 + k * 10) for k in range(7)]
    anchored = lay_out(0, 100 * day, "30d", "10d", "20d", anchored=True)
    assert [(w.train_start_ms, w.test_start_ms // day) for w in anchored] == [(0, 30), (0, 50), (0, 70), (0, 90)]
    with pytest.raises(ValidationFailed) as error:
        lay_out(0, 39 * day, "30d", "10d", None, anchored=False)
    assert fields_of(error.value) == ["end_time"]
    with pytest.raises(ValidationFailed) as error:
        lay_out(0, 39 * day, "30d", "0d", None, anchored=False)
    assert fields_of(error.value) == ["test"]


def test_parameter_stability_counts_the_choices():
    answer = stability(
        [{"fast": 5, "slow": 30}, {"fast": 5, "slow": 40}, {"fast": 10, "slow": 30}, {"fast": 5, "slow": 50}]
    )
    assert answer["fast"]["mode"] == 5 and answer["fast"]["mode_share"] == 0.75
    # fast: mean 6.25, population std sqrt((3 * 1.25^2 + 3.75^2) / 4) = 2.165...
    assert answer["fast"]["coefficient_of_variation"] == pytest.approx(2.1650635094610964 / 6.25)
    assert answer["slow"]["values"] == [30, 40, 30, 50]
