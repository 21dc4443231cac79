"""The in-memory form of a retrieval task: queries with instructions and graded labels, one corpus."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Query:
    """One labelled query. ``labels`` maps doc id -> graded relevance (> 0 means relevant)."""

    qid: str
    instruction: str
    text: str
    labels: dict[str, int]


@dataclass(frozen=True)
class Corpus:
    """Documents of one (possibly shared) corpus. ``key`` names it so shared corpora are one object."""

    key: str
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self._index:
            self._index.update({doc_id: i for i, doc_id in enumerate(self.ids)})

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, doc_id: str) -> int:
        """Row of ``doc_id`` in this corpus (KeyError if unknown)."""
        return self._index[doc_id]

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._index

    def fingerprint(self) -> str:
        """Content hash of ids and texts, used to name shared-corpus artefacts."""
        digest = hashlib.sha1()
        for doc_id, text in zip(self.ids, self.texts, strict=True):
            digest.update(doc_id.encode())
            digest.update(b"\0")
            digest.update(text.encode())
            digest.update(b"\1")
        return digest.hexdigest()[:16]


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
