"""Validation retrieval during Stage 2: nDCG@10 of the validation queries over their full corpora.

Stage 2's validation loss ranks each query against its own five mined negatives, which says little
about where the positive lands among thousands of documents. :class:`RetrievalMonitor` retrieves
every validation query from its unit's whole corpus with the adapter being trained and scores
nDCG@10 as the evaluation does (linear gain with graded labels, ideal DCG from all labels), each
task the mean over its queries, the monitor the mean over tasks (``overall.ndcg@10``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from era_exp.adapters.modules import adapt
from era_exp.data.schema import Corpus, Query
from era_exp.io import atomic_write

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

    def unit_ndcg(self, adapter: nn.Module, unit: MonitoredUnit) -> Tensor:
        """nDCG@10 of each of ``unit``'s queries, retrieved from its corpus with ``adapter``."""
        scores = adapt(adapter, unit.inputs) @ unit.docs.T
        k = min(CUTOFF, scores.shape[1])
        top = scores.topk(k, dim=1).indices
        dcg = (unit.gains.gather(1, top) * self.discounts[:k]).sum(1)
        return torch.where(unit.ideal > 0, dcg / unit.ideal.clamp_min(1e-12), torch.zeros_like(dcg))

    def per_query(self, adapter: nn.Module) -> dict[str, np.ndarray]:
        """Each task's validation queries' nDCG@10, its units' queries in order."""
        parts: dict[str, list[np.ndarray]] = {}
        for unit in self.units:
            parts.setdefault(unit.task, []).append(self.unit_ndcg(adapter, unit).numpy())
        return {task: np.concatenate(arrays) for task, arrays in parts.items()}

    def per_task(self, adapter: nn.Module) -> Mapping[str, float]:
        """Validation nDCG@10 of each task: the mean over its queries of all its units."""
        totals: dict[str, list[float]] = {}
        for unit in self.units:
            ndcg = self.unit_ndcg(adapter, unit)
            total = totals.setdefault(unit.task, [0.0, 0.0])
            total[0] += float(ndcg.sum())
            total[1] += len(ndcg)
        return {task: total / count for task, (total, count) in totals.items()}

    def __call__(self, adapter: nn.Module) -> float:
        """The mean over tasks of :meth:`per_task`."""
        per_task = self.per_task(adapter)
        value = sum(per_task.values()) / len(per_task)
        return value if math.isfinite(value) else 0.0


class MonitorTrace:
    """Every monitor call's per-query validation nDCG@10, kept to judge selection rules afterwards.

    Stage 2 keeps one epoch for every task, the best on the mean over tasks. Whether another rule
    would retrieve better (each task its own epoch, a fall-back to the starting weights, weights
    shrunk toward them) can be judged from these values alone, e.g. by selecting on one half of each
    task's validation queries and scoring the other (:mod:`era_exp.report.selection`). Besides the
    current weights θ it scores, for each factor α of ``shrink``, the weights ``θ0 + α·(θ − θ0)``,
    θ0 being the weights of the first call (the ones Stage 2 starts from). It changes nothing about
    training or the kept weights. Call ``i`` is epoch ``i − 1`` (call 0: the starting weights).
    """

    def __init__(self, shrink: Sequence[float] = ()) -> None:
        factors = tuple(float(factor) for factor in shrink)
        if any(not 0.0 < factor < 1.0 for factor in factors):
            raise ValueError(f"stage2.trace.shrink factors must lie in (0, 1); got {list(factors)}")
        self.factors = (1.0, *factors)
        self.calls: list[dict[str, np.ndarray]] = []
        self._start: dict[str, Tensor] | None = None

    def watch(self, monitor: RetrievalMonitor) -> TracedMonitor:
        """``monitor`` with every call recorded here first."""
        return TracedMonitor(monitor, self)

    def record(self, monitor: RetrievalMonitor, adapter: nn.Module) -> None:
        """Score ``adapter`` (and its shrunk weights) on every validation query; one call more."""
        state = {name: value.detach().clone() for name, value in adapter.state_dict().items()}
        if self._start is None:
            self._start = state
        rows = [monitor.per_query(adapter)]
        if len(self.factors) > 1:
            probe, start = copy.deepcopy(adapter), self._start
            for factor in self.factors[1:]:
                probe.load_state_dict({k: start[k] + factor * (v - start[k]) for k, v in state.items()})
                rows.append(monitor.per_query(probe))
        self.calls.append({task: np.stack([row[task] for row in rows]) for task in rows[0]})

    def values(self) -> dict[str, np.ndarray]:
        """Each task's trace, shape (calls, factors, queries)."""
        if not self.calls:
            raise ValueError("the Stage-2 trace recorded no monitor call")
        return {task: np.stack([call[task] for call in self.calls]) for task in self.calls[0]}

    def save(self, path: str | Path) -> Path:
        """Write the trace as ``.npz`` (``tasks``, ``factors`` and one array per task), atomically."""
        values = self.values()
        arrays = {f"task_{i}": array.astype(np.float32) for i, array in enumerate(values.values())}
        arrays.update(tasks=np.array(list(values)), factors=np.array(self.factors))

        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                np.savez(handle, **arrays)

        return atomic_write(path, write, what="Stage-2 trace")


class TracedMonitor:
    """A :class:`RetrievalMonitor` whose every call a :class:`MonitorTrace` records first."""

    def __init__(self, monitor: RetrievalMonitor, trace: MonitorTrace) -> None:
        self.monitor, self.trace = monitor, trace
        self.name = monitor.name

    def __call__(self, adapter: nn.Module) -> float:
        self.trace.record(self.monitor, adapter)
        return self.monitor(adapter)


def load_trace(path: str | Path) -> tuple[tuple[float, ...], dict[str, np.ndarray]]:
    """A saved trace: its factors (1.0 first) and each task's array (calls, factors, queries)."""
    with np.load(Path(path)) as data:
        tasks = [str(task) for task in data["tasks"]]
        return tuple(float(f) for f in data["factors"]), {t: data[f"task_{i}"] for i, t in enumerate(tasks)}
