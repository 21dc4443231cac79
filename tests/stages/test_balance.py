"""stage2.balance=task: every task weighs the same in Stage 2's loss, under either engine; ``sqrt``
weighs a task by the square root of its pair count; the default weighs every pair the same and
computes what it always did."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from era_exp.adapters import build_adapter
from era_exp.config import AdaptationConfig
from era_exp.pipeline.run import run
from era_exp.stages import InfoNCE, PairSet, concat_pairs, pair_weights, train_adaptation
from era_exp.stages.adaptation import AdaptationRows
from helpers.config import TINY_STAGES
from helpers.synthetic_pairs import synthetic_pairs

TIMING = {"seconds"}
IN_BATCH = InfoNCE(temperature=0.05, in_batch_negatives=True)


def _named(pairs: PairSet, tasks: list[str]) -> PairSet:
    return replace(pairs, tasks=tuple(tasks))


def _uneven(n_big: int, n_small: int, seed: int) -> PairSet:
    """A big task and a small one, the small one pulling the adapter elsewhere than the big one."""
    g = torch.Generator().manual_seed(seed)
    big = _named(synthetic_pairs(n_big, torch.randn(4, 8, generator=g), seed), ["big"] * n_big)
    small = _named(synthetic_pairs(n_small, torch.randn(4, 8, generator=g), seed + 1), ["small"] * n_small)
    return concat_pairs([big, small])


def test_each_task_weighs_the_same_and_the_weights_average_one() -> None:
    pairs = _uneven(30, 6, seed=0)
    weights = pair_weights(pairs, "task")
    assert weights.shape == (36,) and weights.dtype == torch.float32
    # 36 pairs, 2 tasks: a pair weighs 36 / (2 * its task's count).
    assert torch.allclose(weights[:30], torch.full((30,), 36 / 60)) and torch.allclose(
        weights[30:], torch.full((6,), 3.0)
    )
    assert weights.mean().item() == pytest.approx(1.0)
    assert weights[:30].sum().item() == pytest.approx(weights[30:].sum().item())
    assert pair_weights(pairs, "none") is None


def test_sqrt_weighs_a_task_by_the_square_root_of_its_pairs() -> None:
    pairs = _uneven(36, 4, seed=0)
    weights = pair_weights(pairs, "sqrt")
    assert weights.mean().item() == pytest.approx(1.0)
    # 36 pairs against 4: in total the big task weighs sqrt(36) / sqrt(4) = 3 times the small one,
    # where unweighted it is 9 times and balanced by task once.
    assert weights[:36].sum().item() == pytest.approx(3 * weights[36:].sum().item())
    assert torch.allclose(weights[:36], weights[0]) and torch.allclose(weights[36:], weights[36])
    assert weights[36].item() == pytest.approx(3 * weights[0].item())
    with pytest.raises(ValueError, match=r"stage2\.balance=sqrt needs training pairs that name their task"):
        pair_weights(synthetic_pairs(8, torch.eye(4), seed=0), "sqrt")
    with pytest.raises(ValueError, match="unknown Stage-2 balance 'square'"):
        pair_weights(pairs, "square")


def test_balancing_needs_pairs_that_name_their_task() -> None:
    anonymous = synthetic_pairs(8, torch.eye(4), seed=0)
    assert not anonymous.tasks
    with pytest.raises(ValueError, match=r"stage2\.balance=task needs training pairs that name their task"):
        pair_weights(anonymous, "task")
    with pytest.raises(ValueError, match="PairSet has 8 rows but 3 task names"):
        _named(anonymous, ["a"] * 3)
    # A set without names among named ones makes the whole set anonymous, never misattributed.
    assert not concat_pairs([_named(anonymous, ["a"] * 8), anonymous]).tasks


def test_the_default_adds_no_weight_tensor_and_task_names_change_no_number() -> None:
    pairs = _uneven(30, 6, seed=0)
    rows = AdaptationRows(pairs, pairs, IN_BATCH, batch_size=8)
    assert len(rows.train_set.tensors) == 2 and len(rows.val_set.tensors) == 2
    balanced = AdaptationRows(pairs, pairs, IN_BATCH, batch_size=8, balance="task")
    assert len(balanced.train_set.tensors) == 3 and len(balanced.val_set.tensors) == 2
    anonymous = PairSet(pairs.query, pairs.positive, pairs.negatives)
    cfg = AdaptationConfig(lr=1e-2, batch_size=8, nominal_epochs=4, objective=IN_BATCH)
    reports = []
    for train in (pairs, anonymous):
        torch.manual_seed(7)
        report = train_adaptation(build_adapter("linear", 8, 4), train, anonymous, cfg, seed=3)
        reports.append({k: v for k, v in report.items() if k not in TIMING})
    assert reports[0] == reports[1]


def test_engines_agree_with_balancing_and_it_changes_the_training() -> None:
    train, val = _uneven(40, 8, seed=1), _uneven(12, 4, seed=5)
    cfg = AdaptationConfig(
        lr=1e-2, batch_size=16, nominal_epochs=6, patience=6, objective=IN_BATCH, balance="task"
    )
    reports, adapters = {}, {}
    for engine in ("lightning", "loop"):
        torch.manual_seed(7)
        adapters[engine] = build_adapter("linear", 8, 4)
        report = train_adaptation(adapters[engine], train, val, cfg, seed=2, engine=engine)
        reports[engine] = {k: v for k, v in report.items() if k not in TIMING}
    assert reports["lightning"] == reports["loop"]
    for (name, x), (_, y) in zip(
        adapters["lightning"].state_dict().items(), adapters["loop"].state_dict().items(), strict=True
    ):
        assert torch.equal(x, y), name
    torch.manual_seed(7)
    plain = train_adaptation(build_adapter("linear", 8, 4), train, val, replace(cfg, balance="none"), seed=2)
    assert plain["val_losses"] != reports["loop"]["val_losses"]


def test_a_balanced_loss_is_the_mean_of_the_tasks_mean_losses() -> None:
    """With every pair in one batch, the weighted loss is the average over tasks of each task's own loss."""
    pairs = _uneven(9, 3, seed=4)
    anchor = torch.randn(12, 4, generator=torch.Generator().manual_seed(0))
    objective = InfoNCE(temperature=0.05, in_batch_negatives=False)
    candidates = objective.candidates(pairs.positive, pairs.negatives)
    balanced = objective.on_candidates(anchor, candidates, False, weights=pair_weights(pairs, "task"))
    per_task = [objective.on_candidates(anchor[s], candidates[s], False) for s in (slice(0, 9), slice(9, 12))]
    assert balanced.item() == pytest.approx(sum(per_task).item() / 2, rel=1e-5)


@pytest.mark.mair_lite
def test_a_balanced_run_on_real_tasks_weighs_them_by_their_pair_counts(run_config, tmp_path, mair_lite_root):
    """Two real tasks of unequal size: the run reports each task's training pairs (its split's train
    queries), and balancing changes Stage 2 against the same run unbalanced."""
    common = (
        f"data.root={mair_lite_root}",
        "data.tasks=[TMDB,PytorchAPI]",
        "method=era",
        "query_embedder.max_length=128",
        "stage1.samples_per_task=40",
        *TINY_STAGES,
    )
    balanced = run(run_config(*common, "stage2.balance=task"), tmp_path / "balanced")
    plain = run(run_config(*common), tmp_path / "plain")
    stage, plain_stage = balanced["stages"]["adaptation"], plain["stages"]["adaptation"]
    counts = stage["train_pairs_per_task"]
    assert counts == {task: balanced["split_sizes"][task]["train"] for task in ("TMDB", "PytorchAPI")}
    assert counts["TMDB"] != counts["PytorchAPI"] and sum(counts.values()) == stage["train_pairs"]
    assert "train_pairs_per_task" not in plain_stage and balanced["run_key"] != plain["run_key"]
    assert stage["val_losses"] != plain_stage["val_losses"]
    assert balanced["config"]["stage2"]["balance"] == "task"
