"""Every run holds its output folder's lock: a second run into the folder waits, then reuses the first."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from era_exp.config import compose
from era_exp.pipeline.results import RESULTS_FILE, run_lock
from era_exp.pipeline.run import run

from .conftest import BUILTIN, LineReader, child_env, era_run_command


def test_a_second_plain_run_into_the_same_folder_waits_and_returns_the_stored_results(
    reliability_cache: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    overrides = [*BUILTIN, f"paths.cache_dir={reliability_cache}"]
    with run_lock(out):
        second = subprocess.Popen(
            era_run_command(*overrides, f"hydra.run.dir={out}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env(),
        )
        output = LineReader(second)
        waited = output.wait_for("waiting for another process writing")
        assert waited, "the second run started computing without waiting:\n" + output.rest()
        first = run(compose(overrides, return_hydra_config=False), out)
        stamp = (out / RESULTS_FILE).stat().st_mtime_ns
    log = output.rest()
    assert second.returncode == 0, log
    assert "completed by another process meanwhile" in log
    assert "phase encode: started" not in log, "the second run computed nothing"
    assert (out / RESULTS_FILE).stat().st_mtime_ns == stamp
    assert json.loads((out / RESULTS_FILE).read_text())["overall"] == first["overall"]
