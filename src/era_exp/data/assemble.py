"""Turn MAIR query and doc rows into validated Tasks; shared by the local-folder and hub loaders.

Rows come with a location (``source`` + row number) so every error names the file and line it is about.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from era_exp.data.errors import DataError
from era_exp.data.registry import corpus_group
from era_exp.data.schema import Corpus, Query, Task

logger = logging.getLogger(__name__)

MULTI_SPLIT_MODES = ("per_split", "merged")

Rows = Iterable[tuple[int, Any]]


@dataclass(frozen=True)
class Part:
    """One split of a task as rows; ``sub`` is None for a single-split task."""

    sub: str | None
    query_source: str
    query_rows: Callable[[], Rows]
    doc_source: str
    doc_rows: Callable[[], Rows]


class CorpusPool:
    """Corpora of one load call: the same group and content give back the same Corpus object."""

    def __init__(self) -> None:
        self._by_key: dict[str, Corpus] = {}

    def get(self, group: str, ids: Sequence[str], texts: Sequence[str]) -> Corpus:
        """The pooled Corpus keyed ``<group>-<fingerprint>`` holding ``ids`` and ``texts``."""
        draft = Corpus(key="", ids=tuple(ids), texts=tuple(texts))
        key = f"{group}-{draft.fingerprint()}"
        if key not in self._by_key:
            self._by_key[key] = dataclasses.replace(draft, key=key)
        return self._by_key[key]


def check_multi_split(multi_split: str) -> None:
    """Reject an unknown multi-split mode before any data is read."""
    if multi_split not in MULTI_SPLIT_MODES:
        raise DataError(f"multi_split must be one of {list(MULTI_SPLIT_MODES)}, got {multi_split!r}")


def _row_id(value: Any, where: str, field: str) -> str:
    """A row or label id: a non-empty string, or an integer (MAIR's hub stores some ids as numbers)."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise DataError(f"{where}: field {field!r} must be a non-empty string, got {value!r}")


def _text(row: dict, field: str, where: str, allow_empty: bool = False) -> str:
    if field not in row:
        raise DataError(f"{where}: missing field {field!r}")
    value = row[field]
    if not isinstance(value, str):
        raise DataError(f"{where}: field {field!r} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise DataError(f"{where}: field {field!r} is empty")
    return value


def _score(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"{where}: field 'labels' score must be an integer, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise DataError(f"{where}: field 'labels' score must be an integer, got {value!r}")
    return int(value)


def _object(row: Any, where: str) -> dict:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    return row


def read_docs(source: str, rows: Rows, prefix: str = "") -> tuple[list[str], list[str]]:
    """Doc ids and texts of ``{"id", "doc"}`` rows; ids unique, texts non-empty."""
    ids: list[str] = []
    texts: list[str] = []
    first_row: dict[str, int] = {}
    for row_number, raw in rows:
        where = f"{source}:{row_number}"
        row = _object(raw, where)
        if "id" not in row:
            raise DataError(f"{where}: missing field 'id'")
        doc_id = prefix + _row_id(row["id"], where, "id")
        if doc_id in first_row:
            raise DataError(f"{where}: duplicate doc id {doc_id!r} (first at line {first_row[doc_id]})")
        first_row[doc_id] = row_number
        ids.append(doc_id)
        texts.append(_text(row, "doc", where))
    if not ids:
        raise DataError(f"{source}: no documents")
    return ids, texts


def _labels(row: dict, where: str, prefix: str) -> dict[str, int]:
    if "labels" not in row:
        raise DataError(f"{where}: missing field 'labels'")
    raw = row["labels"]
    if not isinstance(raw, list):
        raise DataError(f"{where}: field 'labels' must be a list of {{id, score}}, got {type(raw).__name__}")
    labels: dict[str, int] = {}
    for item in raw:
        if not isinstance(item, dict) or "id" not in item or "score" not in item:
            raise DataError(f"{where}: field 'labels' entries must be {{id, score}} objects, got {item!r}")
        doc_id = prefix + _row_id(item["id"], where, "labels.id")
        if doc_id in labels:
            raise DataError(f"{where}: field 'labels' names doc {doc_id!r} twice")
        labels[doc_id] = _score(item["score"], where)
    return labels


@dataclass
class QueryRead:
    """Queries of one split and what non-strict reading dropped."""

    queries: list[Query]
    dropped_labels: int = 0
    dropped_queries: int = 0


def read_queries(
    source: str, rows: Rows, doc_ids: Container[str], doc_source: str, strict: bool = True, prefix: str = ""
) -> QueryRead:
    """Queries of ``{"qid", "instruction", "query", "labels"}`` rows, checked against ``doc_ids``.

    A label naming an unknown document is an error when ``strict``; otherwise it is dropped, and so is a
    query left with no label by that (queries given without labels are kept: they are unlabelled).
    """
    read = QueryRead(queries=[])
    first_row: dict[str, int] = {}
    for row_number, raw in rows:
        where = f"{source}:{row_number}"
        row = _object(raw, where)
        if "qid" not in row:
            raise DataError(f"{where}: missing field 'qid'")
        qid = prefix + _row_id(row["qid"], where, "qid")
        if qid in first_row:
            raise DataError(f"{where}: duplicate query id {qid!r} (first at line {first_row[qid]})")
        first_row[qid] = row_number
        instruction = _text(row, "instruction", where, allow_empty=True)
        text = _text(row, "query", where)
        labels = _labels(row, where, prefix)
        unknown = [doc_id for doc_id in labels if doc_id not in doc_ids]
        if unknown and strict:
            raise DataError(
                f"{where}: field 'labels' names doc {unknown[0][len(prefix) :]!r}, "
                f"which is not in {doc_source} (strict=False drops such labels)"
            )
        if unknown:
            read.dropped_labels += len(unknown)
            had_labels = bool(labels)
            labels = {doc_id: score for doc_id, score in labels.items() if doc_id in doc_ids}
            if had_labels and not labels:
                read.dropped_queries += 1
                continue
        read.queries.append(Query(qid=qid, instruction=instruction, text=text, labels=labels))
    return read


def _task(name: str, task: str, domain: str, read: QueryRead, corpus: Corpus, source: str) -> Task:
    if read.dropped_labels:
        logger.warning(
            "%s: dropped %d labels naming unknown documents and %d queries left without a label",
            name,
            read.dropped_labels,
            read.dropped_queries,
        )
    built = Task(name=name, task=task, domain=domain, queries=tuple(read.queries), corpus=corpus)
    if not built.labelled_queries:
        raise DataError(f"{source}: task {name!r} has no query with a relevant (score > 0) label")
    return built


def assemble_tasks(
    task: str, domain: str, parts: Sequence[Part], strict: bool, multi_split: str, pool: CorpusPool
) -> list[Task]:
    """Tasks of one MAIR task: one per part (``Task/sub``) or, merged, one with ``sub/``-prefixed ids."""
    check_multi_split(multi_split)
    group = corpus_group(task)
    if len(parts) == 1 and parts[0].sub is None:
        part = parts[0]
        ids, texts = read_docs(part.doc_source, part.doc_rows())
        corpus = pool.get(group, ids, texts)
        read = read_queries(part.query_source, part.query_rows(), corpus, part.doc_source, strict)
        return [_task(task, task, domain, read, corpus, part.query_source)]
    if multi_split == "per_split":
        tasks = []
        for part in parts:
            ids, texts = read_docs(part.doc_source, part.doc_rows())
            corpus = pool.get(group, ids, texts)
            read = read_queries(part.query_source, part.query_rows(), corpus, part.doc_source, strict)
            tasks.append(_task(f"{task}/{part.sub}", task, domain, read, corpus, part.query_source))
        return tasks
    all_ids: list[str] = []
    all_texts: list[str] = []
    merged = QueryRead(queries=[])
    for part in parts:
        prefix = f"{part.sub}/"
        ids, texts = read_docs(part.doc_source, part.doc_rows(), prefix)
        read = read_queries(part.query_source, part.query_rows(), set(ids), part.doc_source, strict, prefix)
        all_ids += ids
        all_texts += texts
        merged.queries += read.queries
        merged.dropped_labels += read.dropped_labels
        merged.dropped_queries += read.dropped_queries
    corpus = pool.get(group, all_ids, all_texts)
    return [_task(task, task, domain, merged, corpus, parts[0].query_source)]
