"""Sweep job folders: unique, deterministic, path-safe names from the overrides."""

from __future__ import annotations

import pytest

from era_exp.config import compose
from era_exp.sweep.naming import MAX_LENGTH, job_dirname, register_resolvers


def test_plain_overrides_are_kept_verbatim() -> None:
    assert job_dirname("method=era,pair=mpnet_to_minilm,train_ratio=0.05") == (
        "method=era,pair=mpnet_to_minilm,train_ratio=0.05"
    )


def test_no_overrides_gives_a_name() -> None:
    assert job_dirname("") == "default"


@pytest.mark.parametrize(
    "raw", ["data.tasks=[HumanEval-X/python]", "data.tasks=[a b]", "x=" + "y" * 300, "~holdout_domain"]
)
def test_unsafe_or_long_names_become_one_distinct_component(raw: str) -> None:
    name = job_dirname(raw)
    assert "/" not in name and " " not in name and len(name) <= MAX_LENGTH + 9
    assert job_dirname(raw) == name
    assert job_dirname(raw + "z") != name


def test_sweep_subdir_ignores_override_order_and_excluded_keys() -> None:
    register_resolvers()
    first = compose(
        ["pair=mpnet_to_minilm", "method=era", "train_ratio=0.1", "logger=csv", "paths.cache_dir=/c"]
    )
    second = compose(["paths.cache_dir=/d", "train_ratio=0.1", "method=era", "pair=mpnet_to_minilm"])
    assert (
        first.hydra.sweep.subdir
        == second.hydra.sweep.subdir
        == "method=era,pair=mpnet_to_minilm,train_ratio=0.1"
    )
