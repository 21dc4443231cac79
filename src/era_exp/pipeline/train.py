"""Run the ERA stages a method asks for and return the trained adapter (or none for zero-shot)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from era_exp import faults
from era_exp.adapters.init import apply_init
from era_exp.adapters.modules import adapt, build_adapter
from era_exp.pipeline.embeddings import RunEmbeddings
from era_exp.pipeline.plan import TaskPlan
from era_exp.pipeline.profiling import phase
from era_exp.stages.adaptation import train_adaptation
from era_exp.stages.alignment import sample_alignment_docs, train_alignment
from era_exp.stages.config import AdaptationConfig, AlignmentConfig, MinerConfig
from era_exp.stages.pairs import PairSet, build_pairs, concat_pairs
from era_exp.stages.teachers import teacher_for

log = logging.getLogger(__name__)


def train_stages(
    plans: Sequence[TaskPlan],
    emb: RunEmbeddings,
    cfg: DictConfig,
    trainer_kwargs: dict | None = None,
    profile: dict | None = None,
) -> tuple[torch.nn.Module | None, dict]:
    """Stage 1 and/or Stage 2 on the training tasks; ``(adapter, report)``.

    Each stage's wall time and peak memory go to ``profile["stage1"]`` / ``profile["stage2"]``.
    """
    profile = {} if profile is None else profile
    method = cfg.method
    if not (method.alignment or method.adaptation):
        return None, {}
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    adapter_kw = {k: v for k, v in OmegaConf.to_container(cfg.adapter).items() if k not in {"kind", "init"}}
    adapter = build_adapter(cfg.adapter.kind, emb.query_model.dim, emb.doc_model.dim, **adapter_kw)
    training = [plan for plan in plans if plan.trains]
    report: dict = {"train_tasks": [plan.task.name for plan in training]}
    if method.alignment:
        with phase(profile, "stage1"):
            stage_kwargs = faults.with_epoch_fault(trainer_kwargs, "stage1.epoch")
            report["alignment"] = _align(adapter, training, emb, cfg, stage_kwargs)
    elif cfg.adapter.init != "none":
        raise ValueError(
            f"adapter.init={cfg.adapter.init} needs alignment pairs; method {method.name} has no Stage 1"
        )
    if method.adaptation:
        with phase(profile, "stage2"):
            stage_kwargs = faults.with_epoch_fault(trainer_kwargs, "stage2.epoch")
            report["adaptation"] = _adapt(adapter, training, emb, cfg, stage_kwargs)
    adapter.eval()
    return adapter, report


def _align(
    adapter, training: Sequence[TaskPlan], emb: RunEmbeddings, cfg: DictConfig, trainer_kwargs
) -> dict:
    """Stage 1 on identical texts: only the sampled documents meet the query model."""
    samples = sample_alignment_docs([plan.task for plan in training], cfg.stage1.samples_per_task, cfg.seed)
    query_parts, doc_parts = [], []
    for corpus, rows in samples:
        query_parts.append(emb.docs_with_query_model([corpus.texts[row] for row in rows]))
        doc_parts.append(np.asarray(emb.corpus(corpus)[rows]))
    queries = torch.from_numpy(np.concatenate(query_parts)).float()
    docs = torch.from_numpy(np.concatenate(doc_parts)).float()
    if cfg.adapter.init != "none":
        apply_init(cfg.adapter.init, adapter, queries, docs)
    config = AlignmentConfig(**OmegaConf.to_container(cfg.stage1))
    result = train_alignment(adapter, queries, docs, config, cfg.seed, trainer_kwargs=trainer_kwargs)
    return {"documents": int(queries.shape[0]), **result}


def _adapt(
    adapter, training: Sequence[TaskPlan], emb: RunEmbeddings, cfg: DictConfig, trainer_kwargs
) -> dict:
    """Stage 2: mine hard negatives with the method's teacher, then InfoNCE with early stopping."""
    teacher = teacher_for(cfg.method.name, emb.query_model.identity, emb.doc_model.identity)
    miner = MinerConfig(**OmegaConf.to_container(cfg.miner))
    parts: dict[str, list[PairSet]] = {"train": [], "val": []}
    for plan in training:
        doc_vecs = emb.corpus(plan.task.corpus)
        for part, queries in (("train", plan.split.train), ("val", plan.split.val)):
            if not queries:
                continue
            query_vecs = torch.from_numpy(emb.queries(queries)).float()
            teacher_vecs = _teacher_vectors(teacher, adapter, queries, query_vecs, emb)
            parts[part].append(
                build_pairs(queries, plan.task.corpus, query_vecs, teacher_vecs, doc_vecs, miner, cfg.seed)
            )
    train, val = concat_pairs(parts["train"]), concat_pairs(parts["val"])
    config = AdaptationConfig(**OmegaConf.to_container(cfg.stage2))
    result = train_adaptation(adapter, train, val, config, cfg.seed, trainer_kwargs=trainer_kwargs)
    return {"teacher": teacher, "train_pairs": len(train), "val_pairs": len(val), **result}


def _teacher_vectors(teacher: str, adapter, queries, query_vecs: Tensor, emb: RunEmbeddings) -> Tensor:
    """Query vectors in the document space that rank candidates for negative mining.

    Called before Stage 2 starts, so ``adapter`` still holds the Stage-1 weights.
    """
    if teacher == "stage1_adapter":
        return adapt(adapter, query_vecs)
    if teacher == "doc_model":
        return torch.from_numpy(emb.queries(queries, model="doc")).float()
    return query_vecs
