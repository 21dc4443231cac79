"""Validation retrieval during Stage 2: nDCG@10 of the validation queries over their full corpora.

Stage 2's validation loss ranks each query against its own five mined negatives, which says little
about where the positive lands among thousands of documents. :class:`RetrievalMonitor` retrieves
every validation query from its unit's whole corpus with the adapter being trained and scores
nDCG@10 as the evaluation does (linear gain with graded labels, ideal DCG from all labels), each
task the mean over its queries, the monitor the mean over tasks (``overall.ndcg@10``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from era_exp.adapters.modules import adapt
from era_exp.data.schema import Corpus, Query

CUTOFF = 10


@dataclass(frozen=True)
class MonitoredUnit:
    """One evaluation unit's validation queries: adapter inputs, corpus vectors and dense labels."""

    task: str
    inputs: Tensor  # (nq, d_in) what the adapter reads
    docs: Tensor  # (nd, dD) the unit's corpus in the document space
    gains: Tensor  # (nq, nd) label score of each document (0 when unlabelled)
    ideal: Tensor  # (nq,) ideal DCG@10 of each query


def unit_labels(queries: Sequence[Query], corpus: Corpus) -> tuple[Tensor, Tensor]:
    """Dense gains (nq, nd) and ideal DCG@10 for ``queries`` over ``corpus``."""
    gains = torch.zeros(len(queries), len(corpus))
    discounts = 1.0 / np.log2(np.arange(CUTOFF) + 2.0)
    ideal = torch.zeros(len(queries))
    for i, query in enumerate(queries):
        for doc, score in query.labels.items():
            if doc in corpus and score > 0:
                gains[i, corpus.position(doc)] = float(score)
        best = sorted((float(s) for s in query.labels.values() if s > 0), reverse=True)[:CUTOFF]
        ideal[i] = float(np.dot(best, discounts[: len(best)]))
    return gains, ideal


class RetrievalMonitor:
    """Mean over tasks of validation nDCG@10 for an adapter (higher is better)."""

    name = "val_ndcg@10"

    def __init__(self, units: Sequence[MonitoredUnit]) -> None:
        units = [unit for unit in units if len(unit.inputs)]
        if not units:
            raise ValueError("the validation retrieval monitor has no validation query to score")
        self.units = units
        self.discounts = torch.tensor(1.0 / np.log2(np.arange(CUTOFF) + 2.0), dtype=torch.float32)

    @classmethod
    def build(
        cls, parts: Sequence[tuple[str, Sequence[Query], Corpus, np.ndarray, np.ndarray]]
    ) -> RetrievalMonitor:
        """From ``(task, queries, corpus, adapter inputs, corpus vectors)`` per evaluation unit."""
        units = []
        for task, queries, corpus, inputs, docs in parts:
            gains, ideal = unit_labels(queries, corpus)
            units.append(
                MonitoredUnit(
                    task,
                    torch.as_tensor(np.asarray(inputs), dtype=torch.float32),
                    torch.as_tensor(np.asarray(docs), dtype=torch.float32),
                    gains,
                    ideal,
                )
            )
        return cls(units)

    def per_task(self, adapter: nn.Module) -> Mapping[str, float]:
        """Validation nDCG@10 of each task: the mean over its queries of all its units."""
        totals: dict[str, list[float]] = {}
        for unit in self.units:
            scores = adapt(adapter, unit.inputs) @ unit.docs.T
            k = min(CUTOFF, scores.shape[1])
            top = scores.topk(k, dim=1).indices
            dcg = (unit.gains.gather(1, top) * self.discounts[:k]).sum(1)
            ndcg = torch.where(unit.ideal > 0, dcg / unit.ideal.clamp_min(1e-12), torch.zeros_like(dcg))
            total = totals.setdefault(unit.task, [0.0, 0.0])
            total[0] += float(ndcg.sum())
            total[1] += len(ndcg)
        return {task: total / count for task, (total, count) in totals.items()}

    def __call__(self, adapter: nn.Module) -> float:
        """The mean over tasks of :meth:`per_task`."""
        per_task = self.per_task(adapter)
        value = sum(per_task.values()) / len(per_task)
        return value if math.isfinite(value) else 0.0
