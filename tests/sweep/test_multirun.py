"""Real multiruns of ``era-run`` on a tiny built-in grid: resume, parallel jobs, loggers, era-encode."""

from __future__ import annotations

import json
import string
import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from era_exp.cli import encode, run
from era_exp.pipeline.results import RESULTS_FILE, completed_results
from era_exp.sweep.naming import FolderCollisionError
from era_exp.sweep.needs import plan_encoding
from era_exp.sweep.store import POINTS_DIR

TINY = ["pair=minilm_to_minilm", "stage1.epochs=2", "stage1.samples_per_task=30", "stage2.nominal_epochs=2"]


@pytest.fixture
def tiny_task(tmp_path: Path) -> list[str]:
    """Overrides selecting a 40-query, 60-document SciFact-shaped task written to ``tmp_path``."""
    folder = tmp_path / "data" / "SciFact"
    folder.mkdir(parents=True)

    def text(i: int) -> str:
        return f"{string.ascii_lowercase[i % 26]} {string.ascii_lowercase[i // 26]} topic {i % 7}"

    docs = [{"id": f"d{i}", "doc": f"{text(i)} record {i}"} for i in range(60)]
    queries = [
        {
            "qid": f"q{i}",
            "instruction": "Find the record.",
            "query": text(i),
            "labels": [{"id": f"d{i}", "score": 1}],
        }
        for i in range(40)
    ]
    for name, rows in (("docs", docs), ("queries", queries)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return [
        "data=local",
        f"data.root={tmp_path / 'data'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        *TINY[2:],
    ]


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERA_QUIET", "1")


def multirun(monkeypatch: pytest.MonkeyPatch, sweep_dir: Path, *overrides: str) -> dict[str, dict]:
    """Run ``era-run -m`` in this process; ``{point folder name: results}`` of the sweep."""
    argv = ["era-run", "-m", *overrides, f"hydra.sweep.dir={sweep_dir}", "hydra/job_logging=none"]
    monkeypatch.setattr(sys, "argv", [*argv, "hydra/hydra_logging=none"])
    try:
        run.main()
    finally:
        GlobalHydra.instance().clear()
    return {path.parent.name: json.loads(path.read_text()) for path in sweep_dir.glob(f"*/{RESULTS_FILE}")}


def computed(points: dict[str, dict]) -> list[dict]:
    """The points that ran the pipeline rather than reusing a twin's results."""
    return [results for results in points.values() if "reused_from" not in results]


def test_rerun_skips_finished_points_and_redoes_a_broken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_task: list[str]
) -> None:
    overrides = [*tiny_task, "method=zero_shot,align_only"]
    sweep = tmp_path / "sweep"
    first = multirun(monkeypatch, sweep, *overrides)
    folder = {results["run"]["method"]: sweep / name for name, results in first.items()}
    assert sorted(folder) == ["align_only", "zero_shot"]
    stamp = {method: (path / RESULTS_FILE).stat().st_mtime_ns for method, path in folder.items()}
    broken = folder["align_only"] / RESULTS_FILE
    broken.write_text(broken.read_text()[:100])  # as if the job died while writing

    second = multirun(monkeypatch, sweep, *overrides)
    assert (folder["zero_shot"] / RESULTS_FILE).stat().st_mtime_ns == stamp["zero_shot"]
    assert second[folder["zero_shot"].name] == first[folder["zero_shot"].name]
    redone = second[folder["align_only"].name]
    assert broken.stat().st_mtime_ns > stamp["align_only"]
    assert "reused_from" not in redone
    assert completed_results(folder["align_only"], first[folder["align_only"].name]["run_key"]) == redone


@pytest.mark.slow
def test_parallel_jobs_encode_each_text_once_and_compute_each_key_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_task: list[str]
) -> None:
    grid = [*tiny_task, "method=zero_shot,align_only,label_only", "train_ratio=0.1,0.2"]
    points = multirun(monkeypatch, tmp_path / "sweep", *grid, "hydra/launcher=parallel", "logger=csv")
    assert len(points) == 6
    assert len(computed(points)) == len(list((tmp_path / "sweep" / POINTS_DIR).glob("*.json"))) == 4
    assert sum(results["cache"]["encoded"] for results in computed(points)) == plan_encoding(grid).needed
    for name, results in points.items():
        assert results["config"]["train_ratio"] in (0.1, 0.2)
        assert (tmp_path / "sweep" / name / "csv" / "per_task.csv").is_file()


@pytest.mark.slow
def test_encoded_grid_runs_from_the_cache_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_task: list[str]
) -> None:
    grid = [*tiny_task, "pair=mpnet_to_minilm", "method=zero_shot,label_only,era", "train_ratio=0.2"]
    summary = tmp_path / "encode.json"
    assert encode.main(["-m", *grid, "--summary", str(summary)]) == 0
    encoded = json.loads(summary.read_text())
    assert encoded["points"] == 3 and encoded["encoded"] == encoded["needed"] > 0
    points = multirun(monkeypatch, tmp_path / "sweep", *grid)
    assert len(points) == 3
    assert all(results["cache"]["encoded"] == 0 for results in points.values())


@pytest.mark.slow
def test_parallel_wandb_offline_logs_one_run_per_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_task: list[str]
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    root = tmp_path / "wandb-root"
    grid = [*tiny_task, "method=align_only", "train_ratio=0.1,0.2", "logger=wandb", f"logger.dir={root}"]
    points = multirun(monkeypatch, tmp_path / "sweep", *grid, "hydra/launcher=parallel")
    assert len(points) == 2 and len(computed(points)) == 1
    runs = sorted((root / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    records = [next(run_dir.glob("run-*.wandb")).read_bytes() for run_dir in runs]
    for run_dir, record in zip(runs, records, strict=True):
        assert list(run_dir.glob("files/media/table/per_task_*.table.json"))
        assert all(field in record for field in (b"align_only", b"sweep", b"overall/ndcg@10"))
    assert sum(b"align/train_loss" in record for record in records) == 1


def test_a_grid_whose_points_would_share_a_folder_fails_before_any_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_task: list[str]
) -> None:
    """Folder names leave ``data.root`` out, so sweeping it would overwrite one root's results."""
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    other_root = tmp_path / "other-data"
    (other_root / "SciFact").mkdir(parents=True)
    for name in ("docs.jsonl", "queries.jsonl"):
        (other_root / "SciFact" / name).write_bytes((tmp_path / "data" / "SciFact" / name).read_bytes())
    grid = [line for line in tiny_task if not line.startswith("data.root=")]
    with pytest.raises(FolderCollisionError, match=r"differ only in .*data\.root=.*own hydra\.sweep\.dir"):
        multirun(monkeypatch, tmp_path / "sweep", *grid, f"data.root={tmp_path / 'data'},{other_root}")
    assert not list((tmp_path / "sweep").glob("*/"))


def _missing(summary: dict) -> int:
    return sum(count for per_cache in summary["missing"].values() for count in per_cache.values())


def test_encode_shards_together_fill_the_cache_once(tiny_task: list[str], tmp_path: Path) -> None:
    grid = [*tiny_task, "method=zero_shot,era", "train_ratio=0.2"]
    counted = tmp_path / "dry-run.json"
    assert encode.main([*grid, "--dry-run", "--summary", str(counted)]) == 0
    before = json.loads(counted.read_text())
    assert _missing(before) == before["needed"] > 0, "a cold cache misses every text"
    parts = []
    for index in range(2):
        summary = tmp_path / f"shard-{index}.json"
        assert encode.main([*grid, "--shard", f"{index}/2", "--summary", str(summary)]) == 0
        parts.append(json.loads(summary.read_text()))
    assert sum(part["encoded"] for part in parts) == sum(part["shard"]["texts"] for part in parts)
    assert sum(part["encoded"] for part in parts) == parts[0]["needed"] > 0
    rerun = tmp_path / "rerun.json"
    assert encode.main([*grid, "--summary", str(rerun)]) == 0
    assert json.loads(rerun.read_text())["encoded"] == 0
    assert encode.main([*grid, "--dry-run", "--summary", str(counted)]) == 0
    assert _missing(json.loads(counted.read_text())) == 0


def test_unknown_encode_setting_fails_with_the_known_keys(tiny_task: list[str]) -> None:
    with pytest.raises(SystemExit, match=r"known keys: encode\.accelerator"):
        encode.main([*tiny_task, "encode.device=2"])
    with pytest.raises(SystemExit, match="known: default"):
        encode.main([*tiny_task, "encode=nope"])


@pytest.mark.slow
def test_encode_as_a_job_array_through_the_launcher(tiny_task: list[str], tmp_path: Path) -> None:
    """``hydra/launcher=basic`` runs the array's jobs one after another; slurm submits the same jobs."""
    grid = [*tiny_task, "method=zero_shot,era", "train_ratio=0.2"]
    summary = tmp_path / "array.json"
    sweep = f"hydra.sweep.dir={tmp_path / 'array'}"
    argv = [*grid, "hydra/launcher=basic", sweep, "encode.array_jobs=2", "--summary", str(summary)]
    assert encode.main(argv) == 0
    result = json.loads(summary.read_text())
    assert len(result["jobs"]) == 2 and result["encoded"] == result["needed"] > 0
    assert sorted(job["index"] for job in result["jobs"]) == [0, 1]
