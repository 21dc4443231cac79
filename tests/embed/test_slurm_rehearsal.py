"""``make slurm-rehearsal`` needs a real SLURM; its checks and its page section are tested here.

The rehearsal itself runs where ``sbatch`` reaches a scheduler (docs/encoding-at-scale.md). What
it decides from its outputs, which caches agree and which jobs it read from the logs, and how
docs/benchmarks.md renders its JSON, are plain functions over real files.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from era_exp.embed.cache import EmbeddingCache
from era_exp.embed.hf import HFEmbedder

TEXTS = [f"text {i}: " + " ".join(["word"] * (2 + i % 9)) for i in range(30)]


def _bench(repo_root: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, repo_root / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rehearsal(repo_root: Path) -> ModuleType:
    return _bench(repo_root, "slurm_rehearsal")


def test_caches_filled_in_other_orders_hold_the_same_vectors(
    tmp_path: Path, tiny_model_dir: Path, rehearsal: ModuleType
) -> None:
    embedder = HFEmbedder("tiny", str(tiny_model_dir), device="cpu")
    EmbeddingCache(tmp_path / "a", chunk_size=7).get_or_encode(embedder, TEXTS)
    EmbeddingCache(tmp_path / "b").get_or_encode(embedder, TEXTS[::-1])
    a, b = rehearsal.cache_vectors(tmp_path / "a"), rehearsal.cache_vectors(tmp_path / "b")
    assert [len(keys) for keys in a.values()] == [len(TEXTS)]
    assert rehearsal.same_vectors(a, b)

    shutil.copytree(tmp_path / "b", tmp_path / "c")
    [record] = (tmp_path / "c").glob("*/shard-*.json")
    vectors_file = record.parent / json.loads(record.read_text())["vectors"]["file"]
    changed = np.load(vectors_file)
    changed[3, 0] = np.nextafter(changed[3, 0], np.float32(2))  # one bit of one vector
    np.save(vectors_file, changed)
    assert not rehearsal.same_vectors(a, rehearsal.cache_vectors(tmp_path / "c"))
    one_short = rehearsal.cache_vectors(tmp_path / "a")
    next(iter(one_short.values())).popitem()
    assert not rehearsal.same_vectors(one_short, b)


def test_job_ids_come_from_sbatch_and_submitit_logs(rehearsal: ModuleType) -> None:
    log = "Submitted batch job 13\noutputs/sweep/.submitit/14_0\noutputs/sweep/.submitit/14_1\n"
    assert rehearsal.job_ids(log) == ["13", "14"]
    assert rehearsal.job_ids("nothing submitted") == []


def test_the_page_section_shows_every_step_and_flags_a_failed_check(repo_root: Path) -> None:
    run_all = _bench(repo_root, "run_all")
    data = json.loads((repo_root / "bench" / "results" / "slurm.json").read_text())
    lines = run_all.slurm_section(data)
    steps = [line for line in lines if line.startswith("| ") and not line.startswith("| step")]
    assert [row.split(" | ")[0].removeprefix("| ") for row in steps] == list(data["steps"])
    assert all(f"- passed: {check}" in lines for check, ok in data["checks"].items() if ok)
    first = next(iter(data["checks"]))
    failed = run_all.slurm_section({**data, "checks": {**data["checks"], first: False}})
    assert f"- **failed**: {first}" in failed
    assert run_all.slurm_section(None)[0].startswith("Not measured")
