"""The sweep job logic on a stand-in pipeline: skip, reuse across train ratios, redo broken points."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from omegaconf import DictConfig

from era_exp.pipeline.results import DONE_FILE, RESULTS_FILE, TRACE_FILE, run_key, write_results
from era_exp.sweep import job
from era_exp.sweep.store import PointStore


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Replace the pipeline by one that writes a small complete run and records where it ran."""
    calls: list[Path] = []

    def fake_run(cfg: DictConfig, out_dir: Path, trainer_kwargs: dict | None = None) -> dict:
        calls.append(Path(out_dir))
        (out_dir / "runs").mkdir(parents=True, exist_ok=True)
        (out_dir / "runs" / "task.trec").write_text(f"q Q0 d 1 1.0 {cfg.method.name}\n")
        (out_dir / TRACE_FILE).write_bytes(b"per-epoch validation trace")
        results = {
            "run_key": run_key(cfg),
            "run": {
                "method": cfg.method.name,
                "train_ratio": cfg.train_ratio,
                "query_embedder": cfg.query_embedder.name,
                "doc_embedder": cfg.doc_embedder.name,
            },
            "overall": {"ndcg@10": 0.5},
            "per_task": {"t": {"ndcg@10": 0.5, "domain": "Code"}},
            "per_domain": {"Code": {"ndcg@10": 0.5, "num_tasks": 1}},
            "validation": {"overall": {"ndcg@10": 0.4}},
        }
        write_results(out_dir, results)
        return results

    monkeypatch.setattr(job, "run", fake_run)
    return calls


def test_train_ratio_is_no_part_of_a_run_without_stage2(run_config, tmp_path: Path) -> None:
    for method in ("zero_shot", "align_only"):
        assert run_key(run_config("data=builtin", f"method={method}", "train_ratio=0.1")) == run_key(
            run_config("data=builtin", f"method={method}", "train_ratio=0.4")
        )
    for method in ("label_only", "era"):
        assert run_key(run_config("data=builtin", f"method={method}", "train_ratio=0.1")) != run_key(
            run_config("data=builtin", f"method={method}", "train_ratio=0.4")
        )


def test_zero_shot_of_two_query_models_is_one_computation_named_by_each_pair(
    run_config, tmp_path: Path, computed: list[Path]
) -> None:
    """The query model is unused without a stage: the second pair reuses the first's run as its own."""
    store = PointStore(tmp_path)
    first, second = tmp_path / "pair=mpnet_to_minilm", tmp_path / "pair=minilm_to_minilm"
    zero_shot = ("data=builtin", "method=zero_shot")
    job.run_job(run_config(*zero_shot, "pair=mpnet_to_minilm"), first, store)
    reused = job.run_job(run_config(*zero_shot, "pair=minilm_to_minilm"), second, store)
    assert computed == [first]
    assert reused["run"]["query_embedder"] == reused["config"]["query_embedder"]["name"] == "minilm"
    assert json.loads((first / RESULTS_FILE).read_text())["run"]["query_embedder"] == "mpnet"


def test_points_sharing_a_key_are_computed_once(run_config, tmp_path: Path, computed: list[Path]) -> None:
    store = PointStore(tmp_path)
    first, second = tmp_path / "ratio=0.1", tmp_path / "ratio=0.2"
    job.run_job(run_config("data=builtin", "method=align_only", "train_ratio=0.1"), first, store)
    reused = job.run_job(run_config("data=builtin", "method=align_only", "train_ratio=0.2"), second, store)
    assert computed == [first]
    assert reused["run"]["train_ratio"] == 0.2 and reused["config"]["train_ratio"] == 0.2
    assert reused["reused_from"] == "../ratio=0.1"
    assert (second / DONE_FILE).read_text().strip() == reused["run_key"]
    assert json.loads((second / RESULTS_FILE).read_text()) == reused
    assert (second / "runs" / "task.trec").stat().st_ino == (first / "runs" / "task.trec").stat().st_ino
    assert (second / TRACE_FILE).read_bytes() == (first / TRACE_FILE).read_bytes(), "files are reused too"
    job.run_job(run_config("data=builtin", "method=era", "train_ratio=0.1"), tmp_path / "era-0.1", store)
    job.run_job(run_config("data=builtin", "method=era", "train_ratio=0.2"), tmp_path / "era-0.2", store)
    assert len(computed) == 3


def test_complete_points_are_skipped_and_broken_ones_redone(
    run_config, tmp_path: Path, computed: list[Path]
) -> None:
    store = PointStore(tmp_path)
    points = {tmp_path / m: run_config("data=builtin", f"method={m}") for m in ("label_only", "era")}
    for out_dir, cfg in points.items():
        job.run_job(cfg, out_dir, store)
    broken = tmp_path / "era"
    (broken / RESULTS_FILE).write_text('{"run_key": ')
    for out_dir, cfg in points.items():
        job.run_job(cfg, out_dir, store)
    assert computed == [*points, broken]
    assert json.loads((broken / RESULTS_FILE).read_text())["overall"]["ndcg@10"] == 0.5


def test_a_killed_source_is_recomputed_not_reused(run_config, tmp_path: Path, computed: list[Path]) -> None:
    store = PointStore(tmp_path)
    first, second = tmp_path / "a", tmp_path / "b"
    job.run_job(run_config("data=builtin", "method=zero_shot", "train_ratio=0.1"), first, store)
    (first / DONE_FILE).unlink()
    job.run_job(run_config("data=builtin", "method=zero_shot", "train_ratio=0.2"), second, store)
    assert computed == [first, second]
    assert store.source(run_key(run_config("data=builtin", "method=zero_shot"))) == second


def test_the_same_point_launched_twice_at_once_is_computed_once(
    run_config, tmp_path: Path, computed: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = job.run

    def slow_run(cfg: DictConfig, out_dir: Path, trainer_kwargs: dict | None = None) -> dict:
        time.sleep(0.5)
        return slow(cfg, out_dir, trainer_kwargs)

    monkeypatch.setattr(job, "run", slow_run)
    cfg, out_dir = run_config("data=builtin", "method=era"), tmp_path / "era"
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: job.run_job(cfg, out_dir, PointStore(tmp_path)), range(2)))
    assert computed == [out_dir]
    assert results[0] == results[1]


def test_skip_completed_false_recomputes(run_config, tmp_path: Path, computed: list[Path]) -> None:
    store = PointStore(tmp_path)
    job.run_job(run_config("data=builtin", "method=zero_shot", "train_ratio=0.1"), tmp_path / "a", store)
    job.run_job(
        run_config("data=builtin", "method=zero_shot", "train_ratio=0.2", "skip_completed=false"),
        tmp_path / "b",
        store,
    )
    assert computed == [tmp_path / "a", tmp_path / "b"]
