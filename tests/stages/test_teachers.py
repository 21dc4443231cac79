"""The mining teacher is the method's (its config names it) and symmetry is decided by model identity."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from era_exp.adapters import DocResidualAdapter, LinearAdapter, adapt


@pytest.mark.parametrize(
    ("method", "symmetric", "expected"),
    [
        ("era", False, "stage1_adapter"),
        ("era", True, "stage1_adapter"),
        ("label_only", False, "doc_model"),
        ("label_only", True, "raw_query"),
    ],
)
def test_teacher_of_each_method(run_config, method: str, symmetric: bool, expected: str) -> None:
    teacher = instantiate(run_config(f"method={method}").method.teacher).resolve(symmetric)
    assert teacher.name == expected
    assert teacher.reads_doc_model_queries == (expected == "doc_model")


@pytest.mark.parametrize("method", ["zero_shot", "align_only"])
def test_methods_without_stage2_have_no_teacher(run_config, method: str) -> None:
    assert run_config(f"method={method}").method.teacher is None


def test_teacher_vectors(run_config) -> None:
    torch.manual_seed(0)
    adapter, queries, in_doc_space = LinearAdapter(4, 3), torch.randn(5, 4), torch.randn(5, 3)

    def teacher(method: str, symmetric: bool):
        return instantiate(run_config(f"method={method}").method.teacher).resolve(symmetric)

    def doc_model() -> torch.Tensor:
        return in_doc_space

    torch.testing.assert_close(
        teacher("era", False).vectors(adapter, queries, doc_model), adapt(adapter, queries)
    )
    assert teacher("label_only", False).vectors(adapter, queries, doc_model) is in_doc_space
    assert teacher("label_only", True).vectors(adapter, queries, doc_model) is queries


def test_raw_query_vectors_are_the_query_models_columns_of_a_doc_residual_input(run_config) -> None:
    """Sound label-only on a symmetric pair mines with the raw query vectors, not the [Q, D] input."""
    adapter, inputs = DocResidualAdapter(6 + 3, 3), torch.randn(5, 9)
    teacher = instantiate(run_config("method=label_only").method.teacher).resolve(True)
    torch.testing.assert_close(teacher.vectors(adapter, inputs, lambda: torch.empty(0)), inputs[:, :6])
