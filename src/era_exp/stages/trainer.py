"""How the stages train: an in-memory epoch loop (the default) or Lightning's Trainer, same numbers.

Both engines drive the same step. ``engine="lightning"`` hands it, as a LightningModule with a
LightningDataModule (:mod:`era_exp.stages.lightning`), to ``pytorch_lightning.Trainer`` (any
Trainer option through ``trainer_kwargs``). ``engine="loop"`` runs the same optimiser steps on
tensors already on the device, without importing Lightning at all: batches are index lookups,
validation follows each epoch in the same loop, epoch means are reduced as Lightning reduces
``self.log(..., on_epoch=True)``, the optimiser is torch's AdamW arithmetic without an
``Optimizer`` object (:mod:`era_exp.stages.optim`), and the thread count is sized to the work. Its losses,
early-stopping epoch and weights equal the Trainer's bit for bit (tests/stages/test_engines.py);
what it saves is Lightning's per-step bookkeeping, which dominates epochs of a few small batches.
"""

from __future__ import annotations

import logging
import math
import os
import random
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from era_exp.stages.data import EpochBatches
from era_exp.stages.optim import AdamWSchedule

if TYPE_CHECKING:
    from pytorch_lightning.loggers import Logger

Engine = Literal["loop", "lightning"]
ENGINES: tuple[str, ...] = ("loop", "lightning")

# Intra-op threads per this much arithmetic in one optimiser step (forward and backward).
FLOPS_PER_THREAD = 1e9


def quiet() -> bool:
    """True when progress output should be off (env ``CI`` or ``ERA_QUIET`` set to a true value)."""
    return any(
        os.environ.get(name, "").lower() not in ("", "0", "false", "no") for name in ("CI", "ERA_QUIET")
    )


def interactive() -> bool:
    """Whether a person is watching: stderr is a terminal and progress output is not turned off."""
    return sys.stderr.isatty() and not quiet()


def seed_all(value: int) -> None:
    """Seed python, numpy and torch (and dataloader workers) for a reproducible stage.

    What ``pytorch_lightning.seed_everything(value, workers=True)`` does, environment included
    (Lightning's Trainer reads it to seed DataLoader workers), without importing Lightning.
    """
    os.environ["PL_GLOBAL_SEED"] = str(value)
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)
    os.environ["PL_SEED_WORKERS"] = "1"


def check_engine(engine: str) -> None:
    """Reject an unknown engine name before any work."""
    if engine not in ENGINES:
        raise ValueError(f"unknown training engine {engine!r}; expected one of {list(ENGINES)}")


def stage_device() -> torch.device:
    """Where a stage trains: the device ``Trainer(accelerator="auto", devices=1)`` would pick."""
    if torch.cuda.is_available():
        return torch.device("cuda", 0)
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def step_flops(module: torch.nn.Module, batch_size: int) -> float:
    """Arithmetic of one optimiser step: forward and backward, ~6 multiply-adds per weight and row."""
    return 6.0 * batch_size * sum(p.numel() for p in module.parameters())


def threads_for(flops_per_step: float) -> int:
    """Intra-op threads for optimiser steps of ``flops_per_step``: one per ``FLOPS_PER_THREAD``.

    Never more than torch's current count (so ``OMP_NUM_THREADS`` still caps it). Steps of a few
    milliseconds spend extra threads on hand-offs, and on cores shared with other processes those
    threads spin against each other: two threads made such steps ten times slower on two busy cores.
    Both engines use it, so a stage's numbers do not depend on the machine's core count (CPU
    kernels may sum in a different order on a different number of threads).
    """
    return max(1, min(torch.get_num_threads(), int(flops_per_step // FLOPS_PER_THREAD)))


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def use_deterministic_algorithms(mode: bool, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms``, without importing torch's compiler stack for it.

    The public function also sets the flag in inductor's config, importing ``torch._inductor`` and
    with it ``torch._dynamo`` (about a second of a fresh process) to do so; eager kernels read only
    the flag it sets in torch's core. Once inductor is loaded (something in the process compiles),
    the public function runs as it is, so compiled code sees the flag too.
    """
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


@contextmanager
def torch_state_kept() -> Iterator[None]:
    """Undo the global flags a deterministic fit sets, and keep Lightning's info chatter off the console."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark, cudnn_deterministic = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    lightning_logs = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning.pytorch")]
    levels = [log.level for log in lightning_logs]
    for log in lightning_logs:  # "GPU available", "TPU available", tips: run-log material at most
        log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # Batches are slices of in-memory tensors: worker processes would only add overhead.
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            # Lightning 2.6 internals against newer torch; nothing a caller can act on.
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
            yield
    finally:
        use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = benchmark, cudnn_deterministic
        for log, level in zip(lightning_logs, levels, strict=True):
            log.setLevel(level)


class EpochModule(Protocol):
    """What the in-memory loop needs from a stage's step (its LightningModule's ``*_step``s log these)."""

    train_metric: str
    val_metric: str

    def optimization(self) -> AdamWSchedule: ...

    def training_loss(self, batch: tuple[Tensor, ...]) -> Tensor: ...

    def validation_loss(self, batch: tuple[Tensor, ...]) -> Tensor: ...


class EpochMean:
    """Batch-size-weighted mean of batch losses, reduced as Lightning reduces ``on_epoch`` logs."""

    def __init__(self, device: torch.device) -> None:
        self.total = torch.tensor(0.0, device=device)
        self.count = torch.tensor(0, device=device)

    def add(self, loss: Tensor, batch_size: int) -> None:
        self.total = self.total + loss.detach() * batch_size
        self.count = self.count + batch_size

    def value(self) -> Tensor:
        return self.total / self.count


@dataclass
class BestEpoch:
    """Early stopping on a validation loss, keeping the best epoch's weights (restored by the loop).

    The same rule as Lightning's ``EarlyStopping(mode="min")`` with the stages' ``BestWeights``:
    an epoch improves when its loss is strictly below the best so far; the fit stops after
    ``patience`` epochs without improvement, or at once on a non-finite loss.
    """

    patience: int
    best: float = math.inf
    best_epoch: int | None = None
    history: list[float] = field(default_factory=list)
    state: dict[str, Tensor] | None = None
    _waited: int = 0

    def update(self, loss: float, epoch: int, module: torch.nn.Module) -> bool:
        """Record epoch ``epoch``'s loss; True when the fit should stop."""
        self.history.append(loss)
        if not math.isfinite(loss):
            return True
        if loss < self.best:
            self.best, self.best_epoch, self._waited = loss, epoch, 0
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return False
        self._waited += 1
        return self._waited >= self.patience


@dataclass(frozen=True)
class LoopResult:
    """Epochs run and the last epoch's mean losses (``val_loss`` None without validation batches)."""

    epochs: int
    train_loss: float
    val_loss: float | None


# Trainer options that only shape logging and progress output (what a tracker hands the stages).
_OUTPUT_OPTIONS = ("logger", "enable_progress_bar", "log_every_n_steps", "callbacks")


def computing_options(trainer_kwargs: dict[str, Any] | None) -> list[str]:
    """Names of the Trainer options in ``trainer_kwargs`` that may change what a stage computes.

    Loggers, the progress-bar switch, ``log_every_n_steps``, progress-bar callbacks and epoch
    observers (callbacks with ``observes_epochs = True``, such as a drill's fault point) only shape
    output; any other option or callback may change the numbers (and needs ``engine="lightning"``).
    """
    options = dict(trainer_kwargs or {})
    other = [name for name in options if name not in _OUTPUT_OPTIONS]
    callbacks = options.get("callbacks") or []
    observers = _observers(callbacks)
    return [*other, *(type(c).__name__ for c in _non_progress(callbacks) if c not in observers)]


def _observers(callbacks: Sequence[Any]) -> list[Any]:
    """The callbacks that only watch epochs end: the loop calls their ``on_train_epoch_end`` too."""
    return [callback for callback in callbacks if getattr(callback, "observes_epochs", False)]


def _loop_options(trainer_kwargs: dict[str, Any] | None) -> tuple[list[Logger], bool, list[Any]]:
    """Loggers, progress choice and epoch observers from Trainer-style kwargs.

    The loop logs each metric once per epoch and draws one bar per stage, so ``log_every_n_steps``
    and progress-bar callbacks, which only shape Lightning's own logging and bar, have no effect.
    Any other Trainer option needs ``engine="lightning"``.
    """
    options = dict(trainer_kwargs or {})
    loggers = options.pop("logger", None)
    progress = options.pop("enable_progress_bar", interactive())
    other = computing_options(trainer_kwargs)
    if other:
        raise ValueError(
            f"trainer options {other} need Lightning's Trainer: pass engine='lightning' to the stage"
        )
    if loggers in (None, False, True):
        loggers = []
    elif not isinstance(loggers, list | tuple):
        loggers = [loggers]
    return list(loggers), bool(progress), _observers(options.get("callbacks") or [])


def _non_progress(callbacks: Sequence[Any]) -> list[Any]:
    """The callbacks that are not progress bars (Lightning is imported only when there are some)."""
    if not callbacks:
        return []
    from pytorch_lightning.callbacks import ProgressBar

    return [callback for callback in callbacks if not isinstance(callback, ProgressBar)]


def fit_in_memory(
    module: EpochModule,
    train: EpochBatches,
    val: EpochBatches | None,
    max_epochs: int,
    best: BestEpoch | None = None,
    trainer_kwargs: dict[str, Any] | None = None,
    threads: int | None = None,
    description: str = "train",
    selection: Callable[[], float] | None = None,
) -> LoopResult:
    """Train ``module`` on ``train``'s device for up to ``max_epochs``: each epoch its steps, then ``val``.

    The steps are Lightning's automatic optimisation (zero grad, backward, optimiser step at the
    rate its scheduler sets; :mod:`era_exp.stages.optim`) under the same deterministic settings,
    on ``threads`` intra-op threads (default: unchanged). With ``best``, validation losses feed
    it, the fit stops when it says so and ends with the best epoch's weights. ``selection`` (lower
    is better) replaces the validation loss as what ``best`` follows, and is also asked before the
    first epoch, so the starting weights (epoch -1) can be the ones kept. The module ends on
    the CPU, as after ``Trainer.fit``.
    """
    loggers, progress, observers = _loop_options(trainer_kwargs)
    device = train.device
    module.to(device)
    optimizer = module.optimization().for_loop()
    steps, epochs, train_loss, val_loss = 0, 0, math.nan, None
    bar = tqdm(total=max_epochs, desc=description, unit="epoch", leave=False, disable=not progress)
    with torch_state_kept(), torch_threads(threads or torch.get_num_threads()), bar:
        use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
        if best is not None and selection is not None:
            best.update(selection(), -1, module)
        for epoch in range(max_epochs):
            train_mean = EpochMean(device)
            for batch in train:
                loss = module.training_loss(batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                steps += 1
                train_mean.add(loss, len(batch[0]))
            stop = False
            if val is not None:
                with _evaluation_mode(module), torch.no_grad():
                    val_mean = EpochMean(device)
                    for batch in val:
                        val_mean.add(module.validation_loss(batch), len(batch[0]))
                val_loss = float(val_mean.value())
                _log(loggers, {module.val_metric: val_loss, "epoch": epoch}, steps - 1)
                if best is not None:
                    stop = best.update(val_loss if selection is None else selection(), epoch, module)
            train_loss, epochs = float(train_mean.value()), epoch + 1
            _log(loggers, {module.train_metric: train_loss, "epoch": epoch}, steps - 1)
            bar.set_postfix(loss=f"{val_loss if val_loss is not None else train_loss:.4f}", refresh=False)
            bar.update()
            for observer in observers:
                observer.on_train_epoch_end(None, module)
            if stop:
                break
    if best is not None and best.state is not None:
        module.load_state_dict(best.state)
    module.cpu()
    for logger in loggers:
        logger.save()
    return LoopResult(epochs=epochs, train_loss=train_loss, val_loss=val_loss)


@contextmanager
def _evaluation_mode(module: torch.nn.Module) -> Iterator[None]:
    """Eval mode for a validation pass, then each submodule's own mode back (as Lightning does).

    Training itself runs in whatever mode the module came in, as under Lightning's Trainer.
    """
    modes = [(submodule, submodule.training) for submodule in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for submodule, training in modes:
            submodule.training = training


def _log(loggers: Sequence[Logger], metrics: dict[str, float], step: int) -> None:
    for logger in loggers:
        logger.log_metrics(metrics, step=step)
