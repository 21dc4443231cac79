"""Stage 2's retrieval monitor scores nDCG@10 as the evaluation does, and selection can keep the start."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from era_exp.config import AdaptationConfig
from era_exp.data.schema import Corpus, Query
from era_exp.evaluate.metrics import evaluate_units
from era_exp.stages import InfoNCE, RetrievalMonitor, train_adaptation
from helpers.synthetic_pairs import rotation, synthetic_pairs


class _Identity(torch.nn.Module):
    d_out = 8

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.scale * x, dim=-1)


def _task(
    seed: int, n_docs: int = 40, n_queries: int = 15
) -> tuple[list[Query], Corpus, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    docs = F.normalize(torch.randn(n_docs, 8, generator=g), dim=-1)
    corpus = Corpus(
        key=f"c{seed}", ids=tuple(f"d{i}" for i in range(n_docs)), texts=tuple(f"t{i}" for i in range(n_docs))
    )
    queries, vectors = [], []
    for i in range(n_queries):
        relevant = torch.randperm(n_docs, generator=g)[:3].tolist()
        labels = {f"d{relevant[0]}": 2, f"d{relevant[1]}": 1, f"d{relevant[2]}": 1}
        queries.append(Query(qid=f"q{seed}-{i}", instruction="", text="x", labels=labels))
        noise = 0.8 * torch.randn(8, generator=g)
        vectors.append(F.normalize(docs[relevant[0]] + noise, dim=-1))
    return queries, corpus, torch.stack(vectors), docs


def test_the_monitor_matches_the_evaluations_ndcg_at_10() -> None:
    tasks = [("A", *_task(0)), ("B", *_task(1, n_docs=7))]
    monitor = RetrievalMonitor.build([(name, q, c, v.numpy(), d.numpy()) for name, q, c, v, d in tasks])
    per_task = monitor.per_task(_Identity())
    for name, queries, corpus, vectors, docs in tasks:
        scores = vectors @ docs.T
        run = {
            query.qid: {corpus.ids[j]: float(scores[i, j]) for j in range(len(corpus))}
            for i, query in enumerate(queries)
        }
        qrels = {query.qid: dict(query.labels) for query in queries}
        expected = evaluate_units({name: (qrels, run)}, ["ndcg@10"])[name]["ndcg@10"]
        assert abs(per_task[name] - expected) < 1e-5
    assert abs(monitor(_Identity()) - sum(per_task.values()) / 2) < 1e-9


def test_selection_on_the_monitor_keeps_the_start_when_no_epoch_beats_it() -> None:
    mapping = rotation(8, 0.3)
    train, val = synthetic_pairs(64, mapping, seed=0), synthetic_pairs(32, mapping, seed=1)
    adapter = torch.nn.Linear(8, 8)
    adapter.d_out = 8
    start = {k: v.clone() for k, v in adapter.state_dict().items()}
    scores = iter([1.0, 0.5, 0.4, 0.3, 0.2, 0.1])
    settings = AdaptationConfig(lr=1e-2, nominal_epochs=20, patience=3, objective=InfoNCE(0.05, False))
    result = train_adaptation(adapter, train, val, settings, seed=0, monitor=lambda _: next(scores))
    assert result["best_epoch"] == -1 and result["best_monitor"] == 1.0
    assert result["epochs"] == 3 and result["monitor_history"] == [1.0, 0.5, 0.4, 0.3]
    for name, tensor in adapter.state_dict().items():
        torch.testing.assert_close(tensor, start[name])
