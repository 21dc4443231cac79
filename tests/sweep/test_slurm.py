"""``era-encode hydra/launcher=slurm``: the submitit SLURM executor against a one-node fake SLURM.

The fake (tests/helpers/fake_slurm.py) emulates sbatch, srun, sacct, squeue and scancel on this
host; submitit writes the real sbatch script, parses the real command outputs and reads the real
``SLURM_*`` environment in each job. The first tests hold the fake to submitit's expectations;
the others run era-encode's job array through it on a real mair-lite task with tiny models.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import submitit
import torch
from omegaconf import OmegaConf

from era_exp.cli import encode
from era_exp.embed.cache import EmbeddingCache
from era_exp.sweep.needs import plan_encoding
from helpers.fake_slurm import FINISHED, install, jobs
from helpers.tiny_models import make_tiny_bert

REPO_ROOT = Path(__file__).resolve().parents[2]
_FIRST_IDS = itertools.count(1000, 1000)


@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The fake's commands first on PATH; yields its state folder; cancels what is left at the end."""
    state = tmp_path / "slurm-state"
    bin_dir = install(tmp_path / "slurm-bin")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(state))
    monkeypatch.setenv("FAKE_SLURM_FIRST_ID", str(next(_FIRST_IDS)))
    monkeypatch.setenv("FAKE_SLURM_KILL_WAIT", "1")
    yield state
    subprocess.run(["scancel", "--me"], check=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _unfinished(state):
        time.sleep(0.1)


def _unfinished(state: Path) -> list[dict]:
    return [task for job in jobs(state) for task in job["tasks"] if task["state"] not in FINISHED]


def _sacct(job_id: int) -> dict[str, str]:
    """``{JobID: State}`` as submitit asks sacct for it."""
    command = ["sacct", "-o", "JobID,State,NodeList", "--parsable2", "-j", str(job_id)]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()
    assert lines[0] == "JobID|State|NodeList"
    return {line.split("|")[0]: line.split("|")[1] for line in lines[1:]}


def test_fake_slurm_runs_a_submitit_array_with_the_slurm_environment(
    fake_slurm: Path, tmp_path: Path
) -> None:
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit" / "%j")
    assert executor.cluster == "slurm"  # srun is on PATH, so submitit takes this host for a cluster
    executor.update_parameters(timeout_min=5, gpus_per_node=1, slurm_array_parallelism=2)
    show = "echo $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID $SLURM_PROCID $SLURM_NTASKS $SLURM_GPUS_PER_NODE"
    commands = [
        submitit.helpers.CommandFunction(["bash", "-c", f"{show}; exit {code}"]) for code in (0, 0, 3)
    ]
    array = executor.submit_array(commands)
    array_id = array[0].job_id.split("_")[0]
    assert [job.job_id for job in array] == [f"{array_id}_{i}" for i in range(3)]
    assert [job.result() for job in array[:2]] == [f"{array_id} {i} 0 1 1" for i in range(2)]
    with pytest.raises(submitit.core.utils.FailedJobError, match="exit status 3"):
        array[2].result()

    # submitit reads a task's outcome from the file the task itself writes, which can come before the
    # emulated slurmd records the process's exit: wait for the cluster to see every task end.
    deadline = time.monotonic() + 60
    while not all("end" in task for task in jobs(fake_slurm)[0]["tasks"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    (record,) = jobs(fake_slurm)
    assert record["options"]["array"] == "0-2%2" and record["options"]["gpus-per-node"] == "1"
    assert all(task["state"] == "COMPLETED" for task in record["tasks"][:2])  # the failure is inside python
    ends = sorted(task["end"] for task in record["tasks"])
    assert record["tasks"][2]["start"] >= ends[0], "at most 2 tasks ran at once"
    assert array[0].paths.stdout.read_text().count("Job completed successfully") == 1
    assert _sacct(int(array_id))[f"{array_id}_0"] == "COMPLETED"


def test_fake_slurm_queues_cancels_and_enforces_the_time_limit(fake_slurm: Path, tmp_path: Path) -> None:
    script = tmp_path / "sleep.sh"
    script.write_text("#!/bin/bash\n#SBATCH --array=0-2%1\n#SBATCH --output=out-%A_%a.txt\nsleep 60\n")
    submit = ["sbatch", "--parsable", "--time=0:01", str(script)]
    job_id = int(subprocess.run(submit, check=True, capture_output=True, text=True, cwd=tmp_path).stdout)
    queue = subprocess.run(["squeue", "--me"], check=True, capture_output=True, text=True).stdout
    assert f"{job_id}_[1-2%1]" in queue  # folded, as SLURM shows the tasks still pending
    deadline = time.monotonic() + 20
    while _sacct(job_id).get(f"{job_id}_0") != "TIMEOUT" and time.monotonic() < deadline:
        time.sleep(0.1)
    subprocess.run(["scancel", str(job_id)], check=True)
    while _unfinished(fake_slurm) and time.monotonic() < deadline:
        time.sleep(0.1)
    states = _sacct(job_id)
    assert states[f"{job_id}_0"] == "TIMEOUT" and states[f"{job_id}_0.batch"] == "CANCELLED"
    assert states[f"{job_id}_2"] == "CANCELLED"
    assert (tmp_path / f"out-{job_id}_0.txt").is_file()
    refused = subprocess.run(["sbatch", "--nodes=2", str(script)], capture_output=True, text=True)
    assert refused.returncode == 1 and "Requested node configuration is not available" in refused.stderr


# --- era-encode through the submitit SLURM launcher ---------------------------------------------


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Overrides putting two tiny random BERTs (MiniLM's tokenizer) on the query and document side.

    ``batch_size=1`` makes every vector independent of the texts encoded with it, so how the
    texts are split among jobs cannot change a vector.
    """
    root = tmp_path_factory.mktemp("tiny-pair")
    overrides = []
    for seed, side in enumerate(("query", "doc"), start=1):
        folder = make_tiny_bert(root / side, seed=seed)
        overrides += [f"{side}_embedder.name=tiny-{side}", f"{side}_embedder.model={folder}"]
        overrides += [f"{side}_embedder.batch_size=1", f"{side}_embedder.max_length=64"]
        overrides.append(f"{side}_embedder.device=cpu")
    return overrides


@pytest.fixture
def grid(mair_lite_root: Path, tiny_pair: list[str], tmp_path: Path) -> list[str]:
    """zero-shot and ERA on mair-lite's SpotifyAPI (40 documents, 57 queries), into a cold cache."""
    data = ["data=mair_lite", f"data.root={mair_lite_root}", "data.tasks=[SpotifyAPI]"]
    run = ["method=zero_shot,era", "train_ratio=0.2", "stage1.samples_per_task=30"]
    return [*data, *tiny_pair, *run, f"paths.cache_dir={tmp_path / 'cache'}"]


@pytest.fixture
def single_threaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One thread here and in the jobs: the thread count changes float reductions."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("ERA_QUIET", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def era_encode(*args: str) -> subprocess.CompletedProcess:
    """The era-encode command line in a new process, as on a login node; chunks of 8 texts."""
    command = [sys.executable, "-m", "era_exp.cli.encode", "encode.chunk_size=8", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _missing(grid: list[str], tmp_path: Path) -> int:
    out = tmp_path / "dry-run.json"
    assert encode.main([*grid, "--dry-run", "--summary", str(out)]) == 0
    return sum(n for per_cache in json.loads(out.read_text())["missing"].values() for n in per_cache.values())


@pytest.mark.slow
@pytest.mark.mair_lite
@pytest.mark.usefixtures("single_threaded")
def test_encode_array_through_slurm_matches_a_single_process_encode(
    fake_slurm: Path, grid: list[str], tmp_path: Path
) -> None:
    sweep, summary = tmp_path / "sweep", tmp_path / "summary.json"
    launch = ["hydra/launcher=slurm", f"hydra.sweep.dir={sweep}", "encode.array_jobs=3"]
    launch += [
        "hydra.launcher.partition=gpu",
        "hydra.launcher.array_parallelism=2",
        "hydra.launcher.timeout_min=30",
    ]
    done = era_encode(*grid, *launch, "--summary", str(summary))
    assert done.returncode == 0, done.stderr[-3000:]

    (record,) = jobs(fake_slurm)  # one sbatch for the whole array, with slurm.yaml's settings
    slurm = OmegaConf.load(REPO_ROOT / "conf" / "hydra" / "launcher" / "slurm.yaml")
    options = record["options"]
    assert options["array"] == "0-2%2" and options["partition"] == "gpu" and options["time"] == "30"
    assert options["gpus-per-node"] == str(slurm.gpus_per_node)
    assert options["cpus-per-task"] == str(slurm.cpus_per_task) and options["mem"] == f"{slurm.mem_gb}GB"
    assert options["nodes"] == str(slurm.nodes) and options["ntasks-per-node"] == str(slurm.tasks_per_node)
    assert [task["state"] for task in record["tasks"]] == ["COMPLETED"] * 3
    for index in range(3):  # submitit read the array task's SLURM_* variables in each job
        job = OmegaConf.load(sweep / f"shard-{index}" / ".hydra" / "hydra.yaml").hydra.job
        assert (job.id, job.num) == (f"{record['id']}_{index}", index)

    result = json.loads(summary.read_text())
    plan = plan_encoding(grid)
    assert result["needed"] == plan.needed > 0
    assert [job["index"] for job in result["jobs"]] == [0, 1, 2]
    assert all(job["encoded"] == job["texts"] > 0 for job in result["jobs"]), (
        "each job encoded its whole shard"
    )
    assert result["encoded"] == sum(job["texts"] for job in result["jobs"]) == plan.needed
    assert result["hits"] == 0 and _missing(grid, tmp_path) == 0

    single = tmp_path / "single-cache"
    assert encode.main([*grid, f"paths.cache_dir={single}"]) == 0
    for cache_dir, recorder in plan.recorders.items():
        for identity, texts in recorder.texts.items():
            embedder = recorder.embedders[identity]
            arrayed = EmbeddingCache(cache_dir).read(embedder, list(texts))
            np.testing.assert_array_equal(arrayed, EmbeddingCache(single).read(embedder, list(texts)))


@pytest.mark.slow
@pytest.mark.mair_lite
@pytest.mark.usefixtures("single_threaded")
def test_a_failed_slurm_job_names_its_shard_and_a_rerun_encodes_only_what_it_left(
    fake_slurm: Path, grid: list[str], tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep"
    launch = ["hydra/launcher=slurm", f"hydra.sweep.dir={sweep}"]
    # The batch script's setup lines arm the fault in array task 1 only: it dies after one chunk.
    fault = "hydra.launcher.setup=['test $SLURM_ARRAY_TASK_ID != 1 || export ERA_FAULT=encode.commit']"
    failed = era_encode(*grid, *launch, "encode.array_jobs=3", fault)
    assert failed.returncode != 0
    assert "era-encode --shard 1/3 failed (killed by SIGKILL)" in failed.stderr
    assert "1 of 3 encode jobs did not finish (--shard 1/3)" in failed.stderr
    assert not (sweep / "shard-1" / encode.SUMMARY_FILE).exists()
    done = [json.loads((sweep / f"shard-{i}" / encode.SUMMARY_FILE).read_text()) for i in (0, 2)]
    shard_1 = done[0]["needed"] - sum(part["shard"]["texts"] for part in done)
    left = _missing(grid, tmp_path)
    assert 0 < left < shard_1, "the dead job committed a chunk first"

    # Rerun as 2 jobs into the same folder: shard-2's summary from the first array must not count.
    summary = tmp_path / "rerun.json"
    rerun = era_encode(*grid, *launch, "encode.array_jobs=2", "--summary", str(summary))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    result = json.loads(summary.read_text())
    assert [job["count"] for job in result["jobs"]] == [2, 2]
    assert result["encoded"] == sum(job["encoded"] for job in result["jobs"]) == left
    assert result["hits"] == result["needed"] - left
    assert _missing(grid, tmp_path) == 0
