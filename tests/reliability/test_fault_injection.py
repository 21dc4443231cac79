"""ERA_FAULT kills a run at a named point; the rerun cleans up after it and finishes identically."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from era_exp import faults
from era_exp.config import compose
from era_exp.pipeline.results import DONE_FILE, RESULTS_FILE, completed_results, run_key
from era_exp.pipeline.run import run

from .conftest import BUILTIN, child_env, era_run_command


def test_a_kill_while_writing_results_leaves_no_finished_run_and_its_temporary_file_is_cleaned(
    reliability_cache: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    overrides = [*BUILTIN, f"paths.cache_dir={reliability_cache}"]
    killed = subprocess.run(
        era_run_command(*overrides, f"hydra.run.dir={out}"),
        capture_output=True,
        text=True,
        env=child_env(ERA_FAULT="results.write"),
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    cfg = compose(overrides, return_hydra_config=False)
    assert completed_results(out, run_key(cfg)) is None
    assert not (out / DONE_FILE).exists() and not (out / RESULTS_FILE).exists()
    (stale,) = out.glob(f".{RESULTS_FILE}.*.tmp")
    killed_attempt = json.loads(stale.read_text())

    rerun = run(cfg, out)
    assert not list(out.glob(".*.tmp")), "the killed writer's temporary file is gone"
    assert (out / DONE_FILE).read_text().strip() == rerun["run_key"]
    for part in ("overall", "per_task", "per_unit", "split_sizes"):
        assert rerun[part] == killed_attempt[part], f"{part} differs from the killed attempt's"


@pytest.mark.parametrize("point", ["stage1.epoch", "stage2.epoch"])
def test_an_armed_epoch_fault_kills_the_run_inside_its_stage_even_when_stage1_is_stored(
    reliability_cache: Path, tmp_path: Path, point: str
) -> None:
    overrides = [
        *BUILTIN,
        f"paths.cache_dir={reliability_cache}",
        f"paths.stage1_dir={tmp_path / 'stage1'}",
        "method=era",
        "stage1.epochs=3",
        "stage1.samples_per_task=100",
        "stage2.nominal_epochs=4",
    ]
    stored = run(compose(overrides, return_hydra_config=False), tmp_path / "stored")
    assert stored["stages"]["alignment"]["reused"] is False
    out = tmp_path / "killed"
    killed = subprocess.run(
        era_run_command(*overrides, f"hydra.run.dir={out}"),
        capture_output=True,
        text=True,
        env=child_env(ERA_FAULT=f"{point}:2"),
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert f"at {point} pass 2" in killed.stderr, "an armed Stage-1 fault trains Stage 1, stored or not"
    rerun = run(compose(overrides, return_hydra_config=False), out)
    assert rerun["stages"]["alignment"]["reused"] is True
    for part in ("overall", "per_task", "per_unit", "validation"):
        assert rerun[part] == stored[part], part


@pytest.mark.parametrize(
    "spec, message",
    [("stage3.epoch", "unknown fault point 'stage3.epoch'"), ("write:0", "positive integer")],
)
def test_a_malformed_fault_spec_names_the_variable(
    spec: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(faults.ENV, spec)
    with pytest.raises(ValueError, match=message) as caught:
        faults.hit("write")
    assert "ERA_FAULT" in str(caught.value)


def test_unset_faults_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.ENV, raising=False)
    kwargs = {"max_epochs": 2}
    assert faults.with_epoch_fault(kwargs, "stage1.epoch") is kwargs
    faults.hit("write")
