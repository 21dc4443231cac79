"""Stage 2 pairs: one fixed relevant positive per query, unlabelled negatives, only needed rows read."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

from era_exp.config import MinerConfig
from era_exp.data.schema import Corpus, Query
from era_exp.stages import NegativeMiner, PairSet, build_pairs, concat_pairs
from era_exp.stages.pairs import choose_positive

N_DOCS, D_Q, D_D = 30, 6, 4


def _miner(**settings) -> NegativeMiner:
    """The schema's miner (TopK-PercPos with the paper's settings), ``settings`` overriding it."""
    return instantiate(OmegaConf.merge(OmegaConf.structured(MinerConfig), settings))


def _corpus() -> Corpus:
    ids = tuple(f"d{i}" for i in range(N_DOCS))
    return Corpus("toy-0000", ids, tuple(f"text {i}" for i in ids))


def _queries() -> list[Query]:
    return [
        Query("q0", "find", "a", {"d1": 1, "d2": 2, "d3": 0}),
        Query("q1", "find", "b", {"d4": 1, "missing": 1}),
        Query("q2", "find", "c", {"gone": 1}),  # nothing relevant in the corpus: skipped
        Query("q3", "find", "d", {"d7": 1, "d8": 0, "d9": 0}),
    ]


def _vectors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    docs = F.normalize(torch.randn(N_DOCS, D_D, generator=g), dim=-1)
    return torch.randn(4, D_Q, generator=g), F.normalize(torch.randn(4, D_D, generator=g), dim=-1), docs


def _row_in(rows: torch.Tensor, vector: torch.Tensor) -> int:
    matches = (rows == vector).all(dim=1).nonzero().flatten().tolist()
    assert len(matches) == 1
    return matches[0]


def test_pairs_use_a_relevant_positive_and_unlabelled_negatives(caplog: pytest.LogCaptureFixture) -> None:
    corpus, queries = _corpus(), _queries()
    query_vecs, teacher, docs = _vectors()
    with caplog.at_level(logging.WARNING):
        pairs = build_pairs(
            queries, corpus, query_vecs, teacher, docs, _miner(n_negatives=3, top_k=20), seed=1, task="toy"
        )
    assert "q2" in caplog.text
    assert len(pairs) == 3 and pairs.negatives.shape == (3, 3, D_D)
    assert pairs.tasks == ("toy",) * 3, "every kept pair names its task"
    kept = [queries[i] for i in (0, 1, 3)]
    torch.testing.assert_close(pairs.query, query_vecs[[0, 1, 3]])
    for i, query in enumerate(kept):
        positive = corpus.ids[_row_in(docs, pairs.positive[i])]
        assert query.labels[positive] > 0
        negatives = {corpus.ids[_row_in(docs, v)] for v in pairs.negatives[i]}
        assert len(negatives) == 3 and not negatives & set(query.labels)


def test_memmap_documents_give_equal_pairs(tmp_path: Path) -> None:
    corpus, queries = _corpus(), _queries()
    query_vecs, teacher, docs = _vectors()
    mm = np.memmap(tmp_path / "d.f32", dtype=np.float32, mode="w+", shape=tuple(docs.shape))
    mm[:] = docs.numpy()
    cfg = _miner(n_negatives=3, top_k=20)
    from_tensor = build_pairs(queries, corpus, query_vecs, teacher, docs, cfg, seed=1, task="toy")
    from_memmap = build_pairs(queries, corpus, query_vecs.numpy(), teacher, mm, cfg, seed=1, task="toy")
    for name in ("query", "positive", "negatives"):
        assert torch.equal(getattr(from_tensor, name), getattr(from_memmap, name))


def test_positive_choice_is_seeded_uniform_and_relevant() -> None:
    corpus = _corpus()
    query = Query("q", "", "t", {"d1": 1, "d2": 3, "d3": 0, "elsewhere": 2})
    assert choose_positive(query, corpus, 5) == choose_positive(query, corpus, 5)
    chosen = {choose_positive(query, corpus, seed) for seed in range(40)}
    assert chosen == {corpus.position("d1"), corpus.position("d2")}


def test_no_usable_query_is_an_error() -> None:
    query_vecs, teacher, docs = _vectors()
    with pytest.raises(ValueError, match="none of 1 queries has a relevant document"):
        build_pairs(
            [_queries()[2]], _corpus(), query_vecs[:1], teacher[:1], docs, _miner(), seed=42, task="toy"
        )


def test_concat_and_shape_checks() -> None:
    a = PairSet(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 5, 4))
    b = PairSet(torch.ones(1, 3), torch.ones(1, 4), torch.ones(1, 5, 4))
    both = concat_pairs([a, b])
    assert len(both) == 3 and both.negatives.shape == (3, 5, 4) and not both.tasks
    named = concat_pairs([PairSet(a.query, a.positive, a.negatives, ("A", "A")), PairSet.empty(3, 4, 5)])
    assert named.tasks == ("A", "A"), "an empty set names no task and loses none"
    assert torch.equal(both.query[2], torch.ones(3))
    with pytest.raises(ValueError, match="PairSet needs"):
        PairSet(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="no pair sets"):
        concat_pairs([])


def test_a_query_labelling_its_whole_corpus_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    tiny = Corpus("tiny-0000", ("d0", "d1"), ("text d0", "text d1"))
    everything = Query("q0", "find", "a", {"d0": 1, "d1": 1})
    usable = Query("q1", "find", "b", {"d0": 1})
    query_vecs, teacher, docs = _vectors()
    with caplog.at_level(logging.WARNING):
        pairs = build_pairs(
            [everything, usable], tiny, query_vecs[:2], teacher[:2], docs[:2], _miner(), 1, task="tiny"
        )
    assert "label every one of its 2 documents" in caplog.text and "q0" in caplog.text
    torch.testing.assert_close(pairs.query, query_vecs[[1]])
    assert pairs.negatives.shape == (1, _miner().n_negatives, D_D)
    none_left = build_pairs(
        [everything], tiny, query_vecs[:1], teacher[:1], docs[:2], _miner(), 1, task="tiny"
    )
    assert len(none_left) == 0 and none_left.negatives.shape == (0, _miner().n_negatives, D_D)
