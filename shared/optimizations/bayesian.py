"""Bayesian search: Optuna's TPE sampler, one round of trials at a time.

The optimization state machine loops Tell -> Map over the round's batches -> Tell; between
rounds the study lives in S3 as the logs of Optuna's journal storage (`JournalStorage` over an
in-memory backend that the caller loads and saves whole). Each round's sampler is seeded with
(seed, round), so a search is reproducible for a seed.

Each parameter is an integer index into its (ordered) values, so TPE treats every parameter as
ordered and discrete, whatever its values. A trial the constraints refuse, a combination that
makes the strategy invalid, or one already asked in this round is told FAIL and asked again; one
evaluated in an earlier round is told its known value (no second backtest). A result with an
undefined objective, or fewer than `min_trades` trades, is a FAIL to TPE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import ValidationFailed
from shared.optimizations.sweep import Combination, SearchSpace, objective_value

if TYPE_CHECKING:  # Optuna loads only in the workflow steps of a Bayesian search
    import optuna

ASKS_PER_TRIAL = 20  # a round gives up once this many asks per wanted trial found nothing new
STUDY_NAME = "optimization"


@dataclass(frozen=True)
class AskedRound:
    trials: dict[int, int]  # grid index of each combination to evaluate -> its Optuna trial number
    combos: list[Combination]  # in grid order
    logs: list[dict[str, Any]]  # the study's journal after the asks


class _JournalInMemory:
    """An Optuna journal backend over a list of logs (BaseJournalBackend's two methods)."""

    def __init__(self, logs: Iterable[dict[str, Any]]) -> None:
        self.logs = list(logs)

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        return self.logs[log_number_from:]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self.logs.extend(logs)


def _study(
    logs: list[dict[str, Any]], direction: str, seed: int, round_number: int
) -> tuple[optuna.Study, _JournalInMemory]:
    import optuna
    from optuna.storages.journal import BaseJournalBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    BaseJournalBackend.register(_JournalInMemory)
    journal = _JournalInMemory(logs)
    sampler = optuna.samplers.TPESampler(seed=seed * 1_000_003 + round_number, constant_liar=True)
    storage = JournalStorage(journal)  # type: ignore[arg-type]  # a BaseJournalBackend by registration
    study = optuna.create_study(
        storage=storage,
        sampler=sampler,
        study_name=STUDY_NAME,
        direction="maximize" if direction == "max" else "minimize",
        load_if_exists=True,
    )
    return study, journal


def ask_round(
    space: SearchSpace,
    strategy: Mapping[str, Any],
    logs: list[dict[str, Any]],
    direction: str,
    seed: int,
    round_number: int,
    wanted: int,
) -> AskedRound:
    """Up to `wanted` new combinations to evaluate (fewer once the space is exhausted)."""
    import optuna
    from optuna.distributions import BaseDistribution, IntDistribution

    from shared.strategy import validate_strategy, with_parameters

    study, journal = _study(logs, direction, seed, round_number)
    distributions: dict[str, BaseDistribution] = {
        name: IntDistribution(0, len(options) - 1) for name, options in space.values.items()
    }
    known = {
        space.index_of(_params(space, trial.params)): trial.value
        for trial in study.get_trials(deepcopy=False)
        if trial.state == optuna.trial.TrialState.COMPLETE
    }
    trials: dict[int, int] = {}
    for _ in range(ASKS_PER_TRIAL * wanted):
        if len(trials) == wanted:
            break
        trial = study.ask(distributions)
        params = _params(space, trial.params)
        index = space.index_of(params)
        if index in known:
            study.tell(trial, known[index])
            continue
        if index in trials or not space.constraints.allows(params):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        try:
            validate_strategy(with_parameters(strategy, params))
        except ValidationFailed:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        trials[index] = trial.number
    return AskedRound(trials, [space.point(index) for index in sorted(trials)], journal.logs)


def tell_round(
    logs: list[dict[str, Any]],
    direction: str,
    seed: int,
    round_number: int,
    trials: Mapping[int, int],
    results: Iterable[Mapping[str, Any]],
    objective: str,
    min_trades: int,
) -> list[dict[str, Any]]:
    """The journal once every trial of the round is told its objective value."""
    import optuna

    study, journal = _study(logs, direction, seed, round_number)
    for result in results:
        number = trials.get(result["index"])
        if number is None:
            continue
        summary = result["performance_summary"]
        value = objective_value(summary, objective)
        if value is None or (summary.get("total_trades") or 0) < min_trades:
            study.tell(number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        else:
            study.tell(number, value, skip_if_finished=True)
    return journal.logs


def _params(space: SearchSpace, indices: Mapping[str, int]) -> dict[str, float]:
    return {name: options[int(indices[name])] for name, options in space.values.items()}
