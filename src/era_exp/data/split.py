"""The per-task query split: one seeded shuffle of the labelled queries, cut into nested parts.

In shuffled order, test is the last ``test_fraction`` (50%), validation the ``val_fraction`` (10%) just
before it, and train the first ``int(N * ratio)``. Val and test do not depend on the ratio, and the train
sets of growing ratios are prefixes of one another, so results across ratios compare like with like.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from era_exp.data.errors import DataError
from era_exp.data.schema import Query, Task


class SplitError(DataError):
    """A train ratio or split fraction that leaves no room for a valid split."""


@dataclass(frozen=True)
class Split:
    """Train, validation and test queries of one task, each in shuffled order."""

    train: tuple[Query, ...]
    val: tuple[Query, ...]
    test: tuple[Query, ...]


def _labelled(queries: Task | Sequence[Query]) -> tuple[str, tuple[Query, ...]]:
    if isinstance(queries, Task):
        return f"task {queries.name!r}", queries.labelled_queries
    labelled = tuple(q for q in queries if any(score > 0 for score in q.labels.values()))
    return "the task", labelled


def _shuffled(what: str, labelled: tuple[Query, ...], seed: int) -> list[Query]:
    if not labelled:
        raise SplitError(f"{what} has no labelled queries to split")
    order = list(range(len(labelled)))
    random.Random(seed).shuffle(order)
    return [labelled[i] for i in order]


def _bounds(n: int, test_fraction: float, val_fraction: float) -> tuple[int, int]:
    """(val_start, test_start) in the shuffled order of ``n`` labelled queries."""
    if not 0 < test_fraction < 1 or not 0 <= val_fraction < 1 - test_fraction:
        raise SplitError(
            f"need 0 < test_fraction < 1 and 0 <= val_fraction < 1 - test_fraction, "
            f"got test_fraction={test_fraction}, val_fraction={val_fraction}"
        )
    test_start = int(n * (1 - test_fraction))
    return test_start - int(n * val_fraction), test_start


def split_queries(
    queries: Task | Sequence[Query],
    ratio: float,
    seed: int = 42,
    test_fraction: float = 0.5,
    val_fraction: float = 0.1,
) -> Split:
    """Split the labelled queries (MAIR row order) of a task, or of its query list, for training at ``ratio``.

    Raises SplitError when ``ratio`` is outside (0, 1), gives no train query, or reaches into validation.
    """
    what, labelled = _labelled(queries)
    if not 0 < ratio < 1:
        raise SplitError(f"train ratio must be in (0, 1), got {ratio}")
    shuffled = _shuffled(what, labelled, seed)
    n = len(shuffled)
    val_start, test_start = _bounds(n, test_fraction, val_fraction)
    n_train = int(n * ratio)
    if n_train == 0:
        raise SplitError(f"ratio {ratio} leaves no train query for {what} with {n} labelled queries")
    if n_train > val_start:
        raise SplitError(
            f"ratio {ratio} asks for {n_train} train queries of {what}, but only {val_start} of its {n} "
            f"labelled queries come before validation and test"
        )
    return Split(
        train=tuple(shuffled[:n_train]),
        val=tuple(shuffled[val_start:test_start]),
        test=tuple(shuffled[test_start:]),
    )


def heldout_split(
    queries: Task | Sequence[Query],
    seed: int = 42,
    test_fraction: float = 0.5,
    val_fraction: float = 0.1,
) -> Split:
    """The validation and test parts of :func:`split_queries` with no train part, for a task nobody trains on.

    Val and test do not depend on the ratio, so they are exactly those of every trained split.
    """
    what, labelled = _labelled(queries)
    shuffled = _shuffled(what, labelled, seed)
    val_start, test_start = _bounds(len(shuffled), test_fraction, val_fraction)
    return Split(train=(), val=tuple(shuffled[val_start:test_start]), test=tuple(shuffled[test_start:]))


def eval_queries(
    queries: Task | Sequence[Query],
    which: Literal["test", "all"] = "test",
    seed: int = 42,
    test_fraction: float = 0.5,
) -> tuple[Query, ...]:
    """Queries to evaluate: the test split of :func:`split_queries` or all labelled queries in row order."""
    what, labelled = _labelled(queries)
    if which == "all":
        if not labelled:
            raise SplitError(f"{what} has no labelled queries to evaluate")
        return labelled
    if which != "test":
        raise SplitError(f"which must be 'test' or 'all', got {which!r}")
    shuffled = _shuffled(what, labelled, seed)
    _, test_start = _bounds(len(shuffled), test_fraction, 0.0)
    return tuple(shuffled[test_start:])
