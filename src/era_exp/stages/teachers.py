"""Which query vectors rank the corpus when mining Stage 2 hard negatives."""

from __future__ import annotations

from typing import Literal

Teacher = Literal["stage1_adapter", "doc_model", "raw_query"]

_NO_STAGE2 = ("zero_shot", "align_only")


def teacher_for(method: str, query_identity: str, doc_identity: str) -> Teacher:
    """The teacher for ``method`` with this embedder pair.

    ERA mines with its Stage 1 adapter. The label-only baseline has no adapter yet, so it mines in
    the document space: with the raw query embedding when both sides are the same model, otherwise
    with the document model's own query embedding. Symmetry is decided by model identity, never by
    comparing dimensions (two different models may share a dimension).
    """
    name = method.replace("-", "_")
    if name == "era":
        return "stage1_adapter"
    if name == "label_only":
        return "raw_query" if query_identity == doc_identity else "doc_model"
    if name in _NO_STAGE2:
        raise ValueError(f"method {method!r} has no Stage 2, so it mines no negatives and needs no teacher")
    raise ValueError(f"unknown method {method!r}; expected one of era, label_only, zero_shot, align_only")
