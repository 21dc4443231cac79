"""Every (embedder, text) a sweep's grid points will embed, collected once and encoded once.

Each point is planned with the pipeline's own building blocks (``plan_run``, ``RunEmbeddings`` and
``prefetch``, which follows the stages' and scoring's requests) against a recorder standing in for
the embedding cache, so the texts and their formatting are exactly those the runs will request:
corpora with the document model; scored queries with the query model (trained methods) or the
document model (zero-shot); Stage 1's sampled documents with the query model; Stage 2's train and
validation queries with the query model, and with the document model when it is the teacher.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from era_exp.data.schema import Task
from era_exp.embed.cache import EmbeddingCache
from era_exp.embed.distributed import EncodeJob, EncodeSettings, encode_jobs, shard_of
from era_exp.pipeline.embeddings import RunEmbeddings, prefetch
from era_exp.pipeline.plan import plan_from_config
from era_exp.sweep.grid import compose_grid

log = logging.getLogger(__name__)


@dataclass
class TextRecorder:
    """A stand-in for :class:`EmbeddingCache` that records requested texts instead of encoding them."""

    texts: dict[str, dict[str, None]] = field(default_factory=dict)
    embedders: dict[str, object] = field(default_factory=dict)

    def fill(self, embedder, texts: Sequence[str]) -> None:
        """Remember ``texts`` for ``embedder`` (in first-request order)."""
        self.embedders.setdefault(embedder.identity, embedder)
        self.texts.setdefault(embedder.identity, {}).update(dict.fromkeys(texts))

    def get_or_encode(self, embedder, texts: Sequence[str]) -> np.ndarray:
        """Remember ``texts`` like :meth:`fill`; return a placeholder array."""
        self.fill(embedder, texts)
        return np.zeros((len(texts), 0), dtype=np.float32)


def record_point(cfg: DictConfig, tasks: Sequence[Task], emb: RunEmbeddings) -> None:
    """Ask ``emb`` for every embedding the run ``cfg`` reads: the pipeline's own plan and prefetch."""
    prefetch(plan_from_config(tasks, cfg), emb, cfg)


@dataclass
class EncodingPlan:
    """The distinct texts per embedder (by identity) of a grid, grouped by cache folder."""

    points: int
    recorders: dict[str, TextRecorder]

    @property
    def needed(self) -> int:
        """Distinct (embedder, text) pairs the grid needs."""
        return sum(len(texts) for rec in self.recorders.values() for texts in rec.texts.values())

    def summary(self) -> dict:
        """Counts per cache folder and embedder, for logs and benchmarks."""
        return {
            "points": self.points,
            "needed": self.needed,
            "caches": {
                cache_dir: {identity: len(texts) for identity, texts in rec.texts.items()}
                for cache_dir, rec in self.recorders.items()
            },
        }

    def missing(self) -> dict[str, dict[str, int]]:
        """Texts not on disk yet, per cache folder and embedder (what an encode would still do)."""
        return {
            cache_dir: {
                identity: EmbeddingCache(cache_dir).missing(rec.embedders[identity], list(texts))
                for identity, texts in rec.texts.items()
            }
            for cache_dir, rec in self.recorders.items()
        }


def plan_encoding(overrides: Sequence[str]) -> EncodingPlan:
    """Record the texts of every grid point of ``era-run -m <overrides>``.

    Data sources and embedders are built once per distinct config, so a grid over methods and
    ratios loads each dataset and model once.
    """
    configs = compose_grid(overrides)
    tasks: dict[str, list[Task]] = {}
    embedders: dict[str, object] = {}
    recorders: dict[str, TextRecorder] = {}
    for cfg in configs:
        data_key = OmegaConf.to_yaml(cfg.data)
        if data_key not in tasks:
            tasks[data_key] = instantiate(cfg.data).load()
        recorder = recorders.setdefault(str(cfg.paths.cache_dir), TextRecorder())
        emb = RunEmbeddings(
            recorder, _embedder(embedders, cfg.query_embedder), _embedder(embedders, cfg.doc_embedder)
        )
        record_point(cfg, tasks[data_key], emb)
    return EncodingPlan(points=len(configs), recorders=recorders)


def encoding_jobs(plan: EncodingPlan, shard: tuple[int, int] | None = None) -> list[EncodeJob]:
    """One job per (cache folder, embedder); with ``shard=(index, count)`` only that shard's texts."""
    jobs = []
    for cache_dir, recorder in plan.recorders.items():
        for identity, texts in recorder.texts.items():
            chosen = list(texts) if shard is None else shard_of(list(texts), *shard)
            jobs.append(EncodeJob(cache_dir, recorder.embedders[identity], chosen))
    return jobs


def encode_plan(
    plan: EncodingPlan, settings: EncodeSettings | None = None, shard: tuple[int, int] | None = None
) -> dict | None:
    """Fill each cache with the texts of ``plan`` (or one shard of them), only misses encoded.

    Returns the summary on the process that reports (the only one, or rank 0), ``None`` on others.
    """
    jobs = encoding_jobs(plan, shard)
    report = encode_jobs(jobs, settings or EncodeSettings())
    if report is None:
        return None
    assigned = sum(len(job.texts) for job in jobs)
    # Texts this encode found on disk: assigned minus encoded (per-request hits are in "processes").
    hits = assigned - report.encoded
    log.info("%d texts assigned, %d encoded, %d already on disk", assigned, report.encoded, hits)
    summary = {**plan.summary(), "encoded": report.encoded, "hits": hits, "seconds": report.seconds}
    summary["processes"] = report.ranks
    if shard is not None:
        summary["shard"] = {"index": shard[0], "count": shard[1], "texts": assigned}
    return summary


def _embedder(built: dict[str, object], node: DictConfig):
    """One embedder per distinct config (building one loads its model)."""
    key = OmegaConf.to_yaml(node)
    if key not in built:
        built[key] = instantiate(node)
    return built[key]
