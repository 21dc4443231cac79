"""Sweep job folders: unique, deterministic, path-safe names from the overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from era_exp.config import compose
from era_exp.sweep.naming import (
    MAX_GROUP_LENGTH,
    MAX_LENGTH,
    FolderCollisionError,
    check_distinct_folders,
    job_dirname,
    register_resolvers,
    sweep_group,
)


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


def test_sweeps_ending_in_the_same_folder_name_get_different_groups(tmp_path: Path) -> None:
    """Two sweeps launched at the same time of day, or two studies' ``mpnet`` folders, stay apart."""
    first, second = tmp_path / "2026-12-01" / "10-11-12", tmp_path / "2026-12-02" / "10-11-12"
    assert sweep_group(first) != sweep_group(second)
    assert sweep_group(first) == first.resolve().as_posix()


def test_a_long_sweep_path_is_cut_to_the_wandb_limit_and_stays_distinct(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a" * 40] * 4)
    groups = {sweep_group(deep / name) for name in ("x", "y")}
    assert len(groups) == 2
    assert all(len(group) <= MAX_GROUP_LENGTH and group.endswith(("/x", "/y")) for group in groups)


def test_points_differing_only_in_an_unnamed_key_are_refused_and_others_pass() -> None:
    exclude = ["data.root", "logger"]
    distinct = [
        ["method=era", "data.root=/a"],
        ["method=zero_shot", "data.root=/a"],
        ["method=era", "data.root=/a"],
    ]
    check_distinct_folders(distinct, exclude)
    with pytest.raises(FolderCollisionError, match=r"differ only in \['logger=csv', 'logger=wandb'\]"):
        check_distinct_folders([["method=era", "logger=csv"], ["logger=wandb", "method=era"]], exclude)
