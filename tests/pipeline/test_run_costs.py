"""What a run computes on: the ``threads`` key, and a warm point that imports only what it uses.

A warm grid point reads its embeddings from the cache, trains and scores: it needs neither
transformers (no text is tokenised), nor torch's compiler stack, nor Lightning, nor the plotting,
statistics and dataset packages ranx imports for its other features. Each of these cost up to
seconds of every process; the check runs era-run in a fresh interpreter on a warm cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from era_exp.config import ConfigError
from era_exp.embed.hf import usable_cpus
from era_exp.pipeline import run as run_module
from era_exp.pipeline.results import run_key
from era_exp.pipeline.run import run
from era_exp.pipeline.threads import run_threads
from era_exp.retrieve.search import faiss
from helpers.config import TINY_BUILTIN

NOT_IMPORTED = (
    "transformers",
    "torch._dynamo",
    "pytorch_lightning",
    "matplotlib",
    "seaborn",
    "scipy.stats",
    "pandas",
    "ir_datasets",
)

_WARM_ERA_RUN = """
import json, sys
from era_exp.cli.run import main

overrides, unwanted = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.argv = ["era-run", *overrides]
main()
print(json.dumps(sorted(name for name in unwanted if name in sys.modules)))
"""


def test_a_run_computes_on_the_threads_it_is_given(run_config, tmp_path: Path, monkeypatch) -> None:
    seen = []
    score = run_module.score_tasks

    def scoring(*args, **kwargs):
        seen.append((torch.get_num_threads(), faiss.omp_get_max_threads()))
        return score(*args, **kwargs)

    monkeypatch.setattr(run_module, "score_tasks", scoring)
    before = torch.get_num_threads()
    cfg = run_config(*TINY_BUILTIN, "method=zero_shot", "threads=1")
    results = run(cfg, tmp_path / "one")
    assert seen == [(1, 1)] and results["threads"] == 1
    assert torch.get_num_threads() == before, "the caller's thread count is restored"
    assert run_key(cfg) == run_key(run_config(*TINY_BUILTIN, "method=zero_shot")), "not part of the run key"
    default = run(run_config(*TINY_BUILTIN, "method=zero_shot"), tmp_path / "default")
    assert default["threads"] == run_threads(None) == max(1, min(before, usable_cpus()))
    assert default["overall"] == results["overall"]


def test_threads_must_be_positive(run_config) -> None:
    with pytest.raises(ConfigError, match="threads"):
        run_config(*TINY_BUILTIN, "threads=0")


def test_a_warm_era_point_imports_only_what_it_computes_with(run_config, tmp_path: Path) -> None:
    overrides = [*TINY_BUILTIN, "method=era"]
    cold = run(run_config(*overrides), tmp_path / "cold")  # fills the cache
    cache = run_config(*overrides).paths.cache_dir
    argv = [*overrides, f"paths.cache_dir={cache}", f"hydra.run.dir={tmp_path / 'warm'}"]
    done = subprocess.run(
        [sys.executable, "-c", _WARM_ERA_RUN, json.dumps(argv), json.dumps(NOT_IMPORTED)],
        env={**os.environ, "ERA_QUIET": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    warm = json.loads((tmp_path / "warm" / "results.json").read_text())
    assert warm["cache"]["encoded"] == 0 and warm["overall"] == cold["overall"]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [], done.stderr
