"""The query split: nested train prefixes, fixed val/test, seeded, errors, per MAIR task across sub-splits."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from era_exp.data.hub import load_hub_tasks
from era_exp.data.local import load_local_tasks
from era_exp.data.schema import Query, Task
from era_exp.data.split import (
    SplitError,
    eval_only_split_task,
    eval_queries,
    split_queries,
    split_task,
)

RATIOS = (0.05, 0.1, 0.2, 0.4)


def _queries(n: int, unlabelled_every: int = 0) -> list[Query]:
    return [
        Query(
            qid=f"q{i}",
            instruction="",
            text=f"text {i}",
            labels={f"d{i}": 0 if unlabelled_every and i % unlabelled_every == 0 else 1},
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def scifact(mair_lite_root: Path) -> Task:
    [task] = load_local_tasks(mair_lite_root, names=["SciFact"])
    return task


def test_nested_train_and_fixed_val_test_across_ratios(scifact: Task) -> None:
    splits = [split_queries(scifact, ratio) for ratio in RATIOS]
    n = len(scifact.labelled_queries)
    for ratio, split in zip(RATIOS, splits, strict=True):
        assert len(split.train) == int(n * ratio)
        assert len(split.test) == n - int(n * 0.5)
        assert len(split.val) == int(n * 0.1)
        assert split.val == splits[0].val and split.test == splits[0].test
        ids = [q.qid for part in (split.train, split.val, split.test) for q in part]
        assert len(ids) == len(set(ids))
    for small, large in itertools.pairwise(splits):
        assert large.train[: len(small.train)] == small.train


def test_val_and_test_cover_the_tail_of_the_shuffle() -> None:
    queries = _queries(101)
    split = split_queries(queries, 0.4)
    assert (len(split.train), len(split.val), len(split.test)) == (40, 10, 51)
    covered = {q.qid for q in split.val + split.test}
    assert len(covered) == 61


def test_only_labelled_queries_and_task_or_list_agree(scifact: Task) -> None:
    queries = _queries(60, unlabelled_every=3)
    split = split_queries(queries, 0.2)
    used = split.train + split.val + split.test
    assert all(any(s > 0 for s in q.labels.values()) for q in used)
    assert len(split.test) == 20
    assert split_queries(scifact, 0.1) == split_queries(scifact.queries, 0.1)


def test_seeded_and_deterministic() -> None:
    queries = _queries(200)
    assert split_queries(queries, 0.2, seed=42) == split_queries(queries, 0.2, seed=42)
    other = split_queries(queries, 0.2, seed=7)
    assert other.train != split_queries(queries, 0.2, seed=42).train
    assert [q.qid for q in other.test] != [q.qid for q in split_queries(queries, 0.2, seed=42).test]


def test_eval_queries(scifact: Task) -> None:
    assert eval_queries(scifact) == split_queries(scifact, 0.2).test
    assert eval_queries(scifact, "test", seed=3) == split_queries(scifact, 0.2, seed=3).test
    assert eval_queries(scifact, "all") == scifact.labelled_queries
    with pytest.raises(SplitError, match="which must be"):
        eval_queries(scifact, "val")  # type: ignore[arg-type]


def test_a_task_with_fewer_than_one_over_ratio_queries_has_an_empty_train_split() -> None:
    small = split_queries(_queries(19), 0.05)
    assert small.train == ()
    assert (small.val, small.test) == (
        split_queries(_queries(19), 0.4).val,
        split_queries(_queries(19), 0.4).test,
    )
    assert len(small.val) == 1 and len(small.test) == 10


def test_split_errors() -> None:
    with pytest.raises(SplitError, match=r"ratio 0\.45 asks for 45 train queries .* only 40 of its 100"):
        split_queries(_queries(100), 0.45)
    for ratio in (0, 1, -0.1, 1.5):
        with pytest.raises(SplitError, match="train ratio must be in"):
            split_queries(_queries(100), ratio)
    with pytest.raises(SplitError, match="no labelled queries"):
        split_queries(_queries(4, unlabelled_every=1), 0.2)
    with pytest.raises(SplitError, match="test_fraction"):
        split_queries(_queries(100), 0.2, test_fraction=0.5, val_fraction=0.5)


def test_error_names_the_task(scifact: Task) -> None:
    with pytest.raises(SplitError, match=r"0\.45 asks for 135 train queries of task 'SciFact'"):
        split_queries(scifact, 0.45)


@pytest.fixture(scope="module")
def swe_bench(mair_replica: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Task]:
    """SWE-Bench-Lite in MAIR's shape: 119 sub-splits of one query each, read through ``datasets``."""
    return load_hub_tasks(
        ["SWE-Bench-Lite"],
        queries=str(mair_replica / "MAIR-Queries"),
        docs=str(mair_replica / "MAIR-Docs"),
        cache_dir=str(tmp_path_factory.mktemp("datasets-cache")),
    )


def test_a_single_split_task_splits_exactly_as_before(scifact: Task) -> None:
    for ratio in RATIOS:
        assert split_task([scifact], ratio) == [split_queries(scifact, ratio)]
    held = eval_only_split_task([scifact])
    assert [(h.train, h.val, h.test) for h in held] == [
        ((), s.val, s.test) for s in split_task([scifact], 0.2)
    ]
    assert held[0].test == eval_queries(scifact)


def test_a_task_of_single_query_sub_splits_is_split_across_them(swe_bench: list[Task]) -> None:
    assert len(swe_bench) == 119 and all(len(unit.labelled_queries) == 1 for unit in swe_bench)
    # Why the split cannot be made per sub-split: a one-query sub-split would only ever be tested.
    assert split_queries(swe_bench[0], 0.2).train == split_queries(swe_bench[0], 0.2).val == ()
    by_ratio = {ratio: split_task(swe_bench, ratio) for ratio in RATIOS}
    n = 119
    for ratio, splits in by_ratio.items():
        parts = [sum(len(getattr(split, part)) for split in splits) for part in ("train", "val", "test")]
        assert parts == [int(n * ratio), int(n * 0.1), n - int(n * 0.5)]
        for unit, split in zip(swe_bench, splits, strict=True):
            shares = [q.qid for q in split.train + split.val + split.test]
            assert len(shares) <= 1 and set(shares) <= {q.qid for q in unit.queries}, "each query stays home"
        assert [s.test for s in splits] == [s.test for s in by_ratio[RATIOS[0]]], "test set fixed"
        assert [s.val for s in splits] == [s.val for s in by_ratio[RATIOS[0]]], "validation fixed"
        assert [s.test for s in eval_only_split_task(swe_bench)] == [s.test for s in splits]
    trained = [{i for i, split in enumerate(by_ratio[ratio]) if split.train} for ratio in RATIOS]
    assert all(small <= large for small, large in itertools.pairwise(trained)), "nested train sets"
    assert sum(1 for split in by_ratio[0.2] if not split.train) == n - int(n * 0.2), "units without train"


def test_split_task_wants_the_units_of_one_task(swe_bench: list[Task], scifact: Task) -> None:
    with pytest.raises(SplitError, match="units of one MAIR task expected"):
        split_task([swe_bench[0], scifact], 0.2)
