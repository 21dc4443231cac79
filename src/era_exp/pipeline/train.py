"""Run the ERA stages a method declares and return the trained adapter (or none for zero-shot).

Every part is built from its config node with ``hydra.utils.instantiate``: the adapter module
(``adapter.module``, a partial completed with the embedders' dimensions) and its init
(``adapter.init``), Stage 1's loss, Stage 2's objective, the miner and the method's teacher.
Stage 1's outcome is reused from ``paths.stage1_dir`` when another run computed it from the same
inputs (``reuse_stage1``; :mod:`era_exp.stages.alignment_store`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from era_exp import faults
from era_exp.config import AdaptationConfig, AlignmentConfig
from era_exp.pipeline.embeddings import RunEmbeddings
from era_exp.pipeline.inputs import adaptation_parts, alignment_samples, method_teacher, training_plans
from era_exp.pipeline.plan import MethodStages, TaskPlan
from era_exp.pipeline.profiling import phase
from era_exp.stages.adaptation import train_adaptation
from era_exp.stages.alignment import alignment_threads, train_alignment
from era_exp.stages.alignment_store import AlignmentStore, Stage1Inputs, device_label
from era_exp.stages.monitor import MonitorTrace, RetrievalMonitor
from era_exp.stages.pairs import PairSet, build_pairs, concat_pairs
from era_exp.stages.trainer import Engine, computing_options, seed_all, stage_device

log = logging.getLogger(__name__)

# Where the Stage-2 report holds the recorded trace (stage2.trace) until the run writes it.
TRACE_KEY = "trace"


def check_buildable(cfg: DictConfig) -> None:
    """Build every part the method's stages will use, so a bad node fails before any data is read."""
    stages = MethodStages.of(cfg.method)
    if not stages.trains:
        return
    _check_inputs(cfg, instantiate(cfg.adapter.module))
    if cfg.adapter.init is not None:
        instantiate(cfg.adapter.init)
    if stages.alignment:
        instantiate(cfg.stage1, _convert_="object")
    if stages.adaptation:
        instantiate(cfg.stage2, _convert_="object")
        instantiate(cfg.method.teacher)
        instantiate(cfg.miner)


def build_adapter_for(cfg: DictConfig, d_query: int, d_doc: int) -> torch.nn.Module:
    """A fresh adapter from ``adapter.module`` for embedders of dimensions ``d_query`` -> ``d_doc``.

    An adapter reading ``query_and_doc`` gets ``d_query + d_doc`` inputs; the module must read what
    ``adapter.inputs`` says, or the run would feed it the wrong vectors.
    """
    d_in = d_query + d_doc if cfg.adapter.inputs == "query_and_doc" else d_query
    return _check_inputs(cfg, instantiate(cfg.adapter.module))(d_in, d_doc)


def _check_inputs(cfg: DictConfig, module: Callable[..., torch.nn.Module]) -> Callable[..., torch.nn.Module]:
    """``module`` (the built ``adapter.module`` partial) if its class reads what ``adapter.inputs`` says."""
    built = getattr(module, "func", module)
    reads = getattr(built, "inputs", "query")
    if reads != cfg.adapter.inputs:
        raise ValueError(
            f"adapter.inputs is {str(cfg.adapter.inputs)!r} but {getattr(built, '__name__', built)} "
            f"(adapter.module) reads {reads!r}: set adapter.inputs to match the module"
        )
    return module


def train_stages(
    plans: Sequence[TaskPlan],
    emb: RunEmbeddings,
    cfg: DictConfig,
    trainer_kwargs: dict | None = None,
    profile: dict | None = None,
    engine: Engine = "loop",
) -> tuple[torch.nn.Module | None, dict]:
    """Stage 1 and/or Stage 2 on the training tasks, on ``engine``; ``(adapter, report)``.

    Each stage's wall time and peak memory go to ``profile["stage1"]`` / ``profile["stage2"]``.
    With ``stage2.trace``, ``report["adaptation"][TRACE_KEY]`` is the recorded
    :class:`~era_exp.stages.monitor.MonitorTrace`, for the run to save.
    """
    profile = {} if profile is None else profile
    stages = MethodStages.of(cfg.method)
    if not stages.trains:
        return None, {}
    seed_all(cfg.seed)
    adapter = build_adapter_for(cfg, emb.query_model.dim, emb.doc_model.dim)
    report: dict = {"train_tasks": [plan.task.name for plan in training_plans(plans)]}
    if stages.alignment:
        with phase(profile, "stage1"):
            stage_kwargs = faults.with_epoch_fault(trainer_kwargs, "stage1.epoch")
            store = stage1_store(cfg, trainer_kwargs)
            report["alignment"] = _align(adapter, plans, emb, cfg, stage_kwargs, engine, store)
    if stages.adaptation:
        with phase(profile, "stage2"):
            stage_kwargs = faults.with_epoch_fault(trainer_kwargs, "stage2.epoch")
            report["adaptation"] = _adapt(adapter, plans, emb, cfg, stage_kwargs, engine)
    adapter.eval()
    return adapter, report


def stage1_store(cfg: DictConfig, trainer_kwargs: dict | None) -> AlignmentStore | None:
    """Where this run reuses and stores Stage-1 outcomes, or None to compute Stage 1 unstored.

    None when ``reuse_stage1`` is off, or when Trainer options that may change what Stage 1
    computes are given (anything beyond loggers and progress output): those are not in the key.
    """
    if not cfg.get("reuse_stage1", True) or computing_options(trainer_kwargs):
        return None
    return AlignmentStore(cfg.paths.stage1_dir)


def _align(
    adapter,
    plans: Sequence[TaskPlan],
    emb: RunEmbeddings,
    cfg: DictConfig,
    trainer_kwargs,
    engine: Engine,
    store: AlignmentStore | None,
) -> dict:
    """Stage 1 on identical texts: only the sampled documents meet the query model.

    With a ``store``, an outcome computed from the same inputs is loaded instead of trained, except
    while a drill arms the ``stage1.epoch`` fault: that run trains (so the kill lands in Stage 1)
    and stores what it computed.
    """
    query_parts, doc_parts = [], []
    for corpus, rows in alignment_samples(plans, cfg):
        query_parts.append(emb.docs_with_query_model([corpus.texts[row] for row in rows]))
        doc_parts.append(np.asarray(emb.corpus(corpus)[rows]))
    docs = torch.from_numpy(np.concatenate(doc_parts)).float()
    queries = torch.from_numpy(np.concatenate(query_parts)).float()
    if cfg.adapter.inputs == "query_and_doc":  # the same texts, seen by the document model too
        queries = torch.cat([queries, docs], dim=1)
    if cfg.adapter.init is not None:
        instantiate(cfg.adapter.init)(adapter, queries, docs)
    settings: AlignmentConfig = instantiate(cfg.stage1, _convert_="object")

    def train() -> dict:
        result = train_alignment(
            adapter, queries, docs, settings, cfg.seed, trainer_kwargs=trainer_kwargs, engine=engine
        )
        return {"documents": int(queries.shape[0]), **result}

    if store is None:
        return {**train(), "reused": False}
    inputs = Stage1Inputs(
        adapter=adapter,
        queries=queries,
        docs=docs,
        settings=OmegaConf.to_container(cfg.stage1, resolve=True),
        seed=int(cfg.seed),
        engine=engine,
        threads=alignment_threads(adapter, settings),
        device=device_label(stage_device()),
    )
    return store.outcome(inputs, train, lookup=not faults.armed("stage1.epoch"))


def _adapt(
    adapter, plans: Sequence[TaskPlan], emb: RunEmbeddings, cfg: DictConfig, trainer_kwargs, engine: Engine
) -> dict:
    """Stage 2: mine hard negatives with the method's teacher, then train with early stopping.

    The teacher vectors are computed before Stage 2 starts, so an adapter teacher holds the
    Stage-1 weights.
    """
    teacher = method_teacher(cfg, emb.symmetric)
    miner = instantiate(cfg.miner)
    inputs = str(cfg.adapter.inputs)
    retrieval = str(cfg.stage2.monitor) == RetrievalMonitor.name
    parts: dict[str, list[PairSet]] = {"train": [], "val": []}
    monitored = []
    for plan in training_plans(plans):
        doc_vecs = emb.corpus(plan.task.corpus)
        for part, queries in adaptation_parts(plan):
            query_vecs = torch.from_numpy(emb.adapter_inputs(queries, inputs)).float()
            teacher_vecs = teacher.vectors(
                adapter, query_vecs, lambda q=queries: torch.from_numpy(emb.queries(q, model="doc")).float()
            )
            parts[part].append(
                build_pairs(
                    queries,
                    plan.task.corpus,
                    query_vecs,
                    teacher_vecs,
                    doc_vecs,
                    miner,
                    cfg.seed,
                    task=plan.task.task,
                )
            )
            if part == "val" and retrieval:
                monitored.append(
                    (plan.task.task, queries, plan.task.corpus, query_vecs, np.asarray(doc_vecs))
                )
    train, val = concat_pairs(parts["train"]), concat_pairs(parts["val"])
    settings: AdaptationConfig = instantiate(cfg.stage2, _convert_="object")
    monitor = RetrievalMonitor.build(monitored) if retrieval else None
    trace: MonitorTrace | None = settings.trace  # the config requires the retrieval monitor with it
    if trace is not None and monitor is not None:
        monitor = trace.watch(monitor)
    result = train_adaptation(
        adapter, train, val, settings, cfg.seed, trainer_kwargs=trainer_kwargs, engine=engine, monitor=monitor
    )
    report = {"teacher": teacher.name, "train_pairs": len(train), "val_pairs": len(val), **result}
    if str(settings.balance) != "none":  # what the weights were computed from (absent: all pairs weigh 1)
        report["train_pairs_per_task"] = dict(Counter(train.tasks))
    return report if trace is None else {**report, TRACE_KEY: trace}
