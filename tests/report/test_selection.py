"""Selection rules replayed on split validation halves: who chooses what, and what it scores."""

from __future__ import annotations

import numpy as np
import pytest

from era_exp.report.selection import (
    RULES,
    Half,
    Shared,
    fall_back,
    per_task_epoch,
    shared_epoch,
    split_halves,
)

FACTORS = (1.0, 0.5)


def _trace(calls: int = 8, queries: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """Two tasks over ``calls`` monitor calls: training helps ``helped`` and hurts ``hurt``.

    Shrunk weights (factor 0.5) score halfway between the start and the epoch, as a linear
    change of the query vector would; per-query noise keeps the halves apart."""
    rng = np.random.default_rng(seed)
    trend = np.linspace(0.0, 1.0, calls)[:, None]
    out = {}
    for task, slope in (("helped", 0.3), ("hurt", -0.2)):
        start = rng.uniform(0.3, 0.6, queries)
        full = np.clip(start + slope * trend + 0.02 * rng.standard_normal((calls, queries)), 0, 1)
        half = (start + full) / 2
        out[task] = np.stack([full, half], axis=1)
    return out


def _half(trace: dict[str, np.ndarray]) -> Half:
    queries = [trace[task] for task in sorted(trace)]
    return Half(np.stack([q.mean(axis=2) for q in queries], axis=2), queries)


def test_stage2_rule_replay_keeps_the_first_best_and_stops_after_patience() -> None:
    assert shared_epoch(np.array([0.1, 0.3, 0.3, 0.2, 0.2, 0.5]), patience=3) == Shared(call=1, last=4)
    assert shared_epoch(np.array([0.4, 0.1]), patience=5) == Shared(call=0, last=1)


def test_per_task_rules_send_the_hurt_task_back_to_its_start() -> None:
    trace = _trace()
    half = _half(trace)
    shared = shared_epoch(half.means[:, 0, :].mean(axis=1), patience=100)
    assert shared.call > 0, "on the mean over tasks training helps"
    helped, hurt = sorted(trace).index("helped"), sorted(trace).index("hurt")
    back = fall_back()(half, shared, FACTORS)
    assert back[hurt] == (0, 0) and back[helped] == (shared.call, 0)
    own = per_task_epoch()(half, shared, FACTORS)
    assert own[hurt] == (0, 0) and own[helped][0] > 0
    assert fall_back(margin=1.0)(half, shared, FACTORS) == [(shared.call, 0)] * 2, "no gain clears 1.0"


def test_split_halves_scores_every_rule_on_the_other_half() -> None:
    scores = split_halves(_trace(), FACTORS, patience=100, splits=4)
    assert list(scores) == list(RULES)
    shipped = scores["shared epoch (shipped)"]
    assert shipped.below_shipped == shipped.above_shipped == 0
    assert shipped.below_start == pytest.approx(1.0), "the hurt task falls below its start"
    assert scores["fall back to the start where higher"].below_start < shipped.below_start
    assert scores["fall back to the start where higher"].mean > shipped.mean


def test_split_halves_refuses_a_task_it_cannot_split() -> None:
    with pytest.raises(ValueError, match="2\\+ validation queries"):
        split_halves({"one": np.zeros((3, 2, 1))}, FACTORS, patience=5)
