"""Retrieval and metrics for every evaluation unit of a run, written as TREC run and qrels files.

A run is scored twice with the same adapter, search and metrics: on its scored queries (the test
split, the numbers a run reports) and on each task's validation queries (what a hyper-parameter
search optimises). The two never mix: validation files go to ``<run>/validation/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from era_exp.adapters.modules import adapt
from era_exp.data.schema import Query
from era_exp.evaluate.aggregate import aggregate
from era_exp.evaluate.metrics import evaluate_units
from era_exp.pipeline.embeddings import RunEmbeddings
from era_exp.pipeline.plan import TaskPlan
from era_exp.pipeline.results import VALIDATION_DIR
from era_exp.retrieve.search import search
from era_exp.retrieve.trec import write_qrels, write_run


def score_tasks(
    plans: Sequence[TaskPlan],
    emb: RunEmbeddings,
    adapter: torch.nn.Module | None,
    cfg: DictConfig,
    out_dir: Path,
) -> dict[str, dict]:
    """Search each unit's corpus with its scored queries and evaluate; ``{unit: metrics}``.

    With an adapter, queries are ``A(Q(instruction ⊕ query))``; without one (zero-shot) the
    document model embeds both sides. A sub-split whose queries all went to training or validation
    scores nothing and is left out (its ``split_sizes`` entry shows ``scored: 0``).
    """
    units = [(plan, plan.scored_queries, plan.eval_split) for plan in plans]
    return _score(units, emb, adapter, cfg, out_dir)


def score_validation(
    plans: Sequence[TaskPlan],
    emb: RunEmbeddings,
    adapter: torch.nn.Module | None,
    cfg: DictConfig,
    out_dir: Path,
) -> dict | None:
    """Score every task's validation queries like the test split; ``None`` when no task has any.

    Returns the test results' shape: ``overall``, ``per_domain``, ``per_task`` and ``per_unit``.
    """
    validated = [plan for plan in plans if plan.validation_queries]
    if not validated:
        return None
    units = [(plan, plan.validation_queries, "val") for plan in validated]
    scored = _score(units, emb, adapter, cfg, out_dir / VALIDATION_DIR)
    return {**summarize(scored, validated, list(cfg.eval.metrics)), "per_unit": scored}


def summarize(units: dict[str, dict], plans: Sequence[TaskPlan], metrics: Sequence[str]) -> dict[str, dict]:
    """Unit metrics folded into ``overall``, ``per_domain`` and ``per_task`` (with each task's domain)."""
    summary = aggregate(
        units,
        {plan.task.name: plan.task.task for plan in plans},
        {plan.task.task: plan.task.domain for plan in plans},
        metrics,
    )
    for plan in plans:
        summary["per_task"][plan.task.task].update(domain=plan.task.domain)
    return summary


def _score(
    units: Sequence[tuple[TaskPlan, Sequence[Query], str]],
    emb: RunEmbeddings,
    adapter: torch.nn.Module | None,
    cfg: DictConfig,
    out_dir: Path,
) -> dict[str, dict]:
    evaluated, details = {}, {}
    for plan, queries, split in units:
        task = plan.task
        if not queries:
            continue
        if adapter is None:
            query_vecs = torch.from_numpy(emb.queries(queries, model="doc")).float()
        else:
            inputs = emb.adapter_inputs(queries, str(cfg.adapter.inputs))
            query_vecs = adapt(adapter, torch.from_numpy(inputs).float())
        scores, rows = search(
            query_vecs,
            emb.corpus(task.corpus),
            k=cfg.eval.k,
            batch_size=cfg.eval.batch_size,
            backend=cfg.eval.backend,
        )
        run = _to_run(queries, task.corpus.ids, scores, rows)
        qrels = {query.qid: dict(query.labels) for query in queries}
        file_name = task.name.replace("/", "__")
        write_run(out_dir / "runs" / f"{file_name}.trec", run)
        write_qrels(out_dir / "qrels" / f"{file_name}.qrels", qrels)
        evaluated[task.name] = (qrels, run)
        details[task.name] = {"num_queries": len(queries), "eval_split": split}
    means = evaluate_units(evaluated, list(cfg.eval.metrics))
    return {unit: {**means[unit], **details[unit]} for unit in evaluated}


def _to_run(
    queries, doc_ids: Sequence[str], scores: np.ndarray, rows: np.ndarray
) -> dict[str, dict[str, float]]:
    return {
        query.qid: {
            doc_ids[row]: float(score) for row, score in zip(rows[i], scores[i], strict=True) if row >= 0
        }
        for i, query in enumerate(queries)
    }
