"""Every launcher, logger and experiment config composes through the compose API."""

from __future__ import annotations

import warnings

import pytest

from era_exp.config import compose, conf_dir
from era_exp.sweep.grid import expand_grid

LAUNCHERS = sorted(path.stem for path in (conf_dir() / "hydra" / "launcher").glob("*.yaml"))
EXPERIMENTS = sorted(path.stem for path in (conf_dir() / "experiment").glob("*.yaml"))
LOGGERS = sorted(path.stem for path in (conf_dir() / "logger").glob("*.yaml"))


def _compose_quietly(overrides: list[str]):
    """Compose, failing on Hydra's warnings (e.g. deprecated schema matching)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        return compose(overrides)


def test_the_config_folders_are_not_empty() -> None:
    assert {"parallel", "slurm"} <= set(LAUNCHERS)
    assert {"none", "csv", "wandb"} <= set(LOGGERS)
    assert EXPERIMENTS, "conf/experiment/ has no experiment"


@pytest.mark.parametrize("launcher", [*LAUNCHERS, "basic", "joblib", "submitit_slurm"])
def test_launchers_compose(launcher: str) -> None:
    cfg = _compose_quietly([f"hydra/launcher={launcher}"])
    assert cfg.hydra.launcher._target_.startswith(("hydra.", "hydra_plugins."))


def test_launcher_settings() -> None:
    assert compose(["hydra/launcher=parallel", "hydra.launcher.n_jobs=3"]).hydra.launcher.n_jobs == 3
    slurm = compose(["hydra/launcher=slurm"]).hydra.launcher
    assert slurm.gpus_per_node == 1 and slurm.timeout_min > 0 and "partition" in slurm


@pytest.mark.parametrize("logger", LOGGERS)
def test_loggers_compose(logger: str) -> None:
    assert _compose_quietly([f"logger={logger}"]).logger._target_.startswith("era_exp.tracking.")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiments_compose_and_expand(experiment: str) -> None:
    cfg = _compose_quietly([f"+experiment={experiment}"])
    assert cfg.method.name
    points = expand_grid([f"+experiment={experiment}"])
    assert points and all(f"+experiment={experiment}" in point for point in points)
    for point in {tuple(points[0]), tuple(points[-1])}:
        compose(list(point))
