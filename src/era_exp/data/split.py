"""The per-task query split: one seeded shuffle of the labelled queries, cut into nested parts.

In shuffled order, test is the last ``test_fraction`` (50%), validation the ``val_fraction`` (10%) just
before it, and train the first ``int(N * ratio)``. Val and test do not depend on the ratio, and the train
sets of growing ratios are prefixes of one another, so results across ratios compare like with like.

A multi-split MAIR task (CQADupStack, SWE-Bench-Lite, IFEval, ...) is split once across all its
sub-splits (:func:`split_task`), so a sub-split with a single query is no error: it lands in one part.
For a single-split task this is exactly :func:`split_queries`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from era_exp.data.errors import DataError
from era_exp.data.schema import Query, Task

_Item = TypeVar("_Item")


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


def _shuffled(what: str, labelled: Sequence[_Item], seed: int) -> list[_Item]:
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


def _cut(
    what: str, labelled: Sequence[_Item], ratio: float, seed: int, test_fraction: float, val_fraction: float
) -> tuple[list[_Item], list[_Item], list[_Item]]:
    """(train, val, test) of ``labelled`` in shuffled order, for training at ``ratio``.

    Train is the first int(N·ratio) queries, as the protocol states: empty for a task with fewer than
    1 / ratio labelled queries (MAIR's SParC, 14 queries, at 0.05), which is still validated and tested.
    """
    if not 0 < ratio < 1:
        raise SplitError(f"train ratio must be in (0, 1), got {ratio}")
    shuffled = _shuffled(what, labelled, seed)
    n = len(shuffled)
    val_start, test_start = _bounds(n, test_fraction, val_fraction)
    n_train = int(n * ratio)
    if n_train > val_start:
        raise SplitError(
            f"ratio {ratio} asks for {n_train} train queries of {what}, but only {val_start} of its {n} "
            f"labelled queries come before validation and test"
        )
    return shuffled[:n_train], shuffled[val_start:test_start], shuffled[test_start:]


def split_queries(
    queries: Task | Sequence[Query],
    ratio: float,
    seed: int = 42,
    test_fraction: float = 0.5,
    val_fraction: float = 0.1,
) -> Split:
    """Split the labelled queries (MAIR row order) of a task, or of its query list, for training at ``ratio``.

    Raises SplitError when ``ratio`` is outside (0, 1) or reaches into validation.
    """
    what, labelled = _labelled(queries)
    train, val, test = _cut(what, labelled, ratio, seed, test_fraction, val_fraction)
    return Split(train=tuple(train), val=tuple(val), test=tuple(test))


def _pooled(units: Sequence[Task]) -> tuple[str, list[tuple[int, Query]]]:
    """The labelled queries of one MAIR task's units, in unit order then row order, tagged by unit."""
    if not units:
        raise SplitError("no evaluation unit to split")
    tasks = sorted({unit.task for unit in units})
    if len(tasks) > 1:
        raise SplitError(f"units of one MAIR task expected, got units of {tasks}")
    pooled = [(i, query) for i, unit in enumerate(units) for query in unit.labelled_queries]
    return f"task {tasks[0]!r}", pooled


def _per_unit(units: Sequence[Task], parts: Sequence[Sequence[tuple[int, Query]]]) -> list[Split]:
    """Each unit's share of every part, keeping the shuffled order."""
    shares: list[list[list[Query]]] = [[[] for _ in parts] for _ in units]
    for p, part in enumerate(parts):
        for owner, query in part:
            shares[owner][p].append(query)
    return [Split(train=tuple(train), val=tuple(val), test=tuple(test)) for train, val, test in shares]


def split_task(
    units: Sequence[Task],
    ratio: float,
    seed: int = 42,
    test_fraction: float = 0.5,
    val_fraction: float = 0.1,
) -> list[Split]:
    """Split one MAIR task across all its units (sub-splits) at once; one Split per unit, in unit order.

    The labelled queries of every unit are pooled (unit order, then MAIR row order), shuffled and cut as
    :func:`split_queries` does; each unit keeps its own share, so it is still scored against its own
    corpus. A unit may get no train (or no test) query. With one unit this is :func:`split_queries`.
    """
    what, pooled = _pooled(units)
    return _per_unit(units, _cut(what, pooled, ratio, seed, test_fraction, val_fraction))


def eval_only_split_task(
    units: Sequence[Task], seed: int = 42, test_fraction: float = 0.5, val_fraction: float = 0.1
) -> list[Split]:
    """The validation and test shares of each unit of one MAIR task, with no train part.

    Validation and test do not depend on the ratio, so they are exactly those :func:`split_task`
    cuts at every ratio: a task nobody trains on is scored on the same queries.
    """
    what, pooled = _pooled(units)
    shuffled = _shuffled(what, pooled, seed)
    val_start, test_start = _bounds(len(shuffled), test_fraction, val_fraction)
    return _per_unit(units, ([], shuffled[val_start:test_start], shuffled[test_start:]))


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
