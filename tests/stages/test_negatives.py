"""Hard-negative mining: never a labelled document, the TopK-PercPos pool rules, back-fill, seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from era_exp.stages import mine_negatives
from era_exp.stages.negatives import top_candidates

N_DOCS, DIM, N_QUERIES = 120, 12, 8


@pytest.fixture
def corpus() -> tuple[torch.Tensor, torch.Tensor, list[int], list[set[int]]]:
    """Documents, teacher queries near their positive, positives and labelled sets (3 per query)."""
    g = torch.Generator().manual_seed(0)
    docs = F.normalize(torch.randn(N_DOCS, DIM, generator=g), dim=-1)
    positives = [5 * i for i in range(N_QUERIES)]
    labelled = [{p, p + 1, (p + 50) % N_DOCS} for p in positives]
    teacher = F.normalize(docs[positives] + 0.4 * torch.randn(N_QUERIES, DIM, generator=g), dim=-1)
    return docs, teacher, positives, labelled


def _reference_pool(teacher, docs, positive, labelled, top_k, margin, pool) -> list[int]:
    scores = teacher @ docs.T
    order = [int(r) for r in scores.argsort(descending=True) if int(r) not in labelled][:top_k]
    threshold = margin * float(scores[positive])
    return [r for r in order if float(scores[r]) < threshold][:pool]


def test_topk_percpos_follows_the_pool_rules(corpus) -> None:
    docs, teacher, positives, labelled = corpus
    negatives = mine_negatives(teacher, docs, positives, labelled, top_k=40, margin=0.95, pool=10, seed=1)
    assert negatives.shape == (N_QUERIES, 5) and negatives.dtype == torch.long
    for i, row in enumerate(negatives.tolist()):
        assert len(set(row)) == 5
        assert not set(row) & labelled[i]
        pool = _reference_pool(teacher[i], docs, positives[i], labelled[i], 40, 0.95, 10)
        assert len(pool) == 10
        assert row[0] == pool[0]  # the hardest candidate is always taken
        assert set(row) <= set(pool)
        positive_score = float(teacher[i] @ docs[positives[i]])
        assert all(float(teacher[i] @ docs[r]) < 0.95 * positive_score for r in row)


def test_short_pool_is_back_filled_with_random_unlabelled_docs(corpus) -> None:
    docs, teacher, positives, labelled = corpus
    negatives = mine_negatives(teacher, docs, positives, labelled, top_k=3, margin=0.95, pool=10, seed=1)
    for i, row in enumerate(negatives.tolist()):
        pool = _reference_pool(teacher[i], docs, positives[i], labelled[i], 3, 0.95, 10)
        assert len(pool) < 5
        if pool:
            assert row[0] == pool[0]
        assert set(pool) <= set(row)
        assert len(set(row)) == 5 and not set(row) & labelled[i]


def test_positive_outside_labelled_set_is_still_excluded(corpus) -> None:
    docs, teacher, positives, _ = corpus
    negatives = mine_negatives(teacher, docs, positives, [set()] * N_QUERIES, strategy="naive_topk")
    assert all(positives[i] not in row for i, row in enumerate(negatives.tolist()))


def test_naive_topk_takes_the_top_unlabelled_docs(corpus) -> None:
    docs, teacher, positives, labelled = corpus
    negatives = mine_negatives(teacher, docs, positives, labelled, strategy="naive_topk", n_negatives=4)
    for i, row in enumerate(negatives.tolist()):
        order = [int(r) for r in (teacher[i] @ docs.T).argsort(descending=True) if int(r) not in labelled[i]]
        assert row == order[:4]


def test_random_strategy_is_unlabelled_distinct_and_seeded(corpus) -> None:
    docs, teacher, positives, labelled = corpus
    first = mine_negatives(teacher, docs, positives, labelled, strategy="random", seed=3)
    again = mine_negatives(teacher, docs, positives, labelled, strategy="random", seed=3)
    other = mine_negatives(teacher, docs, positives, labelled, strategy="random", seed=4)
    assert torch.equal(first, again) and not torch.equal(first, other)
    for i, row in enumerate(first.tolist()):
        assert len(set(row)) == 5 and not set(row) & labelled[i]


def test_mining_is_deterministic_per_seed(corpus) -> None:
    docs, teacher, positives, labelled = corpus
    runs = [mine_negatives(teacher, docs, positives, labelled, top_k=40, seed=s) for s in (7, 7, 8)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_chunked_top_candidates_match_a_full_ranking(corpus) -> None:
    docs, teacher, _, _ = corpus
    scores, rows = top_candidates(teacher, docs, k=15, doc_chunk=7, query_chunk=3)
    full_scores, full_rows = (teacher @ docs.T).topk(15, dim=1)
    torch.testing.assert_close(scores, full_scores)
    assert torch.equal(rows, full_rows)


def test_memmap_documents_give_the_same_negatives(corpus, tmp_path: Path) -> None:
    docs, teacher, positives, labelled = corpus
    path = tmp_path / "docs.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=tuple(docs.shape))
    mm[:] = docs.numpy()
    mm.flush()
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=tuple(docs.shape))
    assert torch.equal(
        mine_negatives(teacher, mm, positives, labelled, top_k=40),
        mine_negatives(teacher, docs, positives, labelled, top_k=40),
    )


def test_tiny_corpus_repeats_its_only_unlabelled_docs() -> None:
    docs = F.normalize(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    negatives = mine_negatives(docs[:1], docs, [0], [{0, 1}], n_negatives=5, top_k=10)
    row = negatives[0].tolist()
    assert len(row) == 5 and set(row) == {2, 3}


def test_fully_labelled_corpus_is_an_error() -> None:
    docs = torch.eye(3)
    with pytest.raises(ValueError, match="query 0: all 3 corpus documents are labelled"):
        mine_negatives(docs[:1], docs, [0], [{0, 1, 2}])


def test_bad_inputs_are_named() -> None:
    docs = torch.eye(3)
    with pytest.raises(ValueError, match="unknown negative strategy"):
        mine_negatives(docs[:1], docs, [0], [{0}], strategy="hardest")
    with pytest.raises(ValueError, match=r"labelled rows \[7\] are outside the corpus"):
        mine_negatives(docs[:1], docs, [0], [{0, 7}])
