"""Stage 2: supervised adaptation on [positive, mined negatives] with an objective (InfoNCE by default).

AdamW with linear warm-up over the first ``warmup_fraction`` of a nominal ``nominal_epochs``
schedule, then linear decay to zero at its nominal end; early stopping on the validation loss
restores the best epoch's weights. With ``stage2.balance`` (``task``, ``sqrt``) each training pair
carries its weight (:func:`~era_exp.stages.pairs.pair_weights`) as a third row tensor, so both
engines weigh the same rows the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from era_exp.config import AdaptationConfig
from era_exp.stages.data import EpochBatches, RowBatches
from era_exp.stages.losses import InfoNCE
from era_exp.stages.optim import AdamWSchedule
from era_exp.stages.pairs import PairSet, pair_weights
from era_exp.stages.trainer import (
    BestEpoch,
    Engine,
    check_engine,
    fit_in_memory,
    seed_all,
    stage_device,
    step_flops,
    threads_for,
)

VAL_LOSS = "adapt/val_loss"

# Query-model vectors, the objective's candidates (positive, negatives), and in a balanced Stage 2's
# training batches each row's weight.
Batch = tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]


def warmup_linear(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR factor: 0 -> 1 linearly over ``warmup_steps``, then 1 -> 0 at ``total_steps``, then 0."""
    if step < warmup_steps:
        return step / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


class AdaptationRows:
    """Training and validation pairs as row tensors (batched by the stage: training shuffled, seeded).

    Each row is a query's vector and its candidates as ``objective`` compares them (normalised
    [positive, negatives]), made once for all rows: they are fixed document vectors, and making
    them per batch cost more than the adapter's own forward pass. ``balance`` (``stage2.balance``)
    adds each training row's weight as a third tensor; with ``none`` there is none.
    :class:`~era_exp.stages.lightning.AdaptationDataModule` serves the same rows to Lightning's Trainer.
    """

    def __init__(
        self,
        train: PairSet,
        val: PairSet,
        objective: InfoNCE,
        batch_size: int = 256,
        seed: int = 42,
        balance: str = "none",
    ) -> None:
        super().__init__()
        if len(train) == 0:
            raise ValueError("Stage 2 has no training pairs")
        if len(val) == 0:
            raise ValueError(
                "Stage 2 needs validation pairs for early stopping, but the validation set is empty"
            )
        if train.query.shape[1:] != val.query.shape[1:] or train.positive.shape[1:] != val.positive.shape[1:]:
            raise ValueError(
                f"training pairs (dQ={train.query.shape[1]}, dD={train.positive.shape[1]}) and validation "
                f"pairs (dQ={val.query.shape[1]}, dD={val.positive.shape[1]}) differ in dimensions"
            )
        self.batch_size, self.seed = batch_size, seed
        weights = pair_weights(train, balance)
        self.train_set = RowBatches(
            train.query.float(),
            objective.candidates(train.positive.float(), train.negatives.float()),
            *(() if weights is None else (weights,)),
        )
        self.val_set = RowBatches(
            val.query.float(), objective.candidates(val.positive.float(), val.negatives.float())
        )

    @property
    def steps_per_epoch(self) -> int:
        """Optimiser steps in one training epoch."""
        return math.ceil(len(self.train_set) / self.batch_size)


class AdaptationStep(nn.Module):
    """Training of ``adapter`` on a Stage-2 objective (:class:`~era_exp.stages.losses.InfoNCE`).

    ``objective.on_candidates(anchor, candidates, validation)`` gives a batch's loss (its rows come
    from :class:`AdaptationRows`); validation batches are scored with ``validation=True``. The
    in-memory loop drives it as it is, given ``steps_per_epoch``;
    :class:`~era_exp.stages.lightning.AdaptationModule` is the same step as a LightningModule,
    where ``steps_per_epoch`` defaults to the Trainer's count of training batches.
    """

    train_metric = "adapt/train_loss"
    val_metric = VAL_LOSS

    def __init__(
        self,
        adapter: nn.Module,
        objective: InfoNCE,
        lr: float,
        weight_decay: float,
        warmup_fraction: float,
        nominal_epochs: int,
        steps_per_epoch: int | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= warmup_fraction < 1.0 or nominal_epochs < 1:
            raise ValueError(
                f"need 0 <= warmup_fraction < 1, nominal_epochs >= 1; got {warmup_fraction}, {nominal_epochs}"
            )
        self.adapter, self.objective = adapter, objective
        self.lr, self.weight_decay = lr, weight_decay
        self.warmup_fraction, self.nominal_epochs = warmup_fraction, nominal_epochs
        self.steps_per_epoch = steps_per_epoch

    def forward(self, x: Tensor) -> Tensor:
        return self.adapter(x)

    def loss(self, batch: Batch, validation: bool) -> Tensor:
        """The objective on a batch (query vectors, their candidates, and the rows' weights if any)."""
        query, candidates, *weights = batch
        return self.objective.on_candidates(
            self.adapter(query), candidates, validation=validation, weights=weights[0] if weights else None
        )

    def training_loss(self, batch: Batch) -> Tensor:
        """The objective on a training batch."""
        return self.loss(batch, validation=False)

    def validation_loss(self, batch: Batch) -> Tensor:
        """The objective on a validation batch (each query's own candidates only, for InfoNCE)."""
        return self.loss(batch, validation=True)

    def training_batches_per_epoch(self) -> int:
        """Optimiser steps per epoch when ``steps_per_epoch`` was not given."""
        raise ValueError("Stage 2 needs steps_per_epoch outside Lightning's Trainer")

    def schedule_steps(self) -> tuple[int, int]:
        """(warm-up steps, nominal total steps) of the learning-rate schedule."""
        per_epoch = self.steps_per_epoch
        if per_epoch is None:
            per_epoch = self.training_batches_per_epoch()
        total = self.nominal_epochs * per_epoch
        return int(self.warmup_fraction * total), total

    def optimization(self) -> AdamWSchedule:
        """AdamW with the warm-up and linear decay per optimiser step (both engines build from it)."""
        warmup, total = self.schedule_steps()
        return AdamWSchedule(
            tuple(self.adapter.parameters()),
            self.lr,
            self.weight_decay,
            lambda step: warmup_linear(step, warmup, total),
        )

    def configure_optimizers(self) -> dict[str, Any]:
        return self.optimization().for_trainer()


def train_adaptation(
    adapter: nn.Module,
    train: PairSet,
    val: PairSet,
    cfg: AdaptationConfig,
    seed: int = 42,
    trainer_kwargs: dict[str, Any] | None = None,
    engine: Engine = "loop",
    monitor: Callable[[nn.Module], float] | None = None,
) -> dict[str, Any]:
    """Run Stage 2 on ``adapter`` in place; at the end it holds the best validation epoch's weights.

    ``monitor`` (higher is better, e.g. :class:`~era_exp.stages.monitor.RetrievalMonitor`) replaces
    the validation loss as what early stopping and the kept weights follow (``stage2.monitor``);
    the starting weights are scored too and kept when no epoch beats them (``best_epoch`` -1).
    The in-memory loop only.

    ``engine`` picks the in-memory loop or Lightning's Trainer (same numbers, on threads sized to
    the adapter and batch; see ``era_exp.stages.trainer``). ``cfg.objective`` is the built
    objective (``instantiate`` of the config's ``stage2.objective``).

    Returns the best validation loss, its (0-based) epoch, epochs
    run, wall seconds, the per-epoch validation losses and the pair counts.
    """
    check_engine(engine)
    if monitor is not None and engine != "loop":
        raise ValueError("a Stage-2 monitor other than the validation loss needs engine='loop'")
    seed_all(seed)
    settings = {
        "lr": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "warmup_fraction": cfg.warmup_fraction,
        "nominal_epochs": cfg.nominal_epochs,
    }
    threads = threads_for(step_flops(adapter, cfg.batch_size))
    if engine == "loop":
        rows = AdaptationRows(train, val, cfg.objective, cfg.batch_size, seed, str(cfg.balance))
        module = AdaptationStep(adapter, cfg.objective, **settings, steps_per_epoch=rows.steps_per_epoch)
        start = time.perf_counter()
        device = stage_device()
        best = BestEpoch(cfg.patience)
        result = fit_in_memory(
            module,
            EpochBatches(rows.train_set, cfg.batch_size, shuffle=True, seed=seed, device=device),
            EpochBatches(rows.val_set, cfg.batch_size, shuffle=False, device=device),
            cfg.nominal_epochs,
            best=best,
            trainer_kwargs=trainer_kwargs,
            threads=threads,
            description="stage 2: adapt",
            selection=None if monitor is None else lambda: -monitor(module.adapter),
        )
        epochs = result.epochs
    else:
        # Lightning only for its engine: importing it costs seconds of every loop-engine process.
        from pytorch_lightning.callbacks import EarlyStopping

        from era_exp.stages.lightning import AdaptationDataModule, AdaptationModule, BestWeights, fit

        rows = AdaptationDataModule(train, val, cfg.objective, cfg.batch_size, seed, str(cfg.balance))
        # An optimiser step per accumulate_grad_batches batches: the schedule counts steps, not batches.
        accumulate = int((trainer_kwargs or {}).get("accumulate_grad_batches", 1))
        steps = math.ceil(rows.steps_per_epoch / accumulate)
        module = AdaptationModule(adapter, cfg.objective, **settings, steps_per_epoch=steps)
        start = time.perf_counter()
        best = BestWeights(VAL_LOSS)
        stopper = EarlyStopping(
            monitor=VAL_LOSS, patience=cfg.patience, mode="min", check_on_train_epoch_end=False
        )
        trainer = fit(
            module,
            rows,
            cfg.nominal_epochs,
            callbacks=[best, stopper],
            trainer_kwargs=trainer_kwargs,
            threads=threads,
        )
        epochs = trainer.current_epoch
    if monitor is not None:
        return {
            "monitor": getattr(monitor, "name", "monitor"),
            "best_monitor": -best.best,
            "best_epoch": best.best_epoch,
            "epochs": epochs,
            "seconds": time.perf_counter() - start,
            "monitor_history": [-value for value in best.history],
            "n_train": len(train),
            "n_val": len(val),
        }
    return {
        "best_val_loss": best.best,
        "best_epoch": best.best_epoch,
        "epochs": epochs,
        "seconds": time.perf_counter() - start,
        "val_losses": best.history,
        "n_train": len(train),
        "n_val": len(val),
    }
