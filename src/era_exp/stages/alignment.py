"""Stage 1: identical-text alignment.

The adapter learns to map the query model's embedding of a document text onto the document
model's embedding of the same text. Only a seeded sample of documents per training task is
needed, so the large query model never embeds whole corpora.
"""

from __future__ import annotations

import bisect
import itertools
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from era_exp.config import AlignmentConfig
from era_exp.data.schema import Corpus, Task
from era_exp.stages.data import EpochBatches, RowBatches
from era_exp.stages.optim import AdamWSchedule
from era_exp.stages.trainer import (
    Engine,
    check_engine,
    fit_in_memory,
    seed_all,
    stage_device,
    step_flops,
    threads_for,
)

LOSSES = ("cosine", "mse", "smooth_l1")


def sample_alignment_docs(
    tasks: Sequence[Task], samples_per_task: int = 1000, seed: int = 42
) -> list[tuple[Corpus, list[int]]]:
    """Corpus rows to embed for Stage 1: up to ``samples_per_task`` distinct documents per MAIR task.

    The cap is per MAIR task, not per evaluation unit: a task of many sub-splits (SWE-Bench-Lite's
    119 instances) contributes as many documents as a single-split task, drawn from the union of its
    units' corpora. Each task's sample depends only on ``seed`` and the task's name, so adding or
    removing other tasks does not change it. Tasks sharing a corpus contribute to one deduplicated,
    sorted row list for that corpus; corpora appear in order of first use.
    """
    if samples_per_task < 1:
        raise ValueError(f"samples_per_task must be >= 1, got {samples_per_task}")
    units_of: dict[str, list[Task]] = {}
    for unit in tasks:
        units_of.setdefault(unit.task, []).append(unit)
    chosen: dict[str, tuple[Corpus, set[int]]] = {}
    for units in units_of.values():
        corpora = list({unit.corpus.key: unit.corpus for unit in units}.values())
        # One unit keeps the unit's own name as the seed, so single-split tasks sample as they always did.
        rng = random.Random(f"{seed}:{units[0].name if len(units) == 1 else units[0].task}")
        sizes = [len(corpus) for corpus in corpora]
        starts = list(itertools.accumulate(sizes, initial=0))
        for flat in rng.sample(range(starts[-1]), min(samples_per_task, starts[-1])):
            which = bisect.bisect_right(starts, flat) - 1
            corpus = corpora[which]
            chosen.setdefault(corpus.key, (corpus, set()))[1].add(flat - starts[which])
    return [(corpus, sorted(rows)) for corpus, rows in chosen.values()]


def holdout_size(n: int, holdout: float) -> int:
    """Rows held out: round(n * holdout), at least one when holdout > 0, leaving one to train on."""
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    if n < 1:
        raise ValueError("no alignment pairs to train on")
    wanted = max(1, round(n * holdout)) if holdout > 0 else 0
    return min(wanted, n - 1)


class AlignmentRows:
    """Pairs (Q(t), D(t)) split once, with a seeded permutation, into training and held-out rows.

    :class:`~era_exp.stages.lightning.AlignmentDataModule` serves the same rows to Lightning's Trainer.
    """

    def __init__(
        self, q_emb: Tensor, d_emb: Tensor, batch_size: int = 256, holdout: float = 0.1, seed: int = 42
    ) -> None:
        super().__init__()
        if q_emb.ndim != 2 or d_emb.ndim != 2 or len(q_emb) != len(d_emb):
            raise ValueError(
                "alignment embeddings must be (n, dQ) and (n, dD); "
                f"got {tuple(q_emb.shape)}, {tuple(d_emb.shape)}"
            )
        self.batch_size, self.seed = batch_size, seed
        order = torch.randperm(len(q_emb), generator=torch.Generator().manual_seed(seed))
        n_val = holdout_size(len(q_emb), holdout)
        val_rows, train_rows = order[:n_val].sort().values, order[n_val:].sort().values
        q, d = q_emb.float(), d_emb.float()
        self.train_set = RowBatches(q[train_rows], d[train_rows])
        self.val_set = RowBatches(q[val_rows], d[val_rows])


class AlignmentStep(nn.Module):
    """Trains ``adapter`` with AdamW at a constant learning rate on an alignment loss.

    ``loss(pred, target)`` is a Stage-1 loss of :mod:`era_exp.stages.losses` (or any callable alike).
    The in-memory loop drives it as it is; :class:`~era_exp.stages.lightning.AlignmentModule` is
    the same step as a LightningModule.
    """

    train_metric = "align/train_loss"
    val_metric = "align/val_loss"

    def __init__(
        self, adapter: nn.Module, loss: Callable[[Tensor, Tensor], Tensor], lr: float, weight_decay: float
    ):
        super().__init__()
        self.adapter, self.alignment_loss, self.lr, self.weight_decay = adapter, loss, lr, weight_decay

    def forward(self, x: Tensor) -> Tensor:
        return self.adapter(x)

    def training_loss(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        """Alignment loss of a batch (query-model vectors, document-model vectors)."""
        q, d = batch
        return self.alignment_loss(self.adapter(q), d)

    validation_loss = training_loss

    def optimization(self) -> AdamWSchedule:
        """AdamW at a constant rate (both engines build their optimiser from it)."""
        return AdamWSchedule(tuple(self.adapter.parameters()), self.lr, self.weight_decay)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimization().for_trainer()


def alignment_threads(adapter: nn.Module, cfg: AlignmentConfig) -> int:
    """Intra-op threads Stage 1 trains ``adapter`` on, sized to its optimiser step within torch's count."""
    return threads_for(step_flops(adapter, cfg.batch_size))


def train_alignment(
    adapter: nn.Module,
    q_emb: Tensor,
    d_emb: Tensor,
    cfg: AlignmentConfig,
    seed: int = 42,
    trainer_kwargs: dict[str, Any] | None = None,
    engine: Engine = "loop",
) -> dict[str, Any]:
    """Run Stage 1 on ``adapter`` in place for ``cfg.epochs`` epochs, keeping the last weights.

    With ``cfg.epochs == 0`` the adapter is left as it came (e.g. from a closed-form init) and
    only its losses on the training and held-out pairs are measured.

    ``engine`` picks the in-memory loop or Lightning's Trainer (same numbers, on threads sized to
    the adapter and batch; see ``era_exp.stages.trainer``). ``cfg.loss`` is the built loss
    (``instantiate`` of the config's ``stage1.loss`` node).

    Returns the last epoch's mean training loss, the held-out loss of
    the final weights (None without a holdout), epochs run, wall seconds and the split sizes.
    """
    check_engine(engine)
    seed_all(seed)
    threads = alignment_threads(adapter, cfg)
    if cfg.epochs == 0:
        rows = AlignmentRows(q_emb, d_emb, cfg.batch_size, cfg.holdout, seed)
        n_val = len(rows.val_set)
        start = time.perf_counter()
        step = AlignmentStep(adapter, cfg.loss, cfg.lr, cfg.weight_decay)
        train_loss, val_loss = (_loss_of(step, part) for part in (rows.train_set, rows.val_set))
        epochs = 0
    elif engine == "loop":
        rows = AlignmentRows(q_emb, d_emb, cfg.batch_size, cfg.holdout, seed)
        n_val = len(rows.val_set)
        start = time.perf_counter()
        device = stage_device()
        train = EpochBatches(rows.train_set, cfg.batch_size, shuffle=True, seed=seed, device=device)
        val = EpochBatches(rows.val_set, cfg.batch_size, shuffle=False, device=device)
        result = fit_in_memory(
            AlignmentStep(adapter, cfg.loss, cfg.lr, cfg.weight_decay),
            train,
            val if n_val else None,
            cfg.epochs,
            trainer_kwargs=trainer_kwargs,
            threads=threads,
            description="stage 1: align",
        )
        epochs, train_loss, val_loss = result.epochs, result.train_loss, result.val_loss
    else:
        # Lightning only for its engine: importing it costs seconds of every loop-engine process.
        from era_exp.stages.lightning import AlignmentDataModule, AlignmentModule, fit

        rows = AlignmentDataModule(q_emb, d_emb, cfg.batch_size, cfg.holdout, seed)
        n_val = len(rows.val_set)
        start = time.perf_counter()
        module = AlignmentModule(adapter, cfg.loss, cfg.lr, cfg.weight_decay)
        kwargs = {} if n_val else {"limit_val_batches": 0}
        kwargs.update(trainer_kwargs or {})
        trainer = fit(module, rows, cfg.epochs, trainer_kwargs=kwargs, threads=threads)
        metrics = trainer.callback_metrics
        epochs, train_loss = trainer.current_epoch, float(metrics[module.train_metric])
        val_loss = float(metrics[module.val_metric]) if module.val_metric in metrics else None
    return {
        "train_loss": train_loss,
        "val_loss": val_loss,
        "epochs": epochs,
        "seconds": time.perf_counter() - start,
        "n_train": len(rows.train_set),
        "n_val": n_val,
    }


@torch.no_grad()
def _loss_of(step: AlignmentStep, rows: RowBatches) -> float | None:
    """The alignment loss of the step's current weights on all ``rows`` at once (None if empty)."""
    if len(rows) == 0:
        return None
    return float(step.training_loss(rows[torch.arange(len(rows))]))
