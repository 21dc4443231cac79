"""Exact search agrees across backends and with brute force; TREC files survive ids with spaces."""

from __future__ import annotations

import numpy as np
import pytest

from era_exp.retrieve.search import search
from era_exp.retrieve.trec import decode_id, encode_id, read_qrels, read_run, write_qrels, write_run


def _unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("backend", ["faiss", "torch"])
def test_exact_top_k_matches_brute_force(backend: str) -> None:
    rng = np.random.default_rng(0)
    queries, docs = _unit_rows(rng, 37, 24), _unit_rows(rng, 500, 24)
    scores, rows = search(queries, docs, k=10, batch_size=8, backend=backend)
    brute = queries @ docs.T
    expected = np.argsort(-brute, axis=1)[:, :10]
    assert np.array_equal(rows, expected)
    assert np.allclose(scores, np.take_along_axis(brute, expected, axis=1), atol=1e-5)


def test_k_is_capped_at_corpus_size_and_dims_must_match() -> None:
    rng = np.random.default_rng(1)
    _, rows = search(_unit_rows(rng, 3, 8), _unit_rows(rng, 5, 8), k=100)
    assert rows.shape == (3, 5) and sorted(rows[0]) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="dim"):
        search(_unit_rows(rng, 3, 8), _unit_rows(rng, 5, 9))


def test_trec_round_trip_keeps_ids_with_spaces(tmp_path) -> None:
    run = {"tmdb-001": {"GET /movie/{movie_id}": 0.9, "GET /search/movie": 0.7}, "q 2": {"100%": 0.1}}
    qrels = {"tmdb-001": {"GET /movie/{movie_id}": 1}, "q 2": {"100%": 2}}
    write_run(tmp_path / "r.trec", run)
    write_qrels(tmp_path / "q.qrels", qrels)
    assert read_run(tmp_path / "r.trec") == run
    assert read_qrels(tmp_path / "q.qrels") == qrels
    lines = (tmp_path / "r.trec").read_text().splitlines()
    assert all(len(line.split()) == 6 for line in lines)
    first_tmdb = next(line.split() for line in lines if line.startswith("tmdb-001"))
    assert first_tmdb[2] == "GET%20/movie/{movie_id}" and first_tmdb[3] == "1"
    for identifier in ["a b", "%20", "x\ty%", "plain"]:
        assert decode_id(encode_id(identifier)) == identifier


def test_trec_files_keep_ids_with_any_unicode_whitespace(tmp_path) -> None:
    # Every character str.split or str.splitlines separates on, e.g. a no-break or ideographic space.
    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    assert {"\xa0", "\u3000", "\u2028", "\x1c", "\x85", "\x0b"} <= set(spaces)
    ids = [f"doc{s}{i}" for i, s in enumerate(spaces)]
    run = {
        f"q{s}": {doc: float(f"{1 - i / 100:.2f}") for i, doc in enumerate(ids)} for s in ("\xa0", "\u3000")
    }
    qrels = {qid: {ids[0]: 1, ids[-1]: 2} for qid in run}
    write_run(tmp_path / "r.trec", run)
    write_qrels(tmp_path / "q.qrels", qrels)
    assert read_run(tmp_path / "r.trec") == run
    assert read_qrels(tmp_path / "q.qrels") == qrels
    lines = (tmp_path / "r.trec").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 * len(ids) and all(len(line.split()) == 6 for line in lines)
