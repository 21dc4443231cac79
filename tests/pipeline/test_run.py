"""era-run end to end through the real Hydra config, tiny: built-in task and mair-lite with MiniLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from era_exp.adapters.store import load_adapter
from era_exp.data.builtin import stdlib_codesearch_task
from era_exp.pipeline.run import run
from era_exp.retrieve.trec import read_qrels, read_run
from helpers.config import TINY_STAGES


def test_zero_shot_on_the_builtin_task_writes_results_and_reuses_the_cache(run_config, tmp_path: Path):
    cfg = run_config("data=builtin", "data.max_queries=120", "method=zero_shot")
    first = run(cfg, tmp_path / "a")
    second = run(cfg, tmp_path / "b")
    assert second["cache"]["encoded"] == 0 and second["cache"]["hits"] > 0, "a warm run encodes nothing"
    assert second["overall"] == first["overall"]
    assert 0.2 < first["overall"]["ndcg@10"] <= 1.0, "MiniLM finds stdlib functions from their summaries"
    assert first["per_task"]["stdlib-codesearch"]["domain"] == "Code"
    assert (
        first["split_sizes"]["stdlib-codesearch"]["scored"]
        == first["split_sizes"]["stdlib-codesearch"]["test"]
    )
    saved = json.loads((tmp_path / "a" / "results.json").read_text())
    assert saved["overall"]["ndcg@10_domain_mean"] == pytest.approx(first["overall"]["ndcg@10"])
    assert (tmp_path / "a" / "runs" / "stdlib-codesearch.trec").is_file()
    assert (tmp_path / "a" / "DONE").read_text().strip() == first["run_key"]


def test_validation_is_scored_apart_from_the_test_split(run_config, tmp_path: Path):
    cfg = run_config("data=builtin", "data.max_queries=120", "method=zero_shot")
    results = run(cfg, tmp_path)
    sizes = results["split_sizes"]["stdlib-codesearch"]
    assert sizes["validated"] == sizes["val"] == 12 and sizes["scored"] == sizes["test"] == 60
    validation = results["validation"]
    assert validation["per_unit"]["stdlib-codesearch"]["num_queries"] == 12
    assert validation["per_unit"]["stdlib-codesearch"]["eval_split"] == "val"
    assert validation["per_task"]["stdlib-codesearch"]["domain"] == "Code"
    assert 0 <= validation["overall"]["ndcg@10"] <= 1
    test_qids = set(read_qrels(tmp_path / "qrels" / "stdlib-codesearch.qrels"))
    val_qids = set(read_qrels(tmp_path / "validation" / "qrels" / "stdlib-codesearch.qrels"))
    assert len(val_qids) == 12 and len(test_qids) == 60 and not val_qids & test_qids
    assert set(read_run(tmp_path / "validation" / "runs" / "stdlib-codesearch.trec")) == val_qids


def test_an_optimised_metric_that_is_not_computed_fails_before_any_work(run_config, tmp_path: Path):
    cfg = run_config("data=builtin", "data.max_queries=60")
    cfg.eval.metrics = ["map@100"]  # past the compose-time check: the run checks again
    with pytest.raises(ValueError, match=r"eval\.optimized_metric"):
        run(cfg, tmp_path)
    assert not any(tmp_path.iterdir()), "nothing is written, DONE least of all"
    chosen = run_config(
        "data=builtin", "data.max_queries=60", "eval.metrics=[map@100]", "eval.optimized_metric=map@100"
    )
    results = run(chosen, tmp_path)
    assert {key for key in results["overall"] if "@" in key} == {
        "map@100",
        "map@100_domain_mean",
        "map@100_query_weighted",
    }
    assert (tmp_path / "DONE").read_text().strip() == results["run_key"]


def test_a_completed_run_is_skipped_and_a_broken_one_redone(run_config, tmp_path: Path):
    cfg = run_config("data=builtin", "data.max_queries=60")
    first = run(cfg, tmp_path)
    results = tmp_path / "results.json"
    stamp = results.stat().st_mtime_ns
    assert run(cfg, tmp_path)["run_key"] == first["run_key"]
    assert results.stat().st_mtime_ns == stamp, "complete results are not recomputed"
    results.write_text('{"truncated": ')
    assert run(cfg, tmp_path)["overall"] == first["overall"]
    assert json.loads(results.read_text())["overall"] == first["overall"]


def test_era_on_the_builtin_task_is_deterministic_and_saves_its_adapter(run_config, tmp_path: Path):
    cfg = run_config("data=builtin", "data.max_queries=160", "method=era", *TINY_STAGES)
    first = run(cfg, tmp_path / "a")
    second = run(cfg, tmp_path / "b")
    assert first["overall"] == second["overall"], "same config, same metrics on CPU"
    assert first["stages"]["adaptation"]["teacher"] == "stage1_adapter", "ERA mines with its Stage-1 adapter"
    corpus_size = len(stdlib_codesearch_task().corpus)
    assert first["stages"]["alignment"]["documents"] == min(1000, corpus_size)
    identity = json.loads((tmp_path / "a" / "adapter" / "adapter.json").read_text())
    loaded, meta = load_adapter(
        tmp_path / "a" / "adapter", identity["query_identity"], identity["doc_identity"]
    )
    assert meta.method == "era" and meta.d_in == meta.d_out == 384 and meta.train_ratio == 0.2
    assert loaded.linear.weight.shape == (384, 384)


@pytest.mark.mair_lite
def test_tiny_era_on_real_mair_lite_tasks(run_config, tmp_path: Path, mair_lite_root: Path):
    """Both stages on two real tasks; the query side is MiniLM at another truncation (an asymmetric pair)."""
    cfg = run_config(
        f"data.root={mair_lite_root}",
        "data.tasks=[TMDB,PytorchAPI]",
        "method=era",
        "query_embedder.max_length=128",
        "stage1.samples_per_task=40",
        *TINY_STAGES,
    )
    results = run(cfg, tmp_path)
    assert set(results["per_task"]) == {"TMDB", "PytorchAPI"}
    assert results["stages"]["adaptation"]["teacher"] == "stage1_adapter"
    assert results["stages"]["alignment"]["documents"] == 80
    sizes = results["split_sizes"]["TMDB"]
    assert (sizes["train"], sizes["val"], sizes["test"]) == (20, 10, 50)
    assert 0.0 < results["overall"]["ndcg@10"] <= 1.0
    for task in ("TMDB", "PytorchAPI"):
        assert (tmp_path / "runs" / f"{task}.trec").is_file() and (
            tmp_path / "qrels" / f"{task}.qrels"
        ).is_file()


@pytest.mark.mair_lite
def test_stage_one_encodes_only_sampled_documents_with_the_query_model(
    run_config, tmp_path: Path, mair_lite_root: Path
):
    """The query model meets 30 sampled documents of a 936-document corpus, plus the queries it scores
    (test and validation)."""
    cfg = run_config(
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"data.root={mair_lite_root}",
        "data.tasks=[HuggingfaceAPI]",
        "method=align_only",
        "query_embedder.max_length=64",
        "doc_embedder.max_length=96",  # short on both sides (distinct identities) keeps the encode quick
        "stage1.samples_per_task=30",
        "stage1.epochs=1",
    )
    results = run(cfg, tmp_path / "run")
    per_identity = results["cache"]["per_identity"]
    query_side = next(
        entry
        for identity, entry in per_identity.items()
        if identity.startswith("minilm") and entry["encoded"] < 936
    )
    sizes = results["split_sizes"]["HuggingfaceAPI"]
    assert query_side["encoded"] == 30 + sizes["scored"] + sizes["validated"]
    assert results["stages"]["alignment"]["documents"] == 30
