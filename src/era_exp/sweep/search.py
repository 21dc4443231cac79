"""Hyper-parameter search with Optuna: a study stored in the sweep folder that a rerun resumes.

``conf/hparams_search/*.yaml`` select Hydra's Optuna sweeper with this project's subclass
(``hydra_plugins.era_optuna_sweeper``), which calls :func:`prepare_study` before the first trial:

- the config is checked first (the optimised metric is computed, the validation split is scored),
  so a search fails in seconds, before any model is loaded;
- the study lives in ``hydra.sweeper.storage`` (sqlite in the sweep folder) under
  ``hydra.sweeper.study_name``; ``n_trials`` is the study's total budget, so rerunning the same
  command after an interruption runs only the trials still missing (trials left running or waiting
  by the interrupted launch are marked failed and do not count);
- a fresh study's first trial is the configuration as composed, without the search's parameters
  (the defaults), so the search always holds its baseline, scored like every trial;
- a resumed study reseeds the sampler with ``seed + trials so far``, so it does not replay the
  random start-up points it already tried;
- ``hydra.job.num`` equals the Optuna trial number, so trial ``n`` runs in ``trial-<n>`` (see the
  search files' ``hydra.sweep.subdir``), and ``search.json`` records what the report needs.
"""

from __future__ import annotations

import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from era_exp.config import ConfigError, validate
from era_exp.io import atomic_write_json
from era_exp.pipeline.objective import optimized_metric
from era_exp.pipeline.plan import MethodStages

log = logging.getLogger(__name__)

SEARCH_FILE = "search.json"
# The study's user attribute naming the trial that ran the composed configuration.
BASELINE_ATTR = "baseline_trial"


class SearchError(ValueError):
    """A search that cannot run as configured."""


@dataclass(frozen=True)
class StudyState:
    """What a launch of the search starts from."""

    total_trials: int
    complete: int
    to_run: int
    next_number: int
    baseline: int | None


# The config keys each stage reads: searching them under a method without the stage changes nothing.
_STAGE_KEYS = {"Stage 1": ("stage1",), "Stage 2": ("stage2", "miner")}


def check_search_config(config: DictConfig) -> str:
    """The optimised metric, after checking the search can compute its objective and that its
    configuration is valid before any trial runs (a trial that fails validation would stop the
    search and leave a trial of the study behind)."""
    try:
        validate(config)
    except ConfigError as err:
        raise SearchError(f"the configuration to search from is invalid: {err}") from None
    metric = optimized_metric(config)
    stages = MethodStages.of(config.method)
    runs = {"Stage 1": stages.alignment, "Stage 2": stages.adaptation}
    searched = [str(name) for name in config.hydra.sweeper.get("params") or {}]
    for stage, prefixes in _STAGE_KEYS.items():
        idle = [name for name in searched if name.replace("/", ".").split(".")[0] in prefixes]
        if idle and not runs[stage]:
            raise SearchError(
                f"method={config.method.name} runs no {stage}, so the searched {', '.join(idle)} "
                "cannot change any number; search with a method that runs it (e.g. method=era)"
            )
    if config.eval.split != "test":
        raise SearchError(
            f"eval.split={config.eval.split}: a search needs eval.split=test, whose runs keep a "
            "validation split apart to optimise on"
        )
    sweeper = config.hydra.sweeper
    if not sweeper.get("storage") or not sweeper.get("study_name"):
        raise SearchError(
            "hydra.sweeper.storage and hydra.sweeper.study_name must be set, so the study can be resumed"
        )
    return metric


def prepare_study(impl: Any, config: DictConfig, arguments: list[str]) -> StudyState:
    """Set up ``impl`` (hydra-optuna-sweeper's ``OptunaSweeperImpl``) to run the study's missing trials."""
    import optuna
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
    from optuna.trial import TrialState

    metric = check_search_config(config)
    Path(config.hydra.sweep.dir).mkdir(parents=True, exist_ok=True)
    directions = impl._get_directions()
    study = optuna.create_study(
        study_name=impl.study_name,
        storage=impl.storage,
        sampler=impl.sampler,
        directions=directions,
        load_if_exists=True,
    )
    storage = optuna.storages.get_storage(impl.storage)
    for trial in study.get_trials(deepcopy=False):
        if trial.state in (TrialState.RUNNING, TrialState.WAITING):
            storage.set_trial_state(trial._trial_id, TrialState.FAIL)
            log.warning(
                "trial %d was left %s by an interrupted launch: marked failed", trial.number, trial.state.name
            )
    trials = study.get_trials(deepcopy=False)
    complete = sum(trial.state == TrialState.COMPLETE for trial in trials)
    budget = int(impl.n_trials)
    impl.n_trials = max(0, budget - complete)
    impl.job_idx = len(trials)
    if trials:
        impl.sampler = _reseeded(config.hydra.sweeper.sampler, impl.sampler, len(trials))
    baseline = study.user_attrs.get(BASELINE_ATTR)
    if impl.n_trials and not _completed(trials, baseline):
        distributions, fixed = create_params_from_overrides(
            [*impl._parse_sweeper_params_config(), *arguments]
        )
        searched = {name: d for name, d in distributions.items() if name not in fixed}
        params = _composed_values(config, searched)
        if params is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.enqueue_trial(params)
            baseline = len(trials)
            study.set_user_attr(BASELINE_ATTR, baseline)
    state = StudyState(budget, complete, impl.n_trials, len(trials), baseline)
    _record(config, impl, metric, directions, state)
    log.info(
        "study %s: %d of %d trials complete, %d to run (baseline: trial %s)",
        impl.study_name,
        complete,
        budget,
        impl.n_trials,
        baseline,
    )
    return state


def _completed(trials: list, number: int | None) -> bool:
    from optuna.trial import TrialState

    return number is not None and any(t.number == number and t.state == TrialState.COMPLETE for t in trials)


def _reseeded(sampler_cfg: DictConfig, sampler: Any, trials_so_far: int) -> Any:
    """A new sampler seeded ``seed + trials_so_far``, or the configured one when it has no seed."""
    seed = sampler_cfg.get("seed")
    if seed is None:
        return sampler
    return instantiate(sampler_cfg, seed=int(seed) + trials_so_far)


def _composed_values(config: DictConfig, distributions: dict) -> dict[str, Any] | None:
    """The composed value of every searched key (the chosen entry of a searched config group, e.g.
    ``adapter`` or ``stage1/loss``), or ``None`` when one lies outside its space."""
    from optuna.distributions import IntLogUniformDistribution, IntUniformDistribution

    choices = config.hydra.runtime.choices
    values = {}
    for name, distribution in distributions.items():
        value = choices[name] if name in choices else OmegaConf.select(config, name, throw_on_missing=True)
        if isinstance(distribution, IntUniformDistribution | IntLogUniformDistribution):
            value = int(value)
        try:
            inside = distribution._contains(distribution.to_internal_repr(value))
        except ValueError:  # a categorical value that is not one of the choices
            inside = False
        if not inside:
            log.warning(
                "%s=%s (composed) lies outside its search space %s: no baseline trial",
                name,
                value,
                distribution,
            )
            return None
        values[name] = value
    return values


def _record(config: DictConfig, impl: Any, metric: str, directions: list[str], state: StudyState) -> None:
    """``search.json`` in the sweep folder: where the study is and what it optimises."""
    atomic_write_json(
        Path(config.hydra.sweep.dir) / SEARCH_FILE,
        {
            "study_name": impl.study_name,
            "storage": impl.storage,
            "storage_file": _storage_file(str(impl.storage), Path(config.hydra.sweep.dir)),
            "objective": f"validation {metric}",
            "optimized_metric": metric,
            "directions": directions,
            "n_trials": state.total_trials,
            "baseline_trial": state.baseline,
            "sampler": OmegaConf.to_container(config.hydra.sweeper.sampler, resolve=True),
            "params": OmegaConf.to_container(config.hydra.sweeper.params, resolve=True),
            "search": config.hydra.runtime.choices.get("hparams_search"),
            "command": ["era-run", *sys.argv[1:]],
        },
    )


def _storage_file(storage: str, sweep_dir: Path) -> str | None:
    """The sqlite file's name when it lies in the sweep folder (so the folder can move), else ``None``."""
    if not storage.startswith("sqlite:///"):
        return None
    path = Path(storage.removeprefix("sqlite:///"))
    return path.name if path.resolve().parent == sweep_dir.resolve() else None
