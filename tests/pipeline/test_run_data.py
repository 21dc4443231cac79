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
