"""What a run records about its data, and data problems it stops on before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from era_exp.config import compose
from era_exp.data.errors import DataError
from era_exp.pipeline.run import run


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    """A MAIR-format TMDB with one duplicate document row and one negative label."""
    docs = [{"id": f"d{i}", "doc": f"endpoint {i} returns the details of item {i}"} for i in range(12)]
    queries = [
        {
            "qid": f"q{i}",
            "instruction": "Find the API endpoint.",
            "query": f"details of item {i}",
            "labels": [{"id": f"d{i}", "score": 1}],
        }
        for i in range(12)
    ]
    queries[3]["labels"].append({"id": "d4", "score": -1})
    _write(tmp_path / "data" / "TMDB" / "docs.jsonl", [*docs, docs[0]])
    _write(tmp_path / "data" / "TMDB" / "queries.jsonl", queries)
    return tmp_path / "data"


def _cfg(root: Path, cache: Path, *overrides: str):
    overrides = [f"paths.mair_lite={root}", f"paths.cache_dir={cache}", *overrides]
    return compose(overrides, return_hydra_config=False)


def test_non_strict_counts_reach_results_json(task_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"TMDB/docs\.jsonl:13: duplicate doc id 'd0'"):
        run(_cfg(task_root, tmp_path / "cache"), tmp_path / "strict")
    results = run(_cfg(task_root, tmp_path / "cache", "data.strict=false"), tmp_path / "lenient")
    expected = {"duplicate_doc_ids": 1, "negative_labels": 1}
    assert results["data"]["lenient"] == {"TMDB": expected}
    assert results["data"]["lenient_totals"] == expected
    saved = json.loads((tmp_path / "lenient" / "results.json").read_text())
    assert saved["data"]["lenient_totals"] == expected
    assert len(saved["data"]["fingerprint"]) == 32


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.tasks=[]"], r"matched no task \(tasks=\[\]"),
        (["data.domains=[Legal]"], r"matched no task \(tasks=None, domains=\['Legal'\]"),
    ],
)
def test_a_selection_matching_no_task_fails_before_any_work(
    task_root: Path, tmp_path: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        run(_cfg(task_root, tmp_path / "cache", *overrides), tmp_path / "run")
    assert not (tmp_path / "run" / "results.json").exists()


def _numbers(results: dict) -> dict:
    """What a run computed: every score, split size and stage outcome, without timings or memory
    (nor whether Stage 1 was trained or loaded from the Stage-1 store)."""
    dropped = {"reused", "stage1_key"}
    stages = {
        name: {k: v for k, v in stage.items() if not ("second" in k or "time" in k or k in dropped)}
        for name, stage in (results.get("stages") or {}).items()
        if isinstance(stage, dict)
    }
    keys = ("overall", "per_task", "per_unit", "validation", "split_sizes", "run_key")
    return {**{key: results[key] for key in keys}, "stages": stages, "data": results["data"]["fingerprint"]}


# Replica tasks with sub-splits and shared corpora (CliniDS_2015 reads CliniDS_2014's, ELI5 reads AY2's).
RESIDENCY_TASKS = ("SciFact", "FiQA", "CQADupStack", "CliniDS_2014", "CliniDS_2015", "ELI5", "MISeD")


def test_a_run_holding_one_corpus_at_a_time_computes_what_one_holding_all_does(
    mair_replica: Path, run_config, tmp_path: Path
) -> None:
    """ERA (Stage-1 samples, Stage-2 mining, scoring: every way a run reads a corpus) through data=hub on
    the replica, whose tasks share corpora: with no budget for corpora not in use
    the run never has two corpora's texts alive at once, and every number equals the run keeping all."""
    common = [
        "data=hub",
        f"data.queries={mair_replica / 'MAIR-Queries'}",
        f"data.docs={mair_replica / 'MAIR-Docs'}",
        "data.queries_revision=null",
        "data.docs_revision=null",
        f"data.cache_dir={tmp_path / 'datasets'}",
        f"data.tasks=[{','.join(RESIDENCY_TASKS)}]",
        "method=era",
        "train_ratio=0.2",
        "query_embedder.max_length=32",
        "doc_embedder.max_length=32",
        "stage1.samples_per_task=32",
        "stage1.epochs=2",
        "stage2.nominal_epochs=3",
        "stage2.patience=1",
    ]
    kept = run(run_config(*common, "data.resident_mib=1000000"), tmp_path / "all")
    lean = run(run_config(*common, "data.resident_mib=0"), tmp_path / "one")
    assert _numbers(lean) == _numbers(kept)
    held, one = kept["data"]["resident"], lean["data"]["resident"]
    assert held["reads"] == 0 and held["peak_columns"] > 15  # every corpus read once, all kept
    assert one["peak_columns"] == 1, "two corpora's texts were alive at once"
    assert one["reads"] > held["peak_columns"]  # corpora were let go and read again, phase after phase
    assert one["peak_chars"] < held["peak_chars"] / 2  # the largest corpus, not all of them
