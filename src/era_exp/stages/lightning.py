"""The stages under Lightning's Trainer (``engine="lightning"``): LightningModules, DataModules, callbacks.

Each LightningModule is the stage's own step (:class:`~era_exp.stages.alignment.AlignmentStep`,
:class:`~era_exp.stages.adaptation.AdaptationStep`) with Lightning's hooks added, and each
DataModule serves the stage's rows through DataLoaders, so both engines compute the same numbers
(tests/stages/test_engines.py). The in-memory loop, the default, never imports this module, and
with it none of Lightning: importing Lightning costs seconds per process, a large share of a warm
grid point.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch import Tensor
from torch.utils.data import DataLoader

from era_exp.stages.adaptation import VAL_LOSS, AdaptationRows, AdaptationStep, Batch
from era_exp.stages.alignment import AlignmentRows, AlignmentStep
from era_exp.stages.data import batch_loader
from era_exp.stages.trainer import quiet, torch_state_kept, torch_threads


class AlignmentDataModule(AlignmentRows, pl.LightningDataModule):
    """Stage 1's rows: training pairs in seeded shuffled batches, held-out pairs in order."""

    def train_dataloader(self) -> DataLoader:
        return batch_loader(self.train_set, self.batch_size, shuffle=True, seed=self.seed)

    def val_dataloader(self) -> DataLoader:
        return batch_loader(self.val_set, self.batch_size, shuffle=False)


class AlignmentModule(AlignmentStep, pl.LightningModule):
    """Stage 1's step as a LightningModule: each batch's loss logged per epoch."""

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self.training_loss(batch)
        self.log(self.train_metric, loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self.validation_loss(batch)
        self.log(self.val_metric, loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss


class AdaptationDataModule(AdaptationRows, pl.LightningDataModule):
    """Stage 2's rows: training pairs in seeded shuffled batches, validation pairs in order."""

    def train_dataloader(self) -> DataLoader:
        return batch_loader(self.train_set, self.batch_size, shuffle=True, seed=self.seed)

    def val_dataloader(self) -> DataLoader:
        return batch_loader(self.val_set, self.batch_size, shuffle=False)


class AdaptationModule(AdaptationStep, pl.LightningModule):
    """Stage 2's step as a LightningModule: each batch's loss logged per epoch."""

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self.training_loss(batch)
        self.log(self.train_metric, loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self.validation_loss(batch)
        self.log(self.val_metric, loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def training_batches_per_epoch(self) -> int:
        """The Trainer's optimiser steps per epoch (its training batches over gradient accumulation)."""
        self.trainer.estimated_stepping_batches  # noqa: B018 - sets up the training batches
        return math.ceil(self.trainer.num_training_batches / self.trainer.accumulate_grad_batches)


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


def fit(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    max_epochs: int,
    callbacks: Sequence[Callback] = (),
    trainer_kwargs: dict[str, Any] | None = None,
    threads: int | None = None,
) -> pl.Trainer:
    """Fit ``module`` with Lightning's Trainer and the stages' defaults; ``trainer_kwargs`` override them.

    Defaults: one auto-selected device, no logger, no checkpoint files, deterministic, no sanity
    validation, progress bar unless quiet. Extra ``callbacks`` in ``trainer_kwargs`` are added to
    the stage's own. ``threads``: torch's intra-op threads during the fit (default: unchanged).
    """
    extra = dict(trainer_kwargs or {})
    kwargs: dict[str, Any] = {
        "accelerator": "auto",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": not quiet(),
        "enable_model_summary": False,
        "deterministic": True,
        "num_sanity_val_steps": 0,
        "max_epochs": max_epochs,
        "callbacks": [*callbacks, *extra.pop("callbacks", [])],
    }
    kwargs.update(extra)
    with torch_state_kept(), torch_threads(threads or torch.get_num_threads()):
        trainer = pl.Trainer(**kwargs)
        trainer.fit(module, datamodule=datamodule)
    return trainer
