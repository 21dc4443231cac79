"""Selection rules for Stage 2's kept weights, judged on validation alone by split halves.

Stage 2 (with ``stage2.monitor=val_ndcg@10``) keeps one epoch for every task: the best on the mean
over tasks of validation nDCG@10, with early stopping. A rule that lets each task choose (its own
epoch, a fall-back to the starting weights, weights shrunk toward them) reads fewer queries per
choice, so it may fit noise. This module replays rules on a recorded trace
(:class:`~era_exp.stages.monitor.MonitorTrace`, every epoch's per-query validation nDCG@10): each
task's validation queries are split at random into a selection half and a confirmation half; a rule
chooses on the selection half and is scored on the other, both ways round, over many splits. No
test query is read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# A rule's choice for one task: (trace call, factor index); call 0 is the starting weights.
Choice = tuple[int, int]


@dataclass(frozen=True)
class Half:
    """One side of a split: each task's mean nDCG@10 per (call, factor), and its per-query values."""

    means: np.ndarray  # (calls, factors, tasks)
    queries: list[np.ndarray]  # per task: (calls, factors, queries in this half)


@dataclass(frozen=True)
class Shared:
    """The shipped choice on a selection half: the shared epoch and the last epoch early stopping ran."""

    call: int
    last: int


Rule = Callable[[Half, Shared, Sequence[float]], list[Choice]]


def shared_epoch(mean_over_tasks: np.ndarray, patience: int) -> Shared:
    """Stage 2's own rule on a monitor history: strictly better to improve, stop after ``patience``."""
    best, best_call, waited = -math.inf, 0, 0
    for call, value in enumerate(mean_over_tasks):
        if value > best:
            best, best_call, waited = float(value), call, 0
            continue
        waited += 1
        if waited >= patience:
            return Shared(best_call, call)
    return Shared(best_call, len(mean_over_tasks) - 1)


def _first_best(values: np.ndarray) -> int:
    """Index of the highest value, the earliest on ties (as Stage 2's strict improvement keeps)."""
    return int(np.argmax(values))


def _paired_gain_clears(half: Half, task: int, better: Choice, base: Choice, z: float) -> bool:
    """Whether ``better`` beats ``base`` on ``task`` by more than ``z`` standard errors (paired queries)."""
    diff = half.queries[task][better] - half.queries[task][base]
    if len(diff) < 2:
        return False
    error = float(diff.std(ddof=1)) / math.sqrt(len(diff))
    return error > 0 and float(diff.mean()) > z * error


def shipped(half: Half, shared: Shared, factors: Sequence[float]) -> list[Choice]:
    """The shared epoch for every task (what era_plus keeps)."""
    return [(shared.call, 0)] * half.means.shape[2]


def per_task_epoch(z: float | None = None) -> Rule:
    """Each task its own best epoch among those run (the start included); with ``z``, only where that
    epoch beats the shared one by ``z`` standard errors of the paired per-query gain."""

    def rule(half: Half, shared: Shared, factors: Sequence[float]) -> list[Choice]:
        choices = []
        for task in range(half.means.shape[2]):
            own = (_first_best(half.means[: shared.last + 1, 0, task]), 0)
            keep = z is None or _paired_gain_clears(half, task, own, (shared.call, 0), z)
            choices.append(own if keep else (shared.call, 0))
        return choices

    return rule


def fall_back(margin: float = 0.0, z: float | None = None) -> Rule:
    """Each task the shared epoch, or the starting weights where they score higher by more than
    ``margin`` (nDCG@10) or, with ``z``, by ``z`` standard errors of the paired per-query gain."""

    def rule(half: Half, shared: Shared, factors: Sequence[float]) -> list[Choice]:
        choices = []
        for task in range(half.means.shape[2]):
            start, trained = (0, 0), (shared.call, 0)
            if z is not None:
                back = _paired_gain_clears(half, task, start, trained, z)
            else:
                back = half.means[0, 0, task] > half.means[shared.call, 0, task] + margin
            choices.append(start if back else trained)
        return choices

    return rule


def _shrunk(shared: Shared, factors: Sequence[float]) -> list[Choice]:
    """The shared epoch's candidates from the start (factor 0) up to itself (factor 1), in that order."""
    order = sorted(range(len(factors)), key=lambda i: factors[i])
    return [(0, 0), *((shared.call, i) for i in order)]


def per_task_shrink(half: Half, shared: Shared, factors: Sequence[float]) -> list[Choice]:
    """Each task the factor α (0: the start, 1: the shared epoch) of the shared epoch it scores best with."""
    candidates = _shrunk(shared, factors)
    return [
        candidates[_first_best(np.array([half.means[c][f][task] for c, f in candidates]))]
        for task in range(half.means.shape[2])
    ]


def shared_shrink(half: Half, shared: Shared, factors: Sequence[float]) -> list[Choice]:
    """One factor α of the shared epoch for every task, the best on the mean over tasks."""
    candidates = _shrunk(shared, factors)
    best = candidates[_first_best(np.array([half.means[c][f].mean() for c, f in candidates]))]
    return [best] * half.means.shape[2]


# The rules the era_plus page compares, in its order; the first is what era_plus ships.
RULES: dict[str, Rule] = {
    "shared epoch (shipped)": shipped,
    "each task its own epoch": per_task_epoch(),
    "each task its own epoch where 2 SE better": per_task_epoch(z=2.0),
    "fall back to the start where higher": fall_back(),
    "fall back to the start where 0.01 higher": fall_back(margin=0.01),
    "fall back to the start where 2 SE higher": fall_back(z=2.0),
    "each task its shrink factor": per_task_shrink,
    "one shrink factor for all tasks": shared_shrink,
}


@dataclass(frozen=True)
class RuleScore:
    """A rule on the confirmation halves, averaged over splits: its mean over tasks (nDCG@10) and how
    many tasks fall below the starting weights, below the shipped rule and above it."""

    mean: float
    below_start: float
    below_shipped: float
    above_shipped: float


def _half(values: Sequence[np.ndarray], rows: Sequence[np.ndarray]) -> Half:
    queries = [array[:, :, row] for array, row in zip(values, rows, strict=True)]
    return Half(np.stack([q.mean(axis=2) for q in queries], axis=2), queries)


def split_halves(
    trace: Mapping[str, np.ndarray],
    factors: Sequence[float],
    patience: int,
    rules: Mapping[str, Rule] = RULES,
    splits: int = 20,
    seed: int = 0,
) -> dict[str, RuleScore]:
    """Each rule chosen on one half of every task's validation queries and scored on the other.

    ``trace``: each task's (calls, factors, queries) array (:func:`~era_exp.stages.monitor.load_trace`),
    recorded over a Stage 2 that ran to its nominal end (early stopping is replayed here with
    ``patience`` on each selection half). ``splits`` seeded random splits, each used both ways round.
    """
    tasks = sorted(trace)
    small = [task for task in tasks if trace[task].shape[2] < 2]
    if small:
        raise ValueError(f"split halves need 2+ validation queries per task; {small} have fewer")
    values = [trace[task] for task in tasks]
    reference = next(iter(rules))
    scores: dict[str, list[np.ndarray]] = {name: [] for name in rules}
    starts: list[np.ndarray] = []
    rng = np.random.default_rng(seed)
    for _ in range(splits):
        orders = [rng.permutation(array.shape[2]) for array in values]
        first = [order[: (len(order) + 1) // 2] for order in orders]
        second = [order[(len(order) + 1) // 2 :] for order in orders]
        for select_rows, confirm_rows in ((first, second), (second, first)):
            select, confirm = _half(values, select_rows), _half(values, confirm_rows)
            shared = shared_epoch(select.means[:, 0, :].mean(axis=1), patience)
            starts.append(confirm.means[0, 0, :])
            for name, rule in rules.items():
                picks = rule(select, shared, factors)
                scores[name].append(np.array([confirm.means[c, f, t] for t, (c, f) in enumerate(picks)]))
    start, base = np.stack(starts), np.stack(scores[reference])
    results = {}
    for name, rows in scores.items():
        table = np.stack(rows)  # (evaluations, tasks)
        results[name] = RuleScore(
            mean=float(table.mean()),
            below_start=float((table < start).sum(axis=1).mean()),
            below_shipped=float((table < base).sum(axis=1).mean()),
            above_shipped=float((table > base).sum(axis=1).mean()),
        )
    return results
