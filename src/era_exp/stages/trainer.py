"""The Lightning Trainer both stages use, and a fit that leaves global torch state as it found it."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback


def quiet() -> bool:
    """True when progress output should be off (env ``CI`` or ``ERA_QUIET`` set to a true value)."""
    return any(
        os.environ.get(name, "").lower() not in ("", "0", "false", "no") for name in ("CI", "ERA_QUIET")
    )


def seed_all(value: int) -> None:
    """Seed python, numpy and torch (and dataloader workers) for a reproducible stage."""
    pl.seed_everything(value, workers=True, verbose=not quiet())


@contextmanager
def _torch_state_kept() -> Iterator[None]:
    """Undo the global flags a deterministic Trainer sets, and Lightning's info chatter when quiet."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark, cudnn_deterministic = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    lightning_log = logging.getLogger("pytorch_lightning")
    level = lightning_log.level
    if quiet():
        lightning_log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # Batches are slices of in-memory tensors: worker processes would only add overhead.
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            # Lightning 2.6 internals against newer torch; nothing a caller can act on.
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
            yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = benchmark, cudnn_deterministic
        lightning_log.setLevel(level)


def fit(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    max_epochs: int,
    callbacks: Sequence[Callback] = (),
    trainer_kwargs: dict[str, Any] | None = None,
) -> pl.Trainer:
    """Fit ``module`` with the stages' Trainer defaults; ``trainer_kwargs`` override them.

    Defaults: one auto-selected device, no logger, no checkpoint files, deterministic, no sanity
    validation, progress bar unless quiet. Extra ``callbacks`` in ``trainer_kwargs`` are added to
    the stage's own.
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
    with _torch_state_kept():
        trainer = pl.Trainer(**kwargs)
        trainer.fit(module, datamodule=datamodule)
    return trainer
