"""``bench/bench_gpu.py`` cannot be measured without a GPU, but its tiny CPU mode keeps it runnable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_bench_gpu_runs_tiny_on_cpu(tmp_path: Path, repo_root: Path) -> None:
    out = tmp_path / "gpu_tiny.json"
    command = [sys.executable, "bench/bench_gpu.py", "--tiny", "--device", "cpu", "--texts", "24"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ERA_QUIET": "1"}
    done = subprocess.run(
        [*command, "--out", str(out)], cwd=repo_root, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    (row,) = report["encode"]
    assert row["texts"] == 24 and row["real_tokens"] > 0 and row["batches"] >= 2
    assert row["era_exp_tokens_per_s"] > 0 and row["bare_same_batches_tokens_per_s"] > 0
    assert "ratio_to_same_batches" in row and report["search"]["docs"] == 10_000
