"""Turn MAIR query and doc rows into validated Tasks; shared by the local-folder and hub loaders.

Rows come with a location (``source`` + row number) so every error names the file and line it is about.
Corpora come back as handles that read their documents again when asked after being let go (see
:class:`~era_exp.data.schema.Residency`): the same rows, with the same drops, as the validating read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from era_exp.data.errors import DataError
from era_exp.data.registry import corpus_group
from era_exp.data.schema import Corpus, CorpusRows, Query, Residency, Task

logger = logging.getLogger(__name__)

MULTI_SPLIT_MODES = ("per_split", "merged")

Rows = Iterable[tuple[int, Any]]
# Raw ``id`` and ``doc`` values of the given 0-based rows (all rows for None), read column-wise.
DocColumns = Callable[[Sequence[int] | None], tuple[list[Any], list[str]]]
# Characters of document rows a load keeps in memory across corpora (data.resident_mib's default).
DEFAULT_RESIDENT_MIB = 64.0


@dataclass(frozen=True)
class Part:
    """One split of a task as rows; ``sub`` is None for a single-split task.

    ``doc_columns``, when the source can read its doc columns directly (an Arrow file), re-reads the
    documents without validating them again; otherwise ``doc_rows`` are read and validated again.
    """

    sub: str | None
    query_source: str
    query_rows: Callable[[], Rows]
    doc_source: str
    doc_rows: Callable[[], Rows]
    doc_columns: DocColumns | None = None


@dataclass(frozen=True)
class DocRead:
    """What validating one part's documents kept: ids, texts and the 1-based row numbers they came
    from, out of ``rows_read`` rows in all."""

    ids: list[str]
    texts: list[str]
    numbers: list[int]
    rows_read: int


@dataclass(frozen=True)
class _Segment:
    """How to read one part's documents again, exactly as the validating read kept them."""

    source: str
    prefix: str
    doc_rows: Callable[[], Rows]
    doc_columns: DocColumns | None
    kept: np.ndarray | None  # 0-based rows kept, None when every row was

    @classmethod
    def of(cls, part: Part, prefix: str, read: DocRead) -> _Segment:
        every = len(read.numbers) == read.rows_read
        kept = None if every or part.doc_columns is None else np.asarray(read.numbers, dtype=np.int64) - 1
        rows = part.doc_rows if part.doc_columns is None else _no_rows
        return cls(part.doc_source, prefix, rows, part.doc_columns, kept)

    def read(self) -> tuple[list[str], list[str]]:
        if self.doc_columns is None:
            again = read_docs(self.source, self.doc_rows(), self.prefix, Leniency(strict=False))
            return again.ids, again.texts
        raw_ids, texts = self.doc_columns(self.kept)
        return [self.prefix + (v if isinstance(v, str) else str(v)) for v in raw_ids], texts


def _no_rows() -> Rows:
    return iter(())


def _reader(segments: Sequence[_Segment]) -> Callable[[], CorpusRows]:
    def read() -> CorpusRows:
        ids: list[str] = []
        texts: list[str] = []
        for segment in segments:
            more_ids, more_texts = segment.read()
            ids += more_ids
            texts += more_texts
        return CorpusRows.of(ids, texts)

    return read


class CorpusPool:
    """Corpora of one load call: the same group and content give back the same Corpus object.

    Their rows share one :class:`Residency` of ``resident_mib`` MiB (counted in characters).
    """

    def __init__(self, resident_mib: float = DEFAULT_RESIDENT_MIB) -> None:
        self._by_key: dict[str, Corpus] = {}
        self.residency = Residency(int(float(resident_mib) * 2**20))

    def get(self, group: str, parts: Sequence[tuple[Part, str, DocRead]]) -> Corpus:
        """The pooled Corpus keyed ``<group>-<fingerprint>`` of the documents read from ``parts``.

        Each entry is a part, the prefix its ids were given and what validating its documents kept.
        """
        rows = CorpusRows.of(
            [i for _, _, read in parts for i in read.ids], [t for _, _, read in parts for t in read.texts]
        )
        fingerprint = rows.fingerprint()
        key = f"{group}-{fingerprint}"
        if key in self._by_key:
            self.residency.admit(key, rows)
        else:
            reader = _reader([_Segment.of(part, prefix, read) for part, prefix, read in parts])
            self._by_key[key] = Corpus.reopenable(key, rows, fingerprint, reader, self.residency)
        return self._by_key[key]


def check_multi_split(multi_split: str) -> None:
    """Reject an unknown multi-split mode before any data is read."""
    if multi_split not in MULTI_SPLIT_MODES:
        raise DataError(f"multi_split must be one of {list(MULTI_SPLIT_MODES)}, got {multi_split!r}")


# What non-strict reading does to each kind of bad row; the keys are the counts' names.
LENIENT_KINDS = {
    "duplicate_doc_ids": "documents repeating an earlier id (later rows dropped)",
    "empty_docs": "documents with empty text (dropped)",
    "duplicate_query_ids": "queries repeating an earlier qid (later rows dropped)",
    "empty_queries": "queries with empty text (dropped)",
    "null_instructions": "queries with a null instruction (read as no instruction)",
    "duplicate_labels": "labels naming a document twice in one query (merged, the later score wins)",
    "negative_labels": "labels with a negative score (dropped)",
    "unknown_label_docs": "labels naming a document not in the corpus (dropped)",
    "unlabelled_after_drops": "queries left with no label by those drops (dropped)",
}
_HINT = "strict=False drops or merges such rows with a count"


class Leniency:
    """Reading one unit: strict raises on a bad row; otherwise it is dropped or merged, counted."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.counts: dict[str, int] = {}

    def tolerate(self, kind: str, message: str) -> None:
        """Raise DataError(``message``) when strict; otherwise count one ``kind``."""
        if self.strict:
            raise DataError(f"{message} ({_HINT})")
        self.count(kind)

    def count(self, kind: str) -> None:
        """Count one ``kind`` (a consequence of earlier drops, never an error of its own)."""
        self.counts[kind] = self.counts.get(kind, 0) + 1


def _row_id(value: Any, where: str, field: str) -> str:
    """A row or label id: a non-empty string, or an integer (MAIR's hub stores some ids as numbers)."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise DataError(f"{where}: field {field!r} must be a non-empty string, got {value!r}")


def _text(row: dict, field: str, where: str) -> str:
    """A text field that must be a string (emptiness is checked by the caller)."""
    if field not in row:
        raise DataError(f"{where}: missing field {field!r}")
    value = row[field]
    if not isinstance(value, str):
        raise DataError(f"{where}: field {field!r} must be a string, got {type(value).__name__}")
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


def read_docs(source: str, rows: Rows, prefix: str = "", leniency: Leniency | None = None) -> DocRead:
    """Doc ids and texts of ``{"id", "doc"}`` rows; ids unique, texts non-empty (see :class:`Leniency`)."""
    leniency = leniency or Leniency(strict=True)
    ids: list[str] = []
    texts: list[str] = []
    numbers: list[int] = []
    first_row: dict[str, int] = {}
    rows_read = 0
    for row_number, raw in rows:
        rows_read += 1
        where = f"{source}:{row_number}"
        row = _object(raw, where)
        if "id" not in row:
            raise DataError(f"{where}: missing field 'id'")
        doc_id = prefix + _row_id(row["id"], where, "id")
        text = _text(row, "doc", where)
        if doc_id in first_row:
            message = f"{where}: duplicate doc id {doc_id!r} (first at line {first_row[doc_id]})"
            leniency.tolerate("duplicate_doc_ids", message)
            continue
        if not text.strip():
            leniency.tolerate("empty_docs", f"{where}: field 'doc' is empty")
            continue
        first_row[doc_id] = row_number
        ids.append(doc_id)
        texts.append(text)
        numbers.append(row_number)
    if not ids:
        raise DataError(f"{source}: no documents")
    return DocRead(ids, texts, numbers, rows_read)


def _labels(row: dict, where: str, prefix: str, leniency: Leniency) -> dict[str, int]:
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
        score = _score(item["score"], where)
        if score < 0:
            leniency.tolerate(
                "negative_labels", f"{where}: field 'labels' gives doc {doc_id!r} a negative score {score}"
            )
            continue
        if doc_id in labels:
            leniency.tolerate("duplicate_labels", f"{where}: field 'labels' names doc {doc_id!r} twice")
        labels[doc_id] = score
    return labels


def read_queries(
    source: str,
    rows: Rows,
    doc_ids: Container[str],
    doc_source: str,
    leniency: Leniency | None = None,
    prefix: str = "",
) -> list[Query]:
    """Queries of ``{"qid", "instruction", "query", "labels"}`` rows, checked against ``doc_ids``.

    Bad rows raise, or under a non-strict :class:`Leniency` are dropped or merged with a count. A query
    left with no label by dropping is dropped too; queries given without labels are kept (unlabelled).
    """
    leniency = leniency or Leniency(strict=True)
    queries: list[Query] = []
    first_row: dict[str, int] = {}
    for row_number, raw in rows:
        where = f"{source}:{row_number}"
        row = _object(raw, where)
        if "qid" not in row:
            raise DataError(f"{where}: missing field 'qid'")
        qid = prefix + _row_id(row["qid"], where, "qid")
        if qid in first_row:
            message = f"{where}: duplicate query id {qid!r} (first at line {first_row[qid]})"
            leniency.tolerate("duplicate_query_ids", message)
            continue
        if row.get("instruction", "") is None:
            leniency.tolerate("null_instructions", f"{where}: field 'instruction' must be a string, got null")
            instruction = ""
        else:
            instruction = _text(row, "instruction", where)
        text = _text(row, "query", where)
        if not text.strip():
            leniency.tolerate("empty_queries", f"{where}: field 'query' is empty")
            continue
        had_labels = bool(row.get("labels"))
        labels = _labels(row, where, prefix, leniency)
        for doc_id in [doc_id for doc_id in labels if doc_id not in doc_ids]:
            leniency.tolerate(
                "unknown_label_docs",
                f"{where}: field 'labels' names doc {doc_id[len(prefix) :]!r}, which is not in {doc_source}",
            )
            del labels[doc_id]
        if had_labels and not labels:
            leniency.count("unlabelled_after_drops")
            continue
        first_row[qid] = row_number
        queries.append(Query(qid=qid, instruction=instruction, text=text, labels=labels))
    return queries


def _task(name: str, task: str, domain: str, queries: list[Query], corpus: Corpus, source: str) -> Task:
    built = Task(name=name, task=task, domain=domain, queries=tuple(queries), corpus=corpus)
    if not built.labelled_queries:
        raise DataError(f"{source}: task {name!r} has no query with a relevant (score > 0) label")
    return built


@dataclass
class LoadReport:
    """What one load did besides reading: rows dropped or merged per unit and kind (non-strict only)."""

    lenient: dict[str, dict[str, int]] = field(default_factory=dict)

    def record(self, unit: str, leniency: Leniency) -> None:
        """Keep and log the non-zero counts of ``unit``."""
        counts = {kind: n for kind, n in leniency.counts.items() if n}
        if not counts:
            return
        merged = self.lenient.setdefault(unit, {})
        for kind, n in counts.items():
            merged[kind] = merged.get(kind, 0) + n
        logger.warning(
            "%s: strict=False dropped or merged %s",
            unit,
            "; ".join(f"{n} {LENIENT_KINDS[kind]}" for kind, n in sorted(counts.items())),
        )

    def totals(self) -> dict[str, int]:
        """Counts per kind over every unit."""
        totals: dict[str, int] = {}
        for counts in self.lenient.values():
            for kind, n in counts.items():
                totals[kind] = totals.get(kind, 0) + n
        return dict(sorted(totals.items()))


def assemble_tasks(
    task: str,
    domain: str,
    parts: Sequence[Part],
    strict: bool,
    multi_split: str,
    pool: CorpusPool,
    report: LoadReport | None = None,
) -> list[Task]:
    """Tasks of one MAIR task: one per part (``Task/sub``) or, merged, one with ``sub/``-prefixed ids.

    ``report`` collects what non-strict reading dropped or merged, per unit.
    """
    check_multi_split(multi_split)
    report = report if report is not None else LoadReport()
    group = corpus_group(task)
    single = len(parts) == 1 and parts[0].sub is None
    if single or multi_split == "per_split":
        tasks = []
        for part in parts:
            name = task if single else f"{task}/{part.sub}"
            leniency = Leniency(strict)
            read = read_docs(part.doc_source, part.doc_rows(), leniency=leniency)
            corpus = pool.get(group, [(part, "", read)])
            del read  # the corpus holds the rows now, while its residency keeps them
            queries = read_queries(part.query_source, part.query_rows(), corpus, part.doc_source, leniency)
            report.record(name, leniency)
            tasks.append(_task(name, task, domain, queries, corpus, part.query_source))
        return tasks
    reads: list[tuple[Part, str, DocRead]] = []
    merged: list[Query] = []
    leniency = Leniency(strict)
    for part in parts:
        prefix = f"{part.sub}/"
        read = read_docs(part.doc_source, part.doc_rows(), prefix, leniency)
        rows = part.query_rows()
        merged += read_queries(part.query_source, rows, set(read.ids), part.doc_source, leniency, prefix)
        reads.append((part, prefix, read))
    report.record(task, leniency)
    corpus = pool.get(group, reads)
    del reads
    return [_task(task, task, domain, merged, corpus, parts[0].query_source)]
