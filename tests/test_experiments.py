"""Every study in experiments/ runs end to end, tiny, like lightning-hydra-template's ``experiment=glob(*)``.

Each experiment is composed as ``era-run -m +experiment=<name>`` would, and one of its grid points
(the first that trains ERA) is run on the built-in task with test-sized stages. Domain sweeps are
pinned to a domain the data has: LODO needs two domains, so it runs on two small mair-lite tasks,
with MiniLM on both sides to keep it fast (the pair is not what the experiment studies).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from era_exp.config import conf_dir
from era_exp.pipeline.run import run
from era_exp.sweep.grid import expand_grid
from helpers.config import TINY_BUILTIN, compose_run

EXPERIMENTS = sorted(path.stem for path in (conf_dir() / "experiment").glob("*.yaml"))
# Overrides that fit an experiment's domain sweep to the data it runs on here.
ON_DATA = {"domain_specific": ["domain=Code"], "lodo": ["holdout_domain=Legal"]}
LODO_TASKS = "data.tasks=[TMDB,AILA2019-Statutes]"  # Code and Legal: 100 and 50 queries


# The method whose grid point an experiment runs, where it is not ERA (what the experiment is about).
METHOD = {"era_plus_vs_era": "method=era_plus"}


def _point(overrides: list[str], method: str = "method=era") -> list[str]:
    """The first grid point that trains ``method``, else the first point."""
    points = expand_grid(overrides)
    return next((point for point in points if method in point), points[0])


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs(
    experiment: str, embedding_cache: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if experiment == "lodo":
        root = request.getfixturevalue("mair_lite_root")
        data = [f"data.root={root}", LODO_TASKS, "pair=minilm_to_minilm", "stage1.samples_per_task=40"]
        data += ["stage1.epochs=2"]
        data += ["stage2.nominal_epochs=3", "stage2.patience=2"]
    else:
        data = list(TINY_BUILTIN)
    overrides = [f"+experiment={experiment}", f"paths.cache_dir={embedding_cache}", *data]
    point = _point([*overrides, *ON_DATA.get(experiment, [])], METHOD.get(experiment, "method=era"))
    cfg = compose_run(None, point)
    results = run(cfg, tmp_path)
    assert results["run"]["method"] == cfg.method.name
    assert 0.0 <= results["overall"]["ndcg@10"] <= 1.0 and results["per_task"]
    assert (tmp_path / "DONE").read_text().strip() == results["run_key"]
    if cfg.method.adaptation:
        assert results["stages"]["adaptation"]["train_pairs"] > 0
