"""Teachers: which query vectors rank the corpus when mining Stage 2's hard negatives.

A method's config names its teacher (``method.teacher._target_``), so a new method is a YAML file.
Each teacher states what it reads, so prefetching asks for exactly the embeddings mining will use.
Symmetry is decided by model identity, never by comparing dimensions (two different models may
share a dimension).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from era_exp.adapters.modules import adapt


class Teacher:
    """Query vectors in the document space, computed before Stage 2 changes the adapter."""

    name: str

    def resolve(self, symmetric: bool) -> Teacher:
        """The concrete teacher for a pair (both sides the same model or not)."""
        return self

    @property
    def reads_doc_model_queries(self) -> bool:
        """Whether mining needs the training queries embedded by the document model."""
        return False

    def vectors(
        self, adapter: nn.Module, query_vecs: Tensor, doc_model_queries: Callable[[], Tensor]
    ) -> Tensor:
        """Teacher vectors for queries whose query-model vectors are ``query_vecs``."""
        raise NotImplementedError


class Stage1AdapterTeacher(Teacher):
    """ERA: the Stage-1 adapter applied to the query-model vectors."""

    name = "stage1_adapter"

    def vectors(
        self, adapter: nn.Module, query_vecs: Tensor, doc_model_queries: Callable[[], Tensor]
    ) -> Tensor:
        return adapt(adapter, query_vecs)


class RawQueryTeacher(Teacher):
    """The raw query-model vectors, already in the document space on a symmetric pair.

    ``query_vecs`` are what the adapter reads; for an adapter that also reads the document model's
    vectors (``query_and_doc``), its ``query_part`` picks the query model's columns.
    """

    name = "raw_query"

    def vectors(
        self, adapter: nn.Module, query_vecs: Tensor, doc_model_queries: Callable[[], Tensor]
    ) -> Tensor:
        query_part = getattr(adapter, "query_part", None)
        return query_vecs if query_part is None else query_part(query_vecs)


class DocModelTeacher(Teacher):
    """The document model's own embedding of each query."""

    name = "doc_model"

    @property
    def reads_doc_model_queries(self) -> bool:
        """Always: these are the vectors it mines with."""
        return True

    def vectors(
        self, adapter: nn.Module, query_vecs: Tensor, doc_model_queries: Callable[[], Tensor]
    ) -> Tensor:
        return doc_model_queries()


class DocumentSpaceTeacher(Teacher):
    """Label-only, which has no adapter yet: mine in the document space.

    The raw query vector when both sides are the same model, otherwise the document model's own
    query embedding.
    """

    name = "document_space"

    def resolve(self, symmetric: bool) -> Teacher:
        """The raw query vectors on a symmetric pair, the document model's otherwise."""
        return RawQueryTeacher() if symmetric else DocModelTeacher()
