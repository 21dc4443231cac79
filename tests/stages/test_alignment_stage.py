"""Stage 1: seeded document sampling, the held-out split, and a deterministic loss-lowering fit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from era_exp.adapters import build_adapter
from era_exp.config import AlignmentConfig
from era_exp.data.schema import Corpus, Task
from era_exp.stages import (
    AlignmentDataModule,
    CosineAlignmentLoss,
    MSEAlignmentLoss,
    SmoothL1AlignmentLoss,
    sample_alignment_docs,
    train_alignment,
)


def _corpus(key: str, n: int) -> Corpus:
    ids = tuple(f"{key}-{i}" for i in range(n))
    return Corpus(key, ids, ids)


def _tasks() -> list[Task]:
    shared, small = _corpus("shared", 50), _corpus("small", 5)
    return [
        Task("A", "A", "Web", (), shared),
        Task("B", "B", "Web", (), small),
        Task("C", "C", "Web", (), shared),
    ]


def test_sampling_caps_per_task_and_deduplicates_shared_corpora() -> None:
    tasks = _tasks()
    result = sample_alignment_docs(tasks, samples_per_task=10, seed=3)
    assert [corpus.key for corpus, _ in result] == ["shared", "small"]
    shared_rows, small_rows = result[0][1], result[1][1]
    assert small_rows == [0, 1, 2, 3, 4]  # fewer docs than the cap: all of them
    per_task = [sample_alignment_docs([t], 10, seed=3)[0][1] for t in (tasks[0], tasks[2])]
    assert all(len(rows) == 10 for rows in per_task)
    assert shared_rows == sorted(set(per_task[0]) | set(per_task[1]))
    assert len(shared_rows) == len(set(shared_rows)) <= 20


def test_sampling_is_seeded_and_independent_of_other_tasks() -> None:
    tasks = _tasks()
    assert sample_alignment_docs(tasks, 10, seed=3) == sample_alignment_docs(tasks, 10, seed=3)
    assert sample_alignment_docs(tasks, 10, seed=3) != sample_alignment_docs(tasks, 10, seed=4)
    alone = sample_alignment_docs([tasks[0]], 10, seed=3)[0][1]
    with_others = sample_alignment_docs([tasks[1], tasks[0]], 10, seed=3)
    assert dict((c.key, rows) for c, rows in with_others)["shared"] == alone


COSINE = CosineAlignmentLoss()


def test_alignment_losses() -> None:
    x = F.normalize(torch.randn(6, 4), dim=-1)
    for loss in (COSINE, MSEAlignmentLoss(), SmoothL1AlignmentLoss()):
        assert float(loss(x, 2 * x)) == pytest.approx(0.0, abs=1e-6)
    assert float(COSINE(x, -x)) == pytest.approx(2.0)
    assert float(MSEAlignmentLoss()(x, -x)) == pytest.approx(float((2 * x).pow(2).mean()))


def test_holdout_split_is_seeded_and_disjoint() -> None:
    q, d = torch.arange(40.0).view(20, 2), torch.arange(60.0).view(20, 3)
    dm = AlignmentDataModule(q, d, batch_size=8, holdout=0.1, seed=5)
    assert (len(dm.train_set), len(dm.val_set)) == (18, 2)
    train_rows = set(dm.train_set.tensors[0][:, 0].tolist())
    assert not train_rows & set(dm.val_set.tensors[0][:, 0].tolist())
    again = AlignmentDataModule(q, d, batch_size=8, holdout=0.1, seed=5)
    assert torch.equal(again.val_set.tensors[1], dm.val_set.tensors[1])
    batches = list(dm.train_dataloader())
    assert [len(b[0]) for b in batches] == [8, 8, 2]
    assert all(b[0].shape[1] == 2 and b[1].shape[1] == 3 for b in batches)


def _learnable_pairs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(160, 12, generator=g), dim=-1)
    d = F.normalize(q @ torch.randn(6, 12, generator=g).T + 0.05 * torch.randn(160, 6, generator=g), dim=-1)
    return q, d


def test_alignment_lowers_the_loss_and_is_deterministic() -> None:
    q, d = _learnable_pairs()
    cfg = AlignmentConfig(epochs=15, batch_size=64, lr=0.05, loss=COSINE)
    adapters = []
    for _ in range(2):
        torch.manual_seed(1)
        adapters.append(build_adapter("linear", 12, 6))
    with torch.no_grad():
        before = float(COSINE(adapters[0](q), d))
    results = [train_alignment(adapter, q, d, cfg, seed=7) for adapter in adapters]
    for name, value in adapters[0].state_dict().items():
        assert torch.equal(value, adapters[1].state_dict()[name])
    assert results[0]["train_loss"] == results[1]["train_loss"]
    assert results[0]["val_loss"] < before / 2
    assert (results[0]["epochs"], results[0]["n_train"], results[0]["n_val"]) == (15, 144, 16)
    with torch.no_grad():  # the reported held-out loss is that of the final weights
        dm = AlignmentDataModule(q, d, holdout=0.1, seed=7)
        val_q, val_d = dm.val_set.tensors
        assert results[0]["val_loss"] == pytest.approx(float(COSINE(adapters[0](val_q), val_d)), abs=1e-6)


def test_alignment_without_holdout_leaves_global_torch_flags_alone() -> None:
    q, d = _learnable_pairs()
    deterministic = torch.are_deterministic_algorithms_enabled()
    result = train_alignment(
        build_adapter("linear", 12, 6), q, d, AlignmentConfig(epochs=1, holdout=0.0, loss=COSINE), seed=1
    )
    assert result["val_loss"] is None and result["n_val"] == 0 and result["n_train"] == 160
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_sampling_caps_a_multi_split_task_as_one_task() -> None:
    units = [Task(f"T/{i}", "T", "Code", (), _corpus(f"c{i}", 6)) for i in range(5)]
    result = sample_alignment_docs(units, samples_per_task=10, seed=3)
    assert sum(len(rows) for _, rows in result) == 10, "the cap is per MAIR task, not per sub-split"
    assert {c.key for c, _ in result} <= {f"c{i}" for i in range(5)}
    assert all(rows and max(rows) < 6 for _, rows in result)
    everything = sample_alignment_docs(units, 100, seed=3)
    assert {c.key: rows for c, rows in everything} == {u.corpus.key: list(range(6)) for u in units}
