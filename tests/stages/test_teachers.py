"""The mining teacher is chosen by method and model identity, never by dimension."""

from __future__ import annotations

import pytest

from era_exp.stages import teacher_for


@pytest.mark.parametrize(
    ("method", "query_identity", "doc_identity", "expected"),
    [
        ("era", "big", "small", "stage1_adapter"),
        ("era", "same", "same", "stage1_adapter"),
        ("label_only", "big", "small", "doc_model"),
        ("label-only", "big", "small", "doc_model"),
        ("label_only", "same", "same", "raw_query"),
        # Two different models that happen to share a dimension are still an asymmetric pair.
        ("label_only", "mpnet-768", "other-768", "doc_model"),
    ],
)
def test_teacher_choice(method: str, query_identity: str, doc_identity: str, expected: str) -> None:
    assert teacher_for(method, query_identity, doc_identity) == expected


@pytest.mark.parametrize("method", ["zero_shot", "align_only", "zero-shot"])
def test_methods_without_stage2_have_no_teacher(method: str) -> None:
    with pytest.raises(ValueError, match="has no Stage 2"):
        teacher_for(method, "a", "b")


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="unknown method 'erb'"):
        teacher_for("erb", "a", "b")
