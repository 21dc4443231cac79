"""The in-memory form of a retrieval task: queries with instructions and graded labels, one corpus.

A :class:`Corpus` is a handle: its key, size and content fingerprint are always known, its rows
(ids, texts, the row of each id) are in memory only while a :class:`Residency` keeps them. The
loaders hand out corpora that can read their rows again from where they were loaded, so a run over
all of MAIR holds the corpus in use (and a small budget of recently used ones), never every corpus.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from era_exp.data.errors import DataError


@dataclass(frozen=True)
class Query:
    """One labelled query. ``labels`` maps doc id -> graded relevance (> 0 means relevant)."""

    qid: str
    instruction: str
    text: str
    labels: dict[str, int]


class TextColumn(Sequence[str]):
    """An immutable column of texts; weakly referenceable, so a :class:`Residency` sees when it is freed."""

    __slots__ = ("__weakref__", "_items")

    def __init__(self, items: Sequence[str]) -> None:
        self._items = tuple(items)

    def __getitem__(self, index):  # type: ignore[override]
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TextColumn):
            return self._items == other._items
        return isinstance(other, tuple) and self._items == other

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"TextColumn({len(self._items)} texts)"


@dataclass(frozen=True)
class CorpusRows:
    """A corpus's rows in memory: ids, texts and the row of each id."""

    ids: tuple[str, ...]
    texts: TextColumn
    index: dict[str, int] = field(repr=False, compare=False)
    chars: int = field(compare=False)  # characters of ids and texts: roughly what holding them costs

    @classmethod
    def of(cls, ids: Sequence[str], texts: Sequence[str]) -> CorpusRows:
        """Rows of ``ids`` and their ``texts`` (equal lengths)."""
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        ids = tuple(ids)
        index = {doc_id: row for row, doc_id in enumerate(ids)}
        return cls(ids, TextColumn(texts), index, sum(map(len, ids)) + sum(map(len, texts)))

    def fingerprint(self) -> str:
        """Content hash of ids and texts, used to name shared-corpus artefacts."""
        digest = hashlib.sha1()
        for doc_id, text in zip(self.ids, self.texts, strict=True):
            digest.update(doc_id.encode())
            digest.update(b"\0")
            digest.update(text.encode())
            digest.update(b"\1")
        return digest.hexdigest()[:16]


class Residency:
    """Which corpora of one load hold their rows in memory: the most recently used, within a budget.

    ``budget_chars`` bounds the characters of rows kept across corpora; the corpus in use is always
    kept, however large, so peak memory is the largest corpus plus the budget. Older corpora are let
    go before a corpus is read again. ``reads`` counts those reads; ``peak_columns`` and
    ``peak_chars`` are the most text columns (and their characters) ever alive at once, found through
    weak references, so a caller that kept an evicted corpus's texts would show here too.
    """

    def __init__(self, budget_chars: int) -> None:
        if budget_chars < 0:
            raise ValueError(f"the resident budget must be >= 0, got {budget_chars}")
        self.budget_chars = budget_chars
        self.reads = 0
        self.peak_columns = 0
        self.peak_chars = 0
        self._resident: OrderedDict[str, CorpusRows] = OrderedDict()
        self._alive: list[tuple[weakref.ref, int]] = []

    def rows(self, corpus: Corpus) -> CorpusRows:
        """The rows of ``corpus``, read again when they were let go."""
        rows = self._resident.get(corpus.key)
        if rows is not None:
            self._resident.move_to_end(corpus.key)
            return rows
        self._make_room(corpus.chars)
        rows = corpus.read_rows()
        self.reads += 1
        self.admit(corpus.key, rows)
        return rows

    def admit(self, key: str, rows: CorpusRows) -> None:
        """Keep ``rows`` (just read) as the most recently used, letting older corpora go over budget."""
        chars = rows.chars
        self._resident.pop(key, None)
        self._make_room(chars)
        self._resident[key] = rows
        self._alive = [(ref, n) for ref, n in self._alive if ref() is not None]
        self._alive.append((weakref.ref(rows.texts), chars))
        self.peak_columns = max(self.peak_columns, len(self._alive))
        self.peak_chars = max(self.peak_chars, sum(n for _, n in self._alive))

    def _make_room(self, chars: int) -> None:
        held = sum(rows.chars for rows in self._resident.values())
        while self._resident and held + chars > self.budget_chars:
            _, dropped = self._resident.popitem(last=False)
            held -= dropped.chars

    def resident(self) -> list[str]:
        """Keys of the corpora held now, least recently used first."""
        return list(self._resident)

    def stats(self) -> dict[str, int]:
        """The budget, reads and peaks, for a run's provenance."""
        return {
            "budget_chars": self.budget_chars,
            "reads": self.reads,
            "peak_columns": self.peak_columns,
            "peak_chars": self.peak_chars,
        }


class Corpus:
    """Documents of one (possibly shared) corpus. ``key`` names it so shared corpora are one object.

    ``Corpus(key, ids, texts)`` holds its rows for good. :meth:`reopenable` makes a handle whose
    rows a :class:`Residency` keeps or lets go; ``reader`` reads them again, and they must come back
    with the same fingerprint. Either way ``ids``, ``texts``, ``position``, ``in`` and ``len`` work.
    """

    __slots__ = ("_fingerprint", "_pinned", "_reader", "_residency", "chars", "key", "size")

    def __init__(self, key: str, ids: Sequence[str], texts: Sequence[str]) -> None:
        rows = CorpusRows.of(ids, texts)
        self._setup(key, rows, rows.fingerprint(), pinned=rows, reader=None, residency=None)

    def _setup(
        self,
        key: str,
        rows: CorpusRows,
        fingerprint: str,
        pinned: CorpusRows | None,
        reader: Callable[[], CorpusRows] | None,
        residency: Residency | None,
    ) -> None:
        self.key = key
        self.size = len(rows.ids)
        self.chars = rows.chars
        self._fingerprint = fingerprint
        self._pinned = pinned
        self._reader = reader
        self._residency = residency

    @classmethod
    def reopenable(
        cls,
        key: str,
        rows: CorpusRows,
        fingerprint: str,
        reader: Callable[[], CorpusRows],
        residency: Residency,
    ) -> Corpus:
        """A handle on ``rows`` (just read, ``fingerprint`` theirs) that ``reader`` reads again."""
        corpus = cls.__new__(cls)
        corpus._setup(key, rows, fingerprint, pinned=None, reader=reader, residency=residency)
        residency.admit(key, rows)
        return corpus

    def read_rows(self) -> CorpusRows:
        """Read the rows again from their source; DataError if they changed since they were loaded."""
        if self._reader is None:
            assert self._pinned is not None
            return self._pinned
        rows = self._reader()
        if len(rows.ids) != self.size or rows.fingerprint() != self._fingerprint:
            raise DataError(
                f"corpus {self.key}: its documents changed on disk while the run was reading them "
                f"({len(rows.ids)} rows now, {self.size} when loaded); rerun on a stable copy"
            )
        return rows

    @property
    def rows(self) -> CorpusRows:
        """The rows, read again if the residency let them go."""
        if self._pinned is not None:
            return self._pinned
        assert self._residency is not None
        return self._residency.rows(self)

    @property
    def ids(self) -> tuple[str, ...]:
        return self.rows.ids

    @property
    def texts(self) -> TextColumn:
        return self.rows.texts

    def __len__(self) -> int:
        return self.size

    def position(self, doc_id: str) -> int:
        """Row of ``doc_id`` in this corpus (KeyError if unknown)."""
        return self.rows.index[doc_id]

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.rows.index

    def fingerprint(self) -> str:
        """Content hash of ids and texts, used to name shared-corpus artefacts."""
        return self._fingerprint

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Corpus):
            return NotImplemented
        return (self.key, self.size, self._fingerprint) == (other.key, other.size, other._fingerprint)

    def __hash__(self) -> int:
        return hash((self.key, self._fingerprint))

    def __repr__(self) -> str:
        return f"Corpus(key={self.key!r}, size={self.size})"


@dataclass(frozen=True)
class Task:
    """One evaluation unit: a MAIR task, or one sub-split of a multi-split task.

    ``name`` is the unit's name (``Task`` or ``Task/sub``), ``task`` the MAIR task it belongs to.
    Queries keep MAIR row order; the split protocol shuffles them with a seed.
    """

    name: str
    task: str
    domain: str
    queries: tuple[Query, ...]
    corpus: Corpus

    @property
    def labelled_queries(self) -> tuple[Query, ...]:
        """Queries with at least one relevant document (the only ones MAIR evaluates)."""
        return tuple(q for q in self.queries if any(s > 0 for s in q.labels.values()))
