"""Fill embedding caches with one process, or one process per device through Lightning.

``encode_jobs`` takes the distinct texts per (cache folder, embedder) and fills the caches. With one
device it encodes in this process. With ``devices * nodes > 1`` it runs ``Trainer.predict`` with a
DDP strategy: Lightning starts one process per device (or joins the processes SLURM's ``srun`` or
``torchrun`` started, reading their environment), hands each rank its share of work units through
a distributed sampler, and each rank fills the cache for its units. Ranks coordinate only through
the cache's leases (:mod:`era_exp.embed.claims`), so a rank that finishes early takes over chunks
no one has started, and a rerun after a crash encodes only what is still missing. The same path
runs on CPU with gloo, which is how the tests exercise it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from era_exp.embed.cache import DEFAULT_CHUNK_CHARS, EmbeddingCache, text_keys

log = logging.getLogger(__name__)


@dataclass
class EncodeSettings:
    """How ``era-encode`` runs (``conf/encode/default.yaml``; never part of a run's key)."""

    accelerator: str = "auto"
    devices: int = 1
    nodes: int = 1
    strategy: str = "ddp"
    chunk_size: int = 256
    chunk_chars: float = DEFAULT_CHUNK_CHARS
    stale_seconds: float = 120.0
    verify: str = "hash"
    unit_chunks: int = 8
    array_jobs: int | None = None

    def __post_init__(self) -> None:
        for name in ("devices", "nodes", "chunk_size", "unit_chunks"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"encode.{name} must be >= 1, got {getattr(self, name)}")
        if self.array_jobs is not None and self.array_jobs < 1:
            raise ValueError(f"encode.array_jobs must be >= 1 or null, got {self.array_jobs}")

    @property
    def distributed(self) -> bool:
        """Whether to go through Lightning: several devices or nodes, or launched by torchrun/srun."""
        launched = int(os.environ.get("WORLD_SIZE", "1")) > 1 or int(os.environ.get("SLURM_NTASKS", "1")) > 1
        return self.devices * self.nodes > 1 or launched

    def cache(self, root: str | Path) -> EmbeddingCache:
        return EmbeddingCache(
            root,
            chunk_size=self.chunk_size,
            chunk_chars=self.chunk_chars,
            verify=self.verify,
            stale_seconds=self.stale_seconds,
        )


@dataclass
class EncodeJob:
    """The distinct texts one embedder must have in one cache folder."""

    cache_dir: str
    embedder: object
    texts: list[str]


@dataclass
class EncodeReport:
    """What one process did; ``ranks`` lists every rank's figures after a distributed run."""

    encoded: int = 0
    hits: int = 0
    seconds: float = 0.0
    ranks: list[dict] = field(default_factory=list)


def shard_of(texts: Sequence[str], index: int, count: int) -> list[str]:
    """Shard ``index`` of ``count`` of distinct texts: every count-th text in sha1 order.

    Depends only on the set of texts, and mixes long and short texts in every shard.
    """
    if not 0 <= index < count:
        raise ValueError(f"shard index must be in [0, {count}), got {index}")
    order = np.argsort(text_keys(texts), kind="stable")
    return [texts[i] for i in order[index::count]]


def _fill(jobs: Sequence[EncodeJob], settings: EncodeSettings) -> dict:
    """Fill every job's cache in this process; ``{"encoded", "hits"}``."""
    caches: dict[str, EmbeddingCache] = {}
    for job in jobs:
        cache = caches.setdefault(job.cache_dir, settings.cache(job.cache_dir))
        cache.fill(job.embedder, job.texts)
    return {
        "encoded": sum(c.stats.encoded for c in caches.values()),
        "hits": sum(c.stats.hits for c in caches.values()),
    }


def encode_jobs(jobs: Sequence[EncodeJob], settings: EncodeSettings) -> EncodeReport | None:
    """Fill the caches of ``jobs``; the report on rank 0 (or the single process), ``None`` elsewhere."""
    start = time.perf_counter()
    if not settings.distributed:
        counts = _fill(jobs, settings)
        return EncodeReport(**counts, seconds=round(time.perf_counter() - start, 3), ranks=[counts])
    return _predict(jobs, settings, start)


def _first(batch: list) -> object:
    return batch[0]


def _predict(jobs: Sequence[EncodeJob], settings: EncodeSettings, start: float) -> EncodeReport | None:
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader

    from era_exp.embed.hf import usable_cpus

    class CacheFiller(pl.LightningModule):
        """Each predict step fills the cache for one work unit (a slice of one job's texts)."""

        def __init__(self, ranks: int) -> None:
            super().__init__()
            self.units = _units(jobs, settings.chunk_size * settings.unit_chunks, ranks)
            self.caches: dict[str, EmbeddingCache] = {}
            self.embedders: list = []
            self.report: dict = {}

        def _cache(self, job: EncodeJob) -> EmbeddingCache:
            return self.caches.setdefault(job.cache_dir, settings.cache(job.cache_dir))

        def on_predict_start(self) -> None:
            device = self.trainer.strategy.root_device
            if device.type == "cpu":  # share the cores between the ranks on this node
                torch.set_num_threads(max(1, usable_cpus() // max(1, self.trainer.num_devices)))
            moved: dict[int, object] = {}  # an embedder shared by several jobs moves (and loads) once
            self.embedders = [
                moved.setdefault(id(job.embedder), _on_device(job.embedder, device)) for job in jobs
            ]

        def predict_step(self, unit: int, batch_idx: int) -> int:
            number, lo, hi = self.units[unit]
            self._cache(jobs[number]).fill(self.embedders[number], jobs[number].texts[lo:hi])
            return hi - lo

        def on_predict_end(self) -> None:
            # Whatever another rank has not started yet (or left behind) is taken over here.
            for number, job in enumerate(jobs):
                self._cache(job).fill(self.embedders[number], job.texts)
            stats = [c.stats for c in self.caches.values()]
            mine = torch.tensor([sum(s.encoded for s in stats), sum(s.hits for s in stats)])
            gathered = self.all_gather(mine.to(self.trainer.strategy.root_device)).reshape(-1, 2).tolist()
            self.report = {"ranks": [{"encoded": int(e), "hits": int(h)} for e, h in gathered]}

    trainer = pl.Trainer(
        accelerator=settings.accelerator,
        devices=settings.devices,
        num_nodes=settings.nodes,
        strategy=settings.strategy,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    module = CacheFiller(trainer.world_size)
    loader = DataLoader(list(range(len(module.units))), batch_size=1, collate_fn=_first)
    trainer.predict(module, loader, return_predictions=False)
    if trainer.global_rank != 0:
        return None
    ranks = module.report["ranks"]
    return EncodeReport(
        encoded=sum(r["encoded"] for r in ranks),
        hits=sum(r["hits"] for r in ranks),
        seconds=round(time.perf_counter() - start, 3),
        ranks=ranks,
    )


def use_local_device() -> None:
    """Make this process's own GPU the current one before anything touches CUDA.

    Ranks started by torchrun, srun or Lightning know their local rank from the environment; without
    this, every rank's first CUDA call (planning the grid builds the embedders) would open a context
    on GPU 0.
    """
    local = os.environ.get("LOCAL_RANK") or (
        os.environ.get("SLURM_LOCALID") if int(os.environ.get("SLURM_NTASKS", "1")) > 1 else None
    )
    if local is None:
        return
    import torch

    if torch.cuda.is_available() and int(local) < torch.cuda.device_count():
        torch.cuda.set_device(int(local))


def _units(jobs: Sequence[EncodeJob], size: int, ranks: int = 1) -> list[tuple[int, int, int]]:
    """``(job, start, stop)`` slices of every job's texts, at most ``size`` texts each, at least ``ranks``.

    Every rank must get a unit (Lightning's distributed sampler refuses a rank with none), so a grid
    with fewer texts than ``ranks`` full units is cut finer, and one with fewer texts than ranks gets
    empty units: those ranks only take over what the others leave.
    """
    total = sum(len(job.texts) for job in jobs)
    size = max(1, min(size, total // max(1, ranks)))
    units = [
        (number, lo, min(lo + size, len(job.texts)))
        for number, job in enumerate(jobs)
        for lo in range(0, len(job.texts), size)
    ]
    if 0 < len(units) < ranks:
        units += [(0, 0, 0)] * (ranks - len(units))
    return units


def _on_device(embedder, device) -> object:
    """The embedder on this rank's device (embedders without devices are used as they are)."""
    current = getattr(embedder, "device", None)
    if current is None or str(current) == str(device):
        return embedder
    return embedder.on_device(str(device))
