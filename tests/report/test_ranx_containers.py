"""The significance tests' ranx containers compile once for every task, whatever its ids' width.

(That they give the values ranx gives on the original ids, ties included, is checked in
tests/evaluate/test_metrics.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import ranx.data_structures.common as ranx_common
from numba.core.registry import CPUDispatcher
from ranx import compare

from era_exp.report.significance import ranx_containers

# Longest document ids of 71 and 4 characters.
TASKS = ("TMDB", "AILA2019-Statutes")


def _signatures() -> dict[str, set]:
    return {
        name: set(value.signatures)
        for name, value in vars(ranx_common).items()
        if isinstance(value, CPUDispatcher)
    }


def _compare(root: Path, task: str) -> dict:
    lines = (root / task / "queries.jsonl").read_text(encoding="utf-8").splitlines()[:30]
    qrels = {q["qid"]: {label["id"]: label["score"] for label in q["labels"]} for q in map(json.loads, lines)}
    docs = [json.loads(line)["id"] for line in (root / task / "docs.jsonl").read_text().splitlines()[:40]]
    # Two runs: the judged documents first, or after forty others.
    first = {qid: {doc: 2.0 for doc in labels} | {doc: 1.0 for doc in docs} for qid, labels in qrels.items()}
    later = {qid: {doc: 1.0 for doc in docs} | {doc: 0.5 for doc in labels} for qid, labels in qrels.items()}
    judged, runs = ranx_containers(qrels, {"first": first, "later": later})
    return compare(judged, runs, ["ndcg@10"], stat_test="student", make_comparable=True).to_dict()


@pytest.mark.mair_lite
def test_tasks_of_different_id_widths_share_one_compilation(mair_lite_root: Path) -> None:
    report = _compare(mair_lite_root, TASKS[0])
    assert report["first"]["scores"]["ndcg@10"] > report["later"]["scores"]["ndcg@10"]
    compiled = _signatures()
    report = _compare(mair_lite_root, TASKS[1])
    assert report["first"]["scores"]["ndcg@10"] > report["later"]["scores"]["ndcg@10"]
    assert _signatures() == compiled
