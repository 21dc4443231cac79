"""Retrieval and metrics for every evaluation unit of a run, written as TREC run and qrels files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from era_exp.adapters.modules import adapt
from era_exp.evaluate.metrics import evaluate_units
from era_exp.pipeline.embeddings import RunEmbeddings
from era_exp.pipeline.plan import TaskPlan
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
    evaluated, details = {}, {}
    for plan in plans:
        task, queries = plan.task, plan.scored_queries
        if not queries:
            continue
        if adapter is None:
            query_vecs = torch.from_numpy(emb.queries(queries, model="doc")).float()
        else:
            query_vecs = adapt(adapter, torch.from_numpy(emb.queries(queries)).float())
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
        details[task.name] = {"num_queries": len(queries), "eval_split": plan.eval_split}
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
