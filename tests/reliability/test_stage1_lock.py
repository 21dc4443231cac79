"""Two runs of one Stage 1 at once: the second waits on the key's lock, then reuses the first's outcome."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from filelock import FileLock

from era_exp.config import compose
from era_exp.pipeline.results import RESULTS_FILE
from era_exp.pipeline.run import run
from era_exp.stages.alignment_store import LOCK_FILE, RECORD_FILE, WEIGHTS_FILE

from .conftest import BUILTIN, LineReader, child_env, era_run_command

TINY_ALIGN = ["method=align_only", "stage1.epochs=3", "stage1.samples_per_task=100"]


def test_a_run_waits_for_the_stage1_another_process_computes_then_reuses_it(
    reliability_cache: Path, tmp_path: Path
) -> None:
    overrides = [*BUILTIN, *TINY_ALIGN, f"paths.cache_dir={reliability_cache}"]
    first = run(
        compose([*overrides, f"paths.stage1_dir={tmp_path / 'a'}"], return_hydra_config=False),
        tmp_path / "a-run",
    )
    (computed,) = (tmp_path / "a").iterdir()
    entry = tmp_path / "b" / computed.name
    entry.mkdir(parents=True)
    with FileLock(entry / LOCK_FILE):  # as a process computing this Stage 1 holds it
        second = subprocess.Popen(
            era_run_command(
                *overrides, f"paths.stage1_dir={tmp_path / 'b'}", f"hydra.run.dir={tmp_path / 'b-run'}"
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env(),
        )
        output = LineReader(second)
        waited = output.wait_for("waiting for another process computing Stage 1")
        assert waited, "the second run trained Stage 1 without waiting:\n" + output.rest()
        for name in (WEIGHTS_FILE, RECORD_FILE):  # the holder stores its outcome, then lets go
            shutil.copy(computed / name, entry / name)
    log = output.rest()
    assert second.returncode == 0, log
    results = json.loads((tmp_path / "b-run" / RESULTS_FILE).read_text())
    assert results["stages"]["alignment"]["reused"] is True
    assert results["overall"] == first["overall"] and results["per_unit"] == first["per_unit"]
