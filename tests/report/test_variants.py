"""Ablation sweeps: runs that differ only in a non-axis override are variants, not duplicates."""

from __future__ import annotations

from pathlib import Path

import yaml

from era_exp.report.build import build_report
from era_exp.report.collect import scan_sweep
from era_exp.report.grid import build_grid
from helpers.fake_sweep import FakeRun, write_fake_run

COMMON = ["data.tasks=[TaskA,TaskB]", "train_ratio=0.2", "pair=minilm_to_minilm"]


def _run(root: Path, name: str, spec: FakeRun, overrides: list[str]) -> None:
    write_fake_run(root / name, spec)
    hydra = root / name / ".hydra"
    hydra.mkdir(exist_ok=True)
    (hydra / "overrides.yaml").write_text(yaml.safe_dump([*COMMON, *overrides]))


def test_ablation_variants_get_their_own_rows(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    _run(sweep, "0", FakeRun("minilm", "minilm", "zero_shot"), ["method=zero_shot"])
    _run(sweep, "1", FakeRun("minilm", "minilm", "era", 0.2), ["method=era", "adapter=linear"])
    _run(sweep, "2", FakeRun("minilm", "minilm", "era", 0.2), ["method=era", "adapter=ridge"])
    _run(sweep, "3", FakeRun("minilm", "minilm", "era", 0.2), ["method=era", "stage1/loss=mse", "+x=1"])
    grid = build_grid(scan_sweep(sweep).runs)
    assert not grid.duplicates
    [block] = grid.blocks
    assert block.methods == [
        "zero_shot",
        "era [adapter=linear]",
        "era [adapter=ridge]",
        "era [stage1/loss=mse +x=1]",
    ]
    report = build_report(sweep, tmp_path / "report")
    overall = (report.out_dir / "overall.md").read_text()
    assert "era [adapter=ridge]" in overall and "era [adapter=linear]" in overall
    labels = report.frame.drop_duplicates("run_dir").set_index("run_dir")["method_label"]
    assert labels["2"] == "era [adapter=ridge]" and labels["0"] == "zero_shot"


def test_runs_without_hydra_overrides_keep_the_bare_method(tmp_path: Path) -> None:
    write_fake_run(tmp_path / "a", FakeRun("minilm", "minilm", "era", 0.2))
    [block] = build_grid(scan_sweep(tmp_path).runs).blocks
    assert block.methods == ["era"]
