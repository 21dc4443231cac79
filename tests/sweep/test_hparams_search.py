"""Every ``conf/hparams_search`` file runs a real Optuna study on the built-in task, tiny.

Each search runs two trials, is relaunched with a budget of three (one more trial, from the
stored study) and once more with the same budget (nothing left to run). The objective Optuna
records for a trial is the validation split's optimised metric in that trial's results.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from era_exp.cli import run
from era_exp.config import compose, conf_dir
from era_exp.pipeline.results import RESULTS_FILE
from era_exp.report.search import TrialRecord, best_trial, build_search_report
from era_exp.sweep.search import SEARCH_FILE

SEARCHES = sorted(path.stem for path in (conf_dir() / "hparams_search").glob("*.yaml"))
# Fixed overrides win over a search's parameters (those keys leave the search space), so the same
# tiny settings fit every search.
TINY = [
    "data=builtin",
    "data.max_queries=80",
    "method=era",
    "pair=minilm_to_minilm",
    "stage1.samples_per_task=40",
    "stage1.epochs=2",
    "stage2.nominal_epochs=2",
    "stage2.patience=1",
]


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERA_QUIET", "1")


def launch(monkeypatch: pytest.MonkeyPatch, sweep_dir: Path, *overrides: str) -> None:
    """``era-run hparams_search=...`` in this process (the search files set Hydra's multirun mode)."""
    argv = ["era-run", *overrides, f"hydra.sweep.dir={sweep_dir}", "hydra/job_logging=none"]
    monkeypatch.setattr(sys, "argv", [*argv, "hydra/hydra_logging=none"])
    try:
        run.main()
    finally:
        GlobalHydra.instance().clear()


def composed_value(config, name: str):
    """A searched key's value in a composed config: a config group's chosen entry, or a field."""
    choices = config.hydra.runtime.choices
    return choices[name] if name in choices else OmegaConf.select(config, name)


def study_of(sweep_dir: Path) -> optuna.Study:
    record = json.loads((sweep_dir / SEARCH_FILE).read_text())
    return optuna.load_study(study_name=record["study_name"], storage=record["storage"])


@pytest.mark.parametrize("search", SEARCHES)
def test_search_optimises_validation_and_resumes_from_its_study(
    search: str, embedding_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = tmp_path / "search"
    command = [f"hparams_search={search}", *TINY, f"paths.cache_dir={embedding_cache}"]
    launch(monkeypatch, sweep, *command, "hydra.sweeper.n_trials=2")
    study = study_of(sweep)
    trials = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert [trial.number for trial in trials] == [0, 1]
    searched = compose([f"hparams_search={search}"]).hydra.sweeper.params
    defaults = compose(TINY)
    assert study.user_attrs["baseline_trial"] == 0
    assert trials[0].params == {
        name: composed_value(defaults, name) for name in searched if name in trials[0].params
    }, "trial 0 runs the composed defaults"
    assert trials[1].params != trials[0].params
    for trial in trials:
        folder = sweep / f"trial-{trial.number}"
        results = json.loads((folder / RESULTS_FILE).read_text())
        metric = results["config"]["eval"]["optimized_metric"]
        assert trial.value == results["validation"]["overall"][metric], "the objective is validation"
        assert results["validation"]["per_task"].keys() == results["per_task"].keys()
        validated = results["split_sizes"]["stdlib-codesearch"]
        assert validated["validated"] == validated["val"] > 0 and validated["scored"] == validated["test"]
        ran = OmegaConf.merge(
            OmegaConf.create(results["config"]), OmegaConf.load(folder / ".hydra" / "hydra.yaml")
        )
        for name, value in trial.params.items():
            assert composed_value(ran, name) == value, f"trial {trial.number} ran its {name}"
    if search == "stage2_optuna":  # Stage 2's parameters leave Stage 1 as it is: trial 1 loads trial 0's
        first_two = [json.loads((sweep / f"trial-{n}" / RESULTS_FILE).read_text()) for n in (0, 1)]
        stage1 = [results["stages"]["alignment"] for results in first_two]
        assert stage1[1]["reused"] is True and stage1[1]["stage1_key"] == stage1[0]["stage1_key"]

    launch(monkeypatch, sweep, *command, "hydra.sweeper.n_trials=3")
    resumed = study_of(sweep).get_trials()
    assert [(t.number, t.state) for t in resumed] == [(n, optuna.trial.TrialState.COMPLETE) for n in range(3)]
    assert [t.params for t in resumed[:2]] == [t.params for t in trials], "the stored trials are kept"
    assert (sweep / "trial-2" / RESULTS_FILE).is_file()

    stamp = (sweep / "trial-2" / RESULTS_FILE).stat().st_mtime_ns
    launch(monkeypatch, sweep, *command, "hydra.sweeper.n_trials=3")
    assert len(study_of(sweep).trials) == 3, "a complete study runs no further trial"
    assert (sweep / "trial-2" / RESULTS_FILE).stat().st_mtime_ns == stamp

    report = build_search_report(sweep)
    assert report.best.number == max(resumed, key=lambda t: t.value).number
    assert report.baseline.number == 0
    page = (report.out_dir / "search.md").read_text()
    assert f"trial {report.best.number}" in page and "test" in page


def test_a_search_fails_before_any_work_without_a_validation_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ValueError, match=r"eval\.split=test"):
        launch(monkeypatch, tmp_path / "search", "hparams_search=stage2_optuna", *TINY, "eval.split=all")
    assert not list(tmp_path.glob("search/trial-*"))


def test_an_optimised_metric_outside_the_metrics_fails_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    overrides = ["hparams_search=stage2_optuna", *TINY, "eval.metrics=[map@100]"]
    with pytest.raises(
        ValueError, match=r"eval\.optimized_metric must be one of eval\.metrics \['map@100'\]"
    ):
        launch(monkeypatch, tmp_path / "search", *overrides)
    assert not list(tmp_path.glob("search/trial-*"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["setting=lodo"], r"invalid: .*holdout_domain"),
        (["method=zero_shot"], r"method=zero_shot runs no Stage 2, so the searched stage2\.lr"),
    ],
)
def test_a_search_that_cannot_run_or_change_anything_fails_before_its_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: list[str], message: str
) -> None:
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ValueError, match=message):
        launch(monkeypatch, tmp_path / "search", "hparams_search=stage2_optuna", *TINY, *overrides)
    assert not list(tmp_path.glob("search/trial-*")) and not (tmp_path / "search" / "optuna.db").exists()


@pytest.mark.parametrize("maximise", [True, False])
def test_the_best_trial_of_equal_values_is_the_earliest_in_either_direction(maximise: bool) -> None:
    """A tie keeps the earlier trial (the baseline is trial 0), maximising or minimising."""
    best_value = 0.5 if maximise else 0.1
    values = [best_value, 0.3, best_value, 0.3]
    trials = [TrialRecord(n, "COMPLETE", v, {}, None, None) for n, v in enumerate(values)]
    assert best_trial(trials, maximise=maximise).number == 0
    assert best_trial(trials[1:], maximise=maximise).number == 2
