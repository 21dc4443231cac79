"""MAIR's shape as package data: every task's splits, query counts, corpus sizes and label style.

``mair_shape.json`` names its sources and says, per figure, whether it is MAIR's own (task names,
domains, split names, totals), inferred from public results (some per-split query counts) or an
approximation (where MAIR publishes no per-task figure). This module only reads it and names the
files and splits of the hub layout, so the generator, the tests and the benchmark agree on them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from era_exp.data.registry import MAIR_TASKS, check_task_names

QUERIES_REPO_DIR = "MAIR-Queries"
DOCS_REPO_DIR = "MAIR-Docs"


@dataclass(frozen=True)
class SplitShape:
    """One query split of a task and the corpus it is scored against."""

    task: str
    sub: str | None
    queries: int
    documents: int

    @property
    def query_split(self) -> str:
        """MAIR's query split name: ``queries`` or ``<sub>_queries``."""
        return "queries" if self.sub is None else f"{self.sub}_queries"

    @property
    def doc_split(self) -> str:
        """MAIR's doc split name paired with :attr:`query_split`: ``docs`` or ``<sub>_docs``."""
        return "docs" if self.sub is None else f"{self.sub}_docs"


@dataclass(frozen=True)
class TaskShape:
    """A MAIR task: its domain, splits, the task whose corpus it reads, and how its texts look."""

    name: str
    domain: str
    splits: tuple[SplitShape, ...]
    docs_from: str | None
    max_grade: int
    labels_per_query: int
    query_words: int
    doc_words: int
    minilm_ndcg10: float

    @property
    def corpus_owner(self) -> str:
        """The task whose files hold this task's corpus (itself unless the corpus is shared)."""
        return self.docs_from or self.name

    @property
    def num_queries(self) -> int:
        return sum(split.queries for split in self.splits)


@cache
def shape_document() -> dict[str, Any]:
    """The raw shape file (sources, notes, totals, tasks)."""
    text = resources.files("era_exp.data").joinpath("mair_shape.json").read_text("utf-8")
    return json.loads(text)


@cache
def mair_shape() -> dict[str, TaskShape]:
    """Every MAIR task's shape, by name, in the registry's order."""
    raw = shape_document()["tasks"]
    shapes = {}
    for name in MAIR_TASKS:
        entry = raw[name]
        splits = tuple(
            SplitShape(name, split["name"], int(split["queries"]), int(split["documents"]))
            for split in entry["splits"]
        )
        shapes[name] = TaskShape(
            name=name,
            domain=entry["domain"],
            splits=splits,
            docs_from=entry.get("docs_from"),
            max_grade=int(entry["max_grade"]),
            labels_per_query=int(entry["labels_per_query"]),
            query_words=int(entry["query_words"]),
            doc_words=int(entry["doc_words"]),
            minilm_ndcg10=float(entry["minilm_ndcg10"]),
        )
    return shapes


def select_tasks(names: list[str] | None) -> list[TaskShape]:
    """Shapes of ``names`` (checked, with suggestions for typos), or of all 126 tasks."""
    shapes = mair_shape()
    if names is None:
        return list(shapes.values())
    return [shapes[name] for name in check_task_names(names)]


def corpus_splits(owner: TaskShape) -> tuple[SplitShape, ...]:
    """The corpora ``owner`` holds: one per split of its own (tasks reading a shared corpus hold none)."""
    return () if owner.docs_from else owner.splits


def consumers(owner: str) -> list[tuple[TaskShape, SplitShape]]:
    """Every (task, split) scored against a corpus of ``owner``, in a fixed order."""
    return [
        (task, split) for task in mair_shape().values() if task.corpus_owner == owner for split in task.splits
    ]


def query_file(task: str, split: SplitShape) -> str:
    """Path of a query split inside the queries repository, as the hub lays it out."""
    return f"{task}/{split.query_split}.jsonl"


def doc_file(owner: str, split: SplitShape) -> str:
    """Path of a corpus inside the docs repository (shared corpora live under their owner task)."""
    return f"{owner}/{split.doc_split}.jsonl"
