"""Stage 2: supervised adaptation on [positive, mined negatives] with an objective (InfoNCE by default).

AdamW with linear warm-up over the first ``warmup_fraction`` of a nominal ``nominal_epochs``
schedule, then linear decay to zero at its nominal end; early stopping on the validation loss
restores the best epoch's weights.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping
from torch import Tensor, nn
from torch.utils.data import DataLoader

from era_exp.config import AdaptationConfig
from era_exp.stages.data import EpochBatches, RowBatches, batch_loader
from era_exp.stages.losses import InfoNCE
from era_exp.stages.pairs import PairSet
from era_exp.stages.trainer import (
    BestEpoch,
    Engine,
    check_engine,
    fit,
    fit_in_memory,
    seed_all,
    stage_device,
    step_flops,
    threads_for,
)

VAL_LOSS = "adapt/val_loss"

Batch = tuple[Tensor, Tensor, Tensor]


def warmup_linear(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR factor: 0 -> 1 linearly over ``warmup_steps``, then 1 -> 0 at ``total_steps``, then 0."""
    if step < warmup_steps:
        return step / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


class AdaptationDataModule(pl.LightningDataModule):
    """Training pairs in seeded shuffled batches, validation pairs in order."""

    def __init__(self, train: PairSet, val: PairSet, batch_size: int = 256, seed: int = 42) -> None:
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
        self.train_set = RowBatches(train.query.float(), train.positive.float(), train.negatives.float())
        self.val_set = RowBatches(val.query.float(), val.positive.float(), val.negatives.float())

    @property
    def steps_per_epoch(self) -> int:
        """Optimiser steps in one training epoch."""
        return math.ceil(len(self.train_set) / self.batch_size)

    def train_dataloader(self) -> DataLoader:
        return batch_loader(self.train_set, self.batch_size, shuffle=True, seed=self.seed)

    def val_dataloader(self) -> DataLoader:
        return batch_loader(self.val_set, self.batch_size, shuffle=False)


class AdaptationModule(pl.LightningModule):
    """Training of ``adapter`` on a Stage-2 objective (:class:`~era_exp.stages.losses.InfoNCE`).

    ``objective(anchor, positive, negatives, validation)`` gives a batch's loss; validation batches
    are scored with ``validation=True``. ``steps_per_epoch`` defaults to the Trainer's count of
    training batches.
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
        """The objective on a batch (query, positive, negatives)."""
        query, positive, negatives = batch
        return self.objective(self.adapter(query), positive, negatives, validation=validation)

    def training_loss(self, batch: Batch) -> Tensor:
        """The objective on a training batch."""
        return self.loss(batch, validation=False)

    def validation_loss(self, batch: Batch) -> Tensor:
        """The objective on a validation batch (each query's own candidates only, for InfoNCE)."""
        return self.loss(batch, validation=True)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self.training_loss(batch)
        self.log(self.train_metric, loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self.validation_loss(batch)
        self.log(self.val_metric, loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def schedule_steps(self) -> tuple[int, int]:
        """(warm-up steps, nominal total steps) of the learning-rate schedule."""
        per_epoch = self.steps_per_epoch
        if per_epoch is None:
            self.trainer.estimated_stepping_batches  # noqa: B018 - sets up the training batches
            per_epoch = math.ceil(self.trainer.num_training_batches / self.trainer.accumulate_grad_batches)
        total = self.nominal_epochs * per_epoch
        return int(self.warmup_fraction * total), total

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(self.adapter.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        warmup, total = self.schedule_steps()
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_linear(step, warmup, total)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class BestWeights(Callback):
    """Keeps an in-memory copy of the weights with the lowest monitored value; restores it at fit end.

    The Trainer engine's counterpart of the loop's :class:`~era_exp.stages.trainer.BestEpoch`.
    """

    def __init__(self, monitor: str = VAL_LOSS) -> None:
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch: int | None = None
        self.history: list[float] = []
        self._state: dict[str, Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        self.history.append(value)
        if value < self.best:
            self.best, self.best_epoch = value, trainer.current_epoch
            self._state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._state is not None:
            pl_module.load_state_dict(copy.deepcopy(self._state))


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
    datamodule = AdaptationDataModule(train, val, cfg.batch_size, seed)
    module = AdaptationModule(
        adapter,
        cfg.objective,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_fraction=cfg.warmup_fraction,
        nominal_epochs=cfg.nominal_epochs,
        steps_per_epoch=datamodule.steps_per_epoch,
    )
    threads = threads_for(step_flops(adapter, cfg.batch_size))
    start = time.perf_counter()
    if engine == "loop":
        device = stage_device()
        best = BestEpoch(cfg.patience)
        result = fit_in_memory(
            module,
            EpochBatches(datamodule.train_set, cfg.batch_size, shuffle=True, seed=seed, device=device),
            EpochBatches(datamodule.val_set, cfg.batch_size, shuffle=False, device=device),
            cfg.nominal_epochs,
            best=best,
            trainer_kwargs=trainer_kwargs,
            threads=threads,
            description="stage 2: adapt",
            selection=None if monitor is None else lambda: -monitor(module.adapter),
        )
        epochs = result.epochs
    else:
        best = BestWeights(VAL_LOSS)
        stopper = EarlyStopping(
            monitor=VAL_LOSS, patience=cfg.patience, mode="min", check_on_train_epoch_end=False
        )
        trainer = fit(
            module,
            datamodule,
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
