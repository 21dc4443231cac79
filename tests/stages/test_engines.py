"""The in-memory loop and Lightning's Trainer give the same stage numbers, bit for bit."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping
from pytorch_lightning.loggers import CSVLogger

from era_exp.adapters import build_adapter
from era_exp.config import AdaptationConfig, AlignmentConfig
from era_exp.stages import CosineAlignmentLoss, InfoNCE, train_adaptation, train_alignment
from era_exp.stages.trainer import threads_for
from helpers.synthetic_pairs import rotation, synthetic_pairs

TIMING = {"seconds"}
PAPER_INFO_NCE = InfoNCE(temperature=0.05, in_batch_negatives=False)


def _adapter(
    kind: str, d_in: int, d_out: int, options: dict | None = None, start: torch.Tensor | None = None
) -> torch.nn.Module:
    """A fresh adapter, identical on every call; ``start`` sets a linear adapter's initial weight."""
    torch.manual_seed(7)
    adapter = build_adapter(kind, d_in, d_out, **(options or {}))
    if start is not None:
        with torch.no_grad():
            adapter.linear.weight.copy_(start)
            adapter.linear.bias.zero_()
    return adapter


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def _both(
    train, adapter_args: tuple, *args, start: torch.Tensor | None = None, **kwargs
) -> tuple[dict, dict]:
    """The stage under each engine from identical fresh adapters; reports without wall times."""
    reports, adapters = {}, {}
    for engine in ("lightning", "loop"):
        adapters[engine] = _adapter(*adapter_args, start=start)
        report = train(adapters[engine], *args, engine=engine, **kwargs)
        reports[engine] = {k: v for k, v in report.items() if k not in TIMING}
    _same_weights(adapters["lightning"], adapters["loop"])
    return reports["lightning"], reports["loop"]


@pytest.mark.parametrize("holdout", [0.1, 0.0])
def test_alignment_engines_agree(holdout: float) -> None:
    g = torch.Generator().manual_seed(0)
    q, d = torch.randn(300, 12, generator=g), torch.randn(300, 6, generator=g)
    cfg = AlignmentConfig(holdout=holdout, batch_size=64, epochs=6, lr=1e-2, loss=CosineAlignmentLoss())
    lightning, loop = _both(train_alignment, ("linear", 12, 6), q, d, cfg, seed=3)
    assert lightning == loop
    assert (loop["val_loss"] is None) == (holdout == 0.0)


def test_adaptation_engines_agree_through_early_stopping() -> None:
    # Training pulls the adapter away from what validation wants, so validation loss turns and the
    # fit stops early: both engines must pick the same best epoch and stop at the same one.
    # Two training batches per epoch exercise the shuffling and the per-step schedule.
    d, theta = 8, 1.0
    train, val = synthetic_pairs(64, rotation(d, theta), seed=1), synthetic_pairs(64, torch.eye(d), seed=2)
    cfg = AdaptationConfig(
        lr=0.02, batch_size=32, nominal_epochs=40, warmup_fraction=0.1, patience=3, objective=PAPER_INFO_NCE
    )
    start = rotation(d, -theta)
    lightning, loop = _both(train_adaptation, ("linear", d, d), train, val, cfg, seed=1, start=start)
    assert lightning == loop
    assert loop["epochs"] < 40 and loop["best_epoch"] == loop["epochs"] - 1 - cfg.patience


def test_adaptation_engines_agree_with_in_batch_negatives_and_dropout() -> None:
    # Dropout draws from torch's global generator: the loop must leave it where a DataLoader would.
    mapping = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    train, val = synthetic_pairs(40, mapping, seed=1), synthetic_pairs(12, mapping, seed=2)
    cfg = AdaptationConfig(
        lr=1e-2, batch_size=16, nominal_epochs=5, objective=InfoNCE(temperature=0.05, in_batch_negatives=True)
    )
    adapter = ("residual_mlp", 8, 4, {"hidden": 16, "dropout": 0.3})
    lightning, loop = _both(train_adaptation, adapter, train, val, cfg, seed=5)
    assert lightning == loop and loop["epochs"] == 5


def test_loop_logs_the_trainers_epoch_rows(tmp_path: Path) -> None:
    mapping = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    train, val = synthetic_pairs(40, mapping, seed=1), synthetic_pairs(12, mapping, seed=2)
    cfg = AdaptationConfig(lr=1e-2, batch_size=16, nominal_epochs=3, objective=PAPER_INFO_NCE)
    rows = {}
    for engine in ("lightning", "loop"):
        logger = CSVLogger(tmp_path, name=engine, version="")
        options = {"logger": [logger], "log_every_n_steps": 1, "enable_progress_bar": False}
        train_adaptation(_adapter("linear", 8, 4), train, val, cfg, 1, trainer_kwargs=options, engine=engine)
        logger.save()
        rows[engine] = list(csv.DictReader(Path(logger.log_dir, "metrics.csv").read_text().splitlines()))
    assert rows["loop"] == rows["lightning"]
    assert len(rows["loop"]) == 6  # a validation row and a training row per epoch


def test_loop_refuses_trainer_only_options() -> None:
    mapping = torch.randn(4, 8)
    pairs = synthetic_pairs(8, mapping, 1)
    options = {"callbacks": [EarlyStopping(monitor="x")]}
    with pytest.raises(ValueError, match="engine='lightning'"):
        train_adaptation(
            _adapter("linear", 8, 4),
            pairs,
            pairs,
            AdaptationConfig(objective=PAPER_INFO_NCE),
            trainer_kwargs=options,
        )
    with pytest.raises(ValueError, match="unknown training engine"):
        train_adaptation(
            _adapter("linear", 8, 4),
            pairs,
            pairs,
            AdaptationConfig(objective=PAPER_INFO_NCE),
            engine="fabric",
        )


def test_threads_are_sized_to_the_step() -> None:
    before = torch.get_num_threads()
    assert threads_for(1e6) == 1
    assert threads_for(1e15) == before  # never above torch's own count


_LIGHTNING_FREE = """
import sys
import torch

import era_exp.sweep.job  # everything a grid point imports before its phases
from era_exp.adapters import build_adapter
from era_exp.config import AdaptationConfig, AlignmentConfig
from era_exp.stages import CosineAlignmentLoss, InfoNCE, PairSet, train_adaptation, train_alignment
from era_exp.tracking.tracker import Tracker

kwargs = Tracker(None, None).trainer_kwargs()
g = torch.Generator().manual_seed(0)
adapter = build_adapter("linear", 12, 6)
q, d = torch.randn(100, 12, generator=g), torch.randn(100, 6, generator=g)
cfg = AlignmentConfig(batch_size=64, epochs=2, loss=CosineAlignmentLoss())
train_alignment(adapter, q, d, cfg, trainer_kwargs=kwargs)
pairs = PairSet(q[:40], d[:40], torch.randn(40, 5, 6, generator=g))
cfg = AdaptationConfig(batch_size=16, nominal_epochs=3, objective=InfoNCE(0.05, in_batch_negatives=False))
train_adaptation(adapter, pairs, pairs, cfg, trainer_kwargs=kwargs)
lightning = {"pytorch_lightning", "lightning_fabric", "torchmetrics"}
print(sorted({name.split(".")[0] for name in sys.modules} & lightning), "torch._dynamo" in sys.modules)
"""


def test_the_in_memory_loop_runs_both_stages_without_importing_lightning_or_dynamo(tmp_path: Path) -> None:
    # Importing Lightning (and torchmetrics with it) costs seconds of every grid point's process;
    # torch's compiler stack, which torch.optim's optimisers import on first use, about one more.
    env = {**os.environ, "ERA_QUIET": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _LIGHTNING_FREE], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[] False", done.stderr


def test_the_lightning_classes_are_the_stages_own_steps() -> None:
    import pytorch_lightning as pl

    from era_exp.stages import AdaptationModule, AdaptationStep, AlignmentModule, AlignmentStep

    assert issubclass(AlignmentModule, AlignmentStep) and issubclass(AlignmentModule, pl.LightningModule)
    assert issubclass(AdaptationModule, AdaptationStep) and issubclass(AdaptationModule, pl.LightningModule)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        AdaptationStep(torch.nn.Linear(4, 4), PAPER_INFO_NCE, 1e-3, 0.0, 0.1, 10).configure_optimizers()


class _LearningRates(Callback):
    """The learning rate of every optimiser step the Trainer takes."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.rates.append(optimizer.param_groups[0]["lr"])


def test_the_trainers_schedule_counts_optimiser_steps_under_gradient_accumulation() -> None:
    mapping = torch.randn(4, 8, generator=torch.Generator().manual_seed(3))
    train, val = synthetic_pairs(32, mapping, seed=0), synthetic_pairs(8, mapping, seed=1)
    cfg = AdaptationConfig(
        lr=1.0, batch_size=8, nominal_epochs=4, warmup_fraction=0.5, patience=100, objective=PAPER_INFO_NCE
    )
    rates = _LearningRates()
    kwargs = {"accumulate_grad_batches": 2, "callbacks": [rates], "enable_progress_bar": False}
    train_adaptation(
        _adapter("linear", 8, 4), train, val, cfg, seed=1, engine="lightning", trainer_kwargs=kwargs
    )
    # 4 batches an epoch, one step per 2: 8 steps in 4 epochs, warm-up over the first 4, then decay.
    assert rates.rates == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 0.75, 0.5, 0.25])
