"""The tracker a job logs through: the ``logger`` entry (conf/logger/*.yaml), built by ``instantiate``.

Every tracker gives the stage trainers their Lightning loggers and progress bar, receives the
run's results at the end, and is closed exactly once, also when the job fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from era_exp.tracking.progress import progress_kwargs

if TYPE_CHECKING:
    from pytorch_lightning.loggers import Logger


class Tracker:
    """No experiment logger (``logger=none``): results.json is the record.

    Every tracker is built as ``Tracker(cfg, out_dir, sweep_group)`` plus its entry's own settings.
    """

    loggers: tuple[Logger, ...] = ()

    def __init__(self, cfg: DictConfig, out_dir: Path, sweep_group: str | None = None) -> None:
        """Nothing to open without a logger."""

    def trainer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for every stage Trainer: loggers (if any) and the progress bar."""
        kwargs = progress_kwargs()
        if self.loggers:
            # Stage metrics are logged per epoch; a step interval would only warn on small datasets.
            kwargs.update(logger=list(self.loggers), log_every_n_steps=1)
        return kwargs

    def log_results(self, results: dict) -> None:
        """Record the run's final metrics."""

    def close(self, ok: bool) -> None:
        """Flush and release the logger; ``ok`` is False when the job failed."""


def point_tags(cfg: DictConfig) -> dict[str, str]:
    """What identifies a grid point to a person: pair, method, train ratio and setting."""
    return {
        "pair": f"{cfg.query_embedder.name}_to_{cfg.doc_embedder.name}",
        "method": str(cfg.method.name),
        "ratio": str(cfg.train_ratio),
        "setting": str(cfg.setting.name),
    }


def plain_config(cfg: DictConfig) -> dict:
    """The resolved config as plain containers (what loggers can serialise)."""
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def make_tracker(cfg: DictConfig, out_dir: Path, group: str | None = None) -> Tracker:
    """The tracker the ``logger`` entry names, writing under ``out_dir``; ``group`` joins a sweep's runs."""
    return instantiate(cfg.logger)(cfg, Path(out_dir), group)


@contextmanager
def tracking(cfg: DictConfig, out_dir: Path, group: str | None = None) -> Iterator[Tracker]:
    """Open the configured tracker for one job and close it however the job ends."""
    tracker = make_tracker(cfg, Path(out_dir), group=group)
    ok = False
    try:
        yield tracker
        ok = True
    finally:
        tracker.close(ok)
