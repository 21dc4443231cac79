"""Write a local mirror of MAIR's two hub repositories in MAIR's exact shape, with generated texts.

``OUT/MAIR-Queries`` and ``OUT/MAIR-Docs`` are laid out as
``huggingface-cli download MAIR-Bench/MAIR-Queries --repo-type dataset --local-dir ...`` lays out
the real ones: a ``README.md`` whose YAML front matter lists one config per task (``configs:`` with
``data_files`` per split) and one JSON-lines file per split (``<task>/queries.jsonl`` or
``<task>/<sub>_queries.jsonl``; ``<task>/docs.jsonl`` or ``<task>/<sub>_docs.jsonl``; tasks that
share a corpus point at their owner's file). ``datasets.load_dataset(OUT/MAIR-Queries, task)`` then
reads them exactly as it reads the hub.

Query counts are MAIR's at every scale; corpus sizes are MAIR's times ``docs_scale`` (never fewer
than the documents the queries label). Corpora are streamed to disk a batch at a time, so memory
stays flat however large the mirror. Everything is written under a staging folder and moved into
place, with ``replica.json`` last: a mirror without it is incomplete and is never reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import yaml

from era_exp.data.errors import DataError
from era_exp.data.replica.shape import (
    DOCS_REPO_DIR,
    QUERIES_REPO_DIR,
    SplitShape,
    TaskShape,
    consumers,
    corpus_splits,
    doc_file,
    mair_shape,
    query_file,
    select_tasks,
)
from era_exp.data.replica.text import WORDS_PER_TOPIC, DomainWords, insert_words
from era_exp.io import atomic_write_json

log = logging.getLogger(__name__)

MANIFEST = "replica.json"
FORMAT = 1
BATCH = 1_024
MAX_LABELS = 30
MIN_CORPUS = 10  # at tiny scales a corpus keeps a few distractors (never more than MAIR has)

_DOC_NOUNS = {
    "Web": "web passages",
    "Medical": "biomedical articles",
    "Code": "code snippets and documentation",
    "Legal": "legal documents",
    "Finance": "financial reports",
    "Academic": "scientific papers",
}
_ASKS = (
    "Given a {q}, retrieve the {d} that answer it.",
    "Given a {q}, find {d} relevant to it.",
    "Retrieve {d} that address the following {q}.",
    "For the {q} below, return the most relevant {d}.",
)
_DETAILS = (
    "",
    " Prefer documents that cover the specific entities mentioned.",
    " A relevant document must directly support the request, not only mention its terms.",
    " Documents that only share the topic are not relevant.",
)


@dataclass(frozen=True)
class ReplicaSpec:
    """What to generate: the seed, the corpus scale and the tasks (``None``: all 126)."""

    seed: int = 0
    docs_scale: float = 1.0
    tasks: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not 0 < self.docs_scale <= 1:
            raise DataError(f"docs_scale must be in (0, 1], got {self.docs_scale}")


@dataclass
class _Queries:
    """One consumer split's queries: topic word ranks and labels (doc index, grade) per query."""

    task: TaskShape
    split: SplitShape
    topics: np.ndarray
    labels: list[list[tuple[int, int]]] = field(default_factory=list)


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator fixed by the seed and names (stable across runs, processes and task subsets)."""
    return np.random.default_rng([seed, *(zlib.crc32(key.encode()) for key in keys)])


def _grades(rng: np.random.Generator, max_grade: int, count: int) -> np.ndarray:
    if max_grade == 1:
        return np.ones(count, dtype=np.int64)
    weights = 1.0 / np.arange(1, max_grade + 1)
    return rng.choice(np.arange(1, max_grade + 1), size=count, p=weights / weights.sum())


def corpus_size(split: SplitShape, docs_scale: float, labelled: int) -> int:
    """Documents of a corpus at ``docs_scale``: MAIR's count scaled, at least ``labelled`` and
    ``MIN_CORPUS``, at most MAIR's."""
    return min(split.documents, max(round(split.documents * docs_scale), labelled, MIN_CORPUS))


def _plan_corpus(spec: ReplicaSpec, owner: TaskShape, corpus: SplitShape) -> tuple[int, list[_Queries]]:
    """Size of one corpus and the labelled queries of every split scored against it."""
    scored = [(task, split) for task, split in consumers(owner.name) if split.doc_split == corpus.doc_split]
    counts = []
    for task, split in scored:
        rng = _rng(spec.seed, "labels", task.name, split.query_split)
        if task.labels_per_query == 1:
            n = np.ones(split.queries, dtype=np.int64)
        else:
            n = rng.geometric(1 / task.labels_per_query, split.queries)
        counts.append(np.minimum(n, min(MAX_LABELS, corpus.documents)))
    size = corpus_size(corpus, spec.docs_scale, int(sum(int(c.sum()) for c in counts)))
    planned = []
    for (task, split), n in zip(scored, counts, strict=True):
        rng = _rng(spec.seed, "queries", task.name, split.query_split)
        words = DomainWords.of(task.domain)
        queries = _Queries(task, split, words.topics(rng, split.queries))
        for k in n.tolist():
            docs = rng.choice(size, size=min(k, size), replace=False)
            grades = np.sort(_grades(rng, task.max_grade, len(docs)))[::-1]
            queries.labels.append(list(zip(docs.tolist(), grades.tolist(), strict=True)))
        planned.append(queries)
    return size, planned


def _doc_rows(spec: ReplicaSpec, owner: TaskShape, corpus: SplitShape, size: int, queries: list[_Queries]):
    """``{"id", "doc"}`` rows of one corpus, a batch at a time; labelled documents carry topic words."""
    marks: dict[int, list[str]] = defaultdict(list)
    for planned in queries:
        words = DomainWords.of(planned.task.domain)
        for topic, labels in zip(planned.topics, planned.labels, strict=True):
            for doc, grade in labels:
                keep = max(2, -(-WORDS_PER_TOPIC * grade // planned.task.max_grade))
                marks[doc].append(words.topic_text(topic[:keep]))
    words = DomainWords.of(owner.domain)
    rng = _rng(spec.seed, "docs", owner.name, corpus.doc_split)
    for start in range(0, size, BATCH):
        stop = min(start + BATCH, size)
        texts = words.texts(rng, words.lengths(rng, owner.doc_words, stop - start))
        for offset, text in enumerate(texts):
            index = start + offset
            for topic in marks.get(index, ()):
                text = insert_words(rng, text, topic)
            yield {"id": str(index), "doc": text}


def _instructions(task: TaskShape, rng: np.random.Generator) -> list[str]:
    """A task's instruction variants (MAIR annotates several per task; these are generated)."""
    kind = "query" if task.domain == "Web" else f"{task.domain.lower()} query"
    count = int(rng.integers(1, 7))
    return [
        _ASKS[int(rng.integers(len(_ASKS)))].format(q=kind, d=_DOC_NOUNS[task.domain])
        + _DETAILS[i % len(_DETAILS)]
        for i in range(count)
    ]


def _query_rows(spec: ReplicaSpec, planned: _Queries, first_qid: int) -> Iterator[dict[str, Any]]:
    task, split = planned.task, planned.split
    rng = _rng(spec.seed, "texts", task.name, split.query_split)
    words = DomainWords.of(task.domain)
    instructions = _instructions(task, _rng(spec.seed, "instructions", task.name))
    lengths = np.maximum(words.lengths(rng, task.query_words, split.queries) - WORDS_PER_TOPIC, 1)
    texts = words.texts(rng, lengths)
    for number, (text, topic, labels) in enumerate(zip(texts, planned.topics, planned.labels, strict=True)):
        yield {
            "qid": str(first_qid + number),
            "instruction": instructions[int(rng.integers(len(instructions)))],
            "query": insert_words(rng, text, words.topic_text(topic)),
            "labels": [{"id": str(doc), "score": int(grade)} for doc, grade in labels],
        }


def _write_rows(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False))
            handle.write("\n")
            count += 1
    return count


def _readme(repo: str, configs: list[dict[str, Any]], spec: ReplicaSpec, handle: TextIO) -> None:
    handle.write("---\n")
    yaml.safe_dump({"configs": configs}, handle, sort_keys=False, allow_unicode=True, width=10_000)
    handle.write("---\n\n")
    handle.write(
        f"# {repo} (replica)\n\nA local mirror in the layout of `MAIR-Bench/{repo}`, written by "
        f"`era-mair-replica` (seed {spec.seed}, docs scale {spec.docs_scale:g}). Task names, domains, "
        "splits and query counts follow MAIR; texts are generated.\n"
    )


def _shape_digest() -> str:
    data = resources.files("era_exp.data").joinpath("mair_shape.json").read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def _manifest(spec: ReplicaSpec, built: _Built) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "seed": spec.seed,
        "docs_scale": spec.docs_scale,
        "tasks": sorted(built.splits),
        "shape": _shape_digest(),
        "queries": sum(s["queries"] for splits in built.splits.values() for s in splits.values()),
        "documents": sum(built.corpora.values()),
        "corpora": built.corpora,
        "splits": built.splits,
    }


@dataclass
class _Built:
    """What was written: documents per corpus file, and per task and query split its counts."""

    corpora: dict[str, int] = field(default_factory=dict)
    splits: dict[str, dict[str, dict[str, int]]] = field(default_factory=lambda: defaultdict(dict))


def _build(spec: ReplicaSpec, chosen: list[TaskShape], stage: Path) -> _Built:
    """Write both repositories under ``stage``; what was written."""
    wanted = {task.name for task in chosen}
    shapes = mair_shape()
    owners = sorted({task.corpus_owner for task in chosen}, key=list(shapes).index)
    built = _Built()
    for name in owners:
        owner = shapes[name]
        for corpus in corpus_splits(owner):
            size, planned = _plan_corpus(spec, owner, corpus)
            file = doc_file(owner.name, corpus)
            log.info("%s: %d documents", file, size)
            written = _write_rows(stage / DOCS_REPO_DIR / file, _doc_rows(spec, owner, corpus, size, planned))
            built.corpora[file] = written
            for queries in planned:
                task, split = queries.task, queries.split
                if task.name not in wanted:
                    continue
                first = sum(s.queries for s in task.splits[: task.splits.index(split)])
                path = stage / QUERIES_REPO_DIR / query_file(task.name, split)
                built.splits[task.name][split.query_split] = {
                    "queries": _write_rows(path, _query_rows(spec, queries, first)),
                    "documents": written,
                }
    query_configs, doc_configs = [], []
    for task in chosen:
        query_configs.append(
            {
                "config_name": task.name,
                "data_files": [
                    {"split": s.query_split, "path": query_file(task.name, s)} for s in task.splits
                ],
            }
        )
        doc_configs.append(
            {
                "config_name": task.name,
                "data_files": [
                    {"split": s.doc_split, "path": doc_file(task.corpus_owner, s)} for s in task.splits
                ],
            }
        )
    for repo, configs in ((QUERIES_REPO_DIR, query_configs), (DOCS_REPO_DIR, doc_configs)):
        with open(stage / repo / "README.md", "w", encoding="utf-8") as handle:
            _readme(repo, configs, spec, handle)
    built.splits = {task.name: built.splits[task.name] for task in chosen}
    return built


def read_manifest(out: str | Path) -> dict[str, Any] | None:
    """The manifest of a complete mirror at ``out``, or ``None`` when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(out) / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _same_request(manifest: dict[str, Any], spec: ReplicaSpec, names: list[str]) -> bool:
    return (
        manifest.get("format") == FORMAT
        and manifest.get("seed") == spec.seed
        and manifest.get("docs_scale") == spec.docs_scale
        and manifest.get("tasks") == sorted(names)
        and manifest.get("shape") == _shape_digest()
    )


def _remove_dead_stages(out: Path) -> None:
    """Delete staging folders left by killed runs (their process is gone)."""
    for stage in out.glob(".staging-*"):
        try:
            pid = int(stage.name.split("-")[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(stage, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            continue


def generate_replica(
    out: str | Path, spec: ReplicaSpec = ReplicaSpec(), force: bool = False
) -> dict[str, Any]:
    """Write the mirror for ``spec`` under ``out`` (or reuse a complete identical one); its manifest.

    A folder holding a different or incomplete mirror is replaced only with ``force``.
    """
    out = Path(out)
    chosen = select_tasks(list(spec.tasks) if spec.tasks is not None else None)
    names = [task.name for task in chosen]
    existing = read_manifest(out)
    if existing is not None and _same_request(existing, spec, names):
        log.info("%s: complete replica for this request already there, reused", out)
        return existing
    targets = [out / QUERIES_REPO_DIR, out / DOCS_REPO_DIR]
    if not force and (existing is not None or any(t.exists() for t in targets)):
        raise DataError(
            f"{out}: holds a {'different' if existing else 'incomplete'} MAIR mirror; "
            "pass force=True (--force) to replace it"
        )
    out.mkdir(parents=True, exist_ok=True)
    _remove_dead_stages(out)
    stage = out / f".staging-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        built = _build(spec, chosen, stage)
        (out / MANIFEST).unlink(missing_ok=True)
        for target in targets:
            shutil.rmtree(target, ignore_errors=True)
        os.replace(stage / DOCS_REPO_DIR, out / DOCS_REPO_DIR)
        os.replace(stage / QUERIES_REPO_DIR, out / QUERIES_REPO_DIR)
        manifest = _manifest(spec, built)
        atomic_write_json(out / MANIFEST, manifest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return manifest
