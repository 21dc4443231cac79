"""The studies behind docs/results/studies/: every grid point composes, and a tiny study runs end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from era_exp.cli.studies import STUDIES, Study, Sweep, losses, run_study, sweep_overrides
from era_exp.config import compose
from era_exp.report.collect import scan_sweep
from era_exp.report.grid import build_grid
from era_exp.sweep.grid import expand_grid
from helpers.fake_sweep import FakeRun, write_fake_run


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_sweep_of_every_study_composes(name: str) -> None:
    """Each sweep's grid expands, its first point composes and validates; a zero-shot baseline is in it."""
    study = STUDIES[name]
    data = ["data=mair_lite", "data.root=mair-lite", "data.tasks=[TMDB,MBPP]"]
    methods = set()
    for sweep in study.sweeps:
        points = expand_grid([*data, *sweep_overrides(sweep, ["TMDB", "MBPP"])])
        cfg = compose(points[0], return_hydra_config=False)
        assert cfg.data.root == "mair-lite" and list(cfg.data.tasks) == ["TMDB", "MBPP"]
        methods |= {o.split("=", 1)[1] for point in points for o in point if o.startswith("method=")}
    assert "zero_shot" in methods, f"{name}: no zero-shot baseline to report losses against"


def test_domain_sweeps_cover_only_the_selected_tasks_domains() -> None:
    [lodo] = [s for s in STUDIES["domains"].sweeps if s.per_domain == "holdout_domain"]
    assert sweep_overrides(lodo, ["TMDB", "AILA2019-Statutes"])[-1] == "holdout_domain=Code,Legal"
    assert sweep_overrides(lodo, None)[-1] == "holdout_domain=Academic,Code,Finance,Legal,Medical,Web"


def test_losses_name_every_trained_method_of_a_block(tmp_path: Path) -> None:
    write_fake_run(tmp_path / "zs", FakeRun("minilm", "minilm", "zero_shot"))
    write_fake_run(tmp_path / "era", FakeRun("minilm", "minilm", "era", 0.2))
    lines = losses(build_grid(scan_sweep(tmp_path).runs))
    assert lines[0] == "## Where it loses"
    [line] = lines[2:]
    assert line.startswith("- minilm→minilm, era, train ratio 0.2") and "below it on no task" in line


@pytest.mark.slow
def test_a_tiny_study_runs_reports_and_writes_its_page(
    mair_lite_root: Path, embedding_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERA_CACHE_DIR", str(embedding_cache))
    grid = (
        "method=zero_shot,label_only",
        "pair=minilm_to_minilm",
        "stage2.nominal_epochs=3",
        "stage2.patience=2",
    )
    study = Study("tiny", "A tiny study", "Zero-shot and label-only on one task.", (Sweep("grid", grid),))
    page = run_study(study, str(mair_lite_root), ["TMDB"], tmp_path / "out", tmp_path / "docs", jobs=1)
    text = page.read_text()
    assert (
        text.startswith("# A tiny study")
        and "- Tasks: 1 mair-lite tasks in 1 domains (Code 1): TMDB." in text
    )
    assert "- minilm→minilm, label_only, train ratio 0.2" in text
    assert (page.parent / "overall.md").is_file() and (page.parent / "index.html").is_file()
    runs = scan_sweep(tmp_path / "out" / "tiny").runs
    assert sorted(r.method for r in runs) == ["label_only", "zero_shot"]
