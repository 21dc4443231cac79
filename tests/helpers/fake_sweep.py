"""Synthetic sweep folders in the pipeline's run-folder format, with metrics computed from its own files.

Each run gets TREC run and qrels files per evaluation unit, and a results.json whose numbers come
from evaluating those files with the project's ranx metrics and aggregation, so the report has
something real to recompute. Better methods rank the relevant document higher, so ERA beats
zero-shot clearly enough for a significant paired test.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from era_exp.evaluate.aggregate import aggregate
from era_exp.evaluate.metrics import DEFAULT_METRICS, evaluate_run
from era_exp.io import atomic_write_json, atomic_write_text
from era_exp.retrieve.trec import write_qrels, write_run

# unit -> (task, domain, number of scored queries)
UNITS = {
    "TaskA": ("TaskA", "Code", 40),
    "TaskB/s1": ("TaskB", "Legal", 20),
    "TaskB/s2": ("TaskB", "Legal", 20),
}
DOCS_PER_UNIT = 60
# Highest rank (1-based) the relevant document is drawn up to: smaller is better.
QUALITY = {"zero_shot": 30, "align_only": 15, "label_only": 10, "era": 3}
# method -> (Stage 1 alignment, Stage 2 adaptation), as in conf/method/.
STAGES = {
    "zero_shot": (False, False),
    "align_only": (True, False),
    "label_only": (False, True),
    "era": (True, True),
}


@dataclass(frozen=True)
class FakeRun:
    """One grid point of the synthetic sweep."""

    query_embedder: str
    doc_embedder: str
    method: str
    train_ratio: float | None = None


def write_fake_run(
    folder: Path, spec: FakeRun, seed: int = 42, done: bool = True, key: str | None = None
) -> dict:
    """Write a finished run folder for ``spec`` (runs/, qrels/, results.json, then DONE)."""
    alignment, adaptation = STAGES[spec.method]
    trains = alignment or adaptation
    model_used = spec.query_embedder if trains else spec.doc_embedder
    # Zero-shot depends on the document model only, like the real pipeline.
    identity = (model_used, spec.doc_embedder, spec.method, spec.train_ratio if adaptation else None)
    rng = np.random.default_rng(zlib.crc32(json.dumps(identity).encode()))
    worst = QUALITY[spec.method] - (10 * spec.train_ratio if adaptation else 0)
    units = {}
    for unit, (_, _, num_queries) in UNITS.items():
        docs = [f"{unit} doc {i}" for i in range(DOCS_PER_UNIT)]
        qrels = {f"q {i}": {docs[i % DOCS_PER_UNIT]: 1 + i % 2} for i in range(num_queries)}
        run = {}
        for qid, labels in qrels.items():
            relevant = next(iter(labels))
            others = [d for d in docs if d != relevant]
            rng.shuffle(others)
            rank = int(rng.integers(1, max(2, int(worst)) + 1))
            ranked = [*others[: rank - 1], relevant, *others[rank - 1 : 49]]
            run[qid] = {doc: 1.0 - 0.01 * position for position, doc in enumerate(ranked)}
        file_name = unit.replace("/", "__")
        write_run(folder / "runs" / f"{file_name}.trec", run)
        write_qrels(folder / "qrels" / f"{file_name}.qrels", qrels)
        means, _ = evaluate_run(qrels, run, DEFAULT_METRICS, name=unit)
        units[unit] = {**means, "num_queries": num_queries, "eval_split": "test"}
    summary = aggregate(
        {u: v for u, v in units.items()},
        {u: task for u, (task, _, _) in UNITS.items()},
        {task: domain for task, domain, _ in UNITS.values()},
        list(DEFAULT_METRICS),
    )
    for task, domain, _ in UNITS.values():
        summary["per_task"][task]["domain"] = domain
    key = key or f"key-{folder.name}"
    results = {
        "run_key": key,
        "run": {
            "method": spec.method,
            "query_embedder": spec.query_embedder,
            "doc_embedder": spec.doc_embedder,
            "query_model_used": model_used,
            "train_ratio": spec.train_ratio if trains else None,
            "setting": "in_domain",
            "holdout_domain": None,
            "domain": None,
            "seed": seed,
        },
        **summary,
        "per_unit": units,
        "config": {
            "data": {"_target_": "era_exp.data.sources.LocalSource", "root": "/data/fake", "tasks": None},
            "method": {"name": spec.method, "alignment": alignment, "adaptation": adaptation},
            "eval": {"split": "test"},
        },
    }
    (folder / ".hydra").mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "results.json", results)
    if done:
        atomic_write_text(folder / "DONE", key + "\n")
    return results


SWEEP = (
    # mpnet→minilm has no zero_shot run of its own: it borrows minilm's.
    # Like the pipeline, align_only records its grid point's ratio although Stage 1 ignores it.
    FakeRun("mpnet", "minilm", "align_only", 0.2),
    FakeRun("mpnet", "minilm", "label_only", 0.1),
    FakeRun("mpnet", "minilm", "label_only", 0.2),
    FakeRun("mpnet", "minilm", "era", 0.1),
    FakeRun("mpnet", "minilm", "era", 0.2),
    FakeRun("minilm", "minilm", "zero_shot"),
    FakeRun("minilm", "minilm", "era", 0.2),
    # No mpnet zero-shot anywhere: this pair's heatmap cell has no baseline.
    FakeRun("minilm", "mpnet", "era", 0.2),
)
INCOMPLETE = ("no_done", "crashed", "stale")
